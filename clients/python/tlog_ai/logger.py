"""A background decision logger for serving loops.

:class:`DecisionLogger` takes decision records from the request path with
:meth:`~DecisionLogger.log` — which only validates the record, builds its
canonical entry and queues it — and logs them from background threads in
NDJSON batches (``POST /api/v1/decisions?receipts=compact``), by count
(``max_batch``) or age (``max_age``).

Retries are safe because the log deduplicates: the same record has the
same canonical bytes, so the same index (``"duplicate": true`` the second
time). The logger retries 503 and 429 answers no earlier than their
``Retry-After`` says (plus jitter), and connection errors, timeouts and
other 5xx with exponential backoff, up to ``max_retries`` attempts or
``deadline`` seconds per batch (unbounded by default). A 400 for a batch is
final for the lines it names: those records are refused (reported with the
log's reason) and the rest of the batch is sent again without them (a
refused batch logs nothing). Other 4xx (401, 403, …) refuse the batch.

Every receipt is checked: its leaf hash must be the hash of the canonical
entry built locally (and full receipts, ``full_receipts=True``, have their
inclusion proof checked against a verified checkpoint; with ``prove=True``
compact receipts are proven in bulk through the log's authenticated hash
tiles). A record is *confirmed* only then.

:meth:`~DecisionLogger.flush` and :meth:`~DecisionLogger.close` return a
:class:`Report` saying exactly which records are confirmed (with their
receipts), which were refused, which failed (given up, or a receipt that
does not verify) and which are still pending.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple

from .client import Client, Receipt
from .decision import MAX_BATCH, prepare_decision
from .errors import (
    APIError,
    CouldNotCheckError,
    NotConfirmedError,
    QueueFull,
    RecordRefused,
    TlogError,
    UnavailableError,
    VerificationError,
)

__all__ = ["DecisionLogger", "Report", "PendingReceipt"]

_log = logging.getLogger("tlog_ai.logger")


@dataclass
class Report:
    """What happened to records.

    ``confirmed``: ``(record, receipt)`` — logged, receipt checked.
    ``refused``: ``(record, RecordRefused)`` — the log refused them for good.
    ``failed``: ``(record, exception)`` — given up (retries or deadline
    exhausted, or a receipt that did not verify): **not confirmed**; they
    may or may not be in the log. ``pending``: records not settled when the
    report was made (still queued or in flight: not confirmed).
    ``confirmed_count`` counts confirmed records even when
    ``keep_results=False`` leaves ``confirmed`` empty.
    """

    confirmed: List[Tuple[Any, Receipt]] = field(default_factory=list)
    refused: List[Tuple[Any, RecordRefused]] = field(default_factory=list)
    failed: List[Tuple[Any, BaseException]] = field(default_factory=list)
    pending: List[Any] = field(default_factory=list)
    confirmed_count: int = 0

    @property
    def ok(self) -> bool:
        """True when every record reported is confirmed."""
        return not (self.refused or self.failed or self.pending)

    def merge(self, other: "Report") -> None:
        """Add ``other``'s records to this report."""
        self.confirmed.extend(other.confirmed)
        self.refused.extend(other.refused)
        self.failed.extend(other.failed)
        self.pending.extend(other.pending)
        self.confirmed_count += other.confirmed_count

    def __repr__(self) -> str:
        return (
            f"Report(confirmed={self.confirmed_count}, refused={len(self.refused)}, "
            f"failed={len(self.failed)}, pending={len(self.pending)})"
        )


_NOT_DONE = object()
_event_lock = threading.Lock()


class PendingReceipt:
    """The future receipt of a queued record (what :meth:`DecisionLogger.log`
    returns): like ``concurrent.futures.Future`` — :meth:`done`,
    :meth:`result`, :meth:`exception`, :meth:`add_done_callback` — but
    light, since a serving loop may hold a hundred thousand of them."""

    __slots__ = ("_value", "_error", "_event", "_callbacks")

    def __init__(self) -> None:
        """A receipt not yet known."""
        self._value: Any = _NOT_DONE
        self._error: Optional[BaseException] = None
        self._event: Optional[threading.Event] = None
        self._callbacks: Optional[List[Callable[["PendingReceipt"], None]]] = None

    def done(self) -> bool:
        """Whether the record is settled (confirmed, refused or failed)."""
        return self._value is not _NOT_DONE

    def _wait(self, timeout: Optional[float]) -> None:
        if self._value is _NOT_DONE:
            with _event_lock:
                if self._event is None:
                    self._event = threading.Event()
                ev = self._event
            if self._value is _NOT_DONE and not ev.wait(timeout):
                raise concurrent.futures.TimeoutError()

    def result(self, timeout: Optional[float] = None) -> Receipt:
        """Wait (at most ``timeout`` seconds, else ``TimeoutError``) and
        return the checked receipt, or raise the record's error
        (:class:`~tlog_ai.errors.RecordRefused`, or what it failed with)."""
        self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[no-any-return]

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """Wait and return the record's error, or ``None`` when confirmed."""
        self._wait(timeout)
        return self._error

    def add_done_callback(self, fn: Callable[["PendingReceipt"], None]) -> None:
        """Call ``fn(self)`` once settled (at once if it already is)."""
        with _event_lock:
            if self._value is _NOT_DONE:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def _set(self, value: Any, error: Optional[BaseException]) -> None:
        with _event_lock:
            self._error = error
            self._value = value
            ev, cbs = self._event, self._callbacks
            self._callbacks = None
        if ev is not None:
            ev.set()
        for fn in cbs or ():
            try:
                fn(self)
            except Exception:
                _log.exception("done callback failed")


class _Item:
    __slots__ = ("seq", "record", "line", "entry", "leaf", "future", "t")

    def __init__(self, seq: int, record: Any, line: bytes, entry: bytes, leaf: bytes, t: float) -> None:
        """A queued record, prepared."""
        self.seq = seq
        self.record = record
        self.line = line
        self.entry = entry
        self.leaf = leaf
        self.future = PendingReceipt()
        self.t = t


class DecisionLogger:
    """Logs decision records in the background, in batches, with retries.

    ``client`` is a :class:`~tlog_ai.client.Client`. ``max_batch`` (≤
    10,000) records or ``max_age`` seconds after the first record queued,
    whichever comes first, make a request. ``max_queue`` bounds the records
    waiting to be sent (``log`` then blocks or raises
    :class:`~tlog_ai.errors.QueueFull`). ``on_receipt(record, receipt)`` is
    called (from a background thread) for every confirmed record, and
    ``on_error(record, exc)`` for every refused or failed one;
    ``receipts_file`` gets one NDJSON line per confirmed record,
    ``{"record": …, "receipt": …}``. ``max_retries`` (attempts after the
    first) and ``deadline`` (seconds from a batch's first attempt) bound
    the retries; ``None`` retries until :meth:`close`'s timeout.
    ``full_receipts=True`` asks for full receipts and checks every
    inclusion proof (slower). ``workers`` requests are in flight at most.
    ``keep_results=False`` keeps only failures for the reports (for long
    runs that use ``on_receipt``). ``max_backoff`` caps the exponential
    backoff, in seconds.

    Compact receipts are not signed: their leaf hash shows the server
    logged exactly this record, not that the server is the log of the
    client's key. ``prove=True`` confirms a record only once its leaf is
    proven in the log's hash tiles against a verified checkpoint
    (:meth:`~tlog_ai.client.Client.prove_receipts`: a few requests per
    batch); ``full_receipts=True`` checks each record's inclusion proof.

    Use it as a context manager: leaving the block closes it, and raises
    :class:`~tlog_ai.errors.NotConfirmedError` (with the report) if some
    records were not confirmed; the last report is in :attr:`report`.
    """

    def __init__(
        self,
        client: Client,
        max_batch: int = 1000,
        max_age: float = 0.5,
        max_queue: int = 100_000,
        on_receipt: Optional[Callable[[Any, Receipt], None]] = None,
        receipts_file: Optional[str] = None,
        max_retries: Optional[int] = None,
        deadline: Optional[float] = None,
        full_receipts: bool = False,
        workers: int = 2,
        on_error: Optional[Callable[[Any, BaseException], None]] = None,
        keep_results: bool = True,
        max_backoff: float = 30.0,
        prove: bool = False,
    ) -> None:
        """See the class documentation."""
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1…{MAX_BATCH}")
        if max_queue < 1 or workers < 1:
            raise ValueError("max_queue and workers must be at least 1")
        self.client = client
        self.max_batch = max_batch
        self.max_age = max_age
        self.max_queue = max_queue
        self.on_receipt = on_receipt
        self.on_error = on_error
        self.max_retries = max_retries
        self.deadline = deadline
        self.full_receipts = full_receipts
        self.keep_results = keep_results
        self.max_backoff = max_backoff
        self.prove = prove
        #: The report of the last :meth:`close` (set by ``close``).
        self.report: Optional[Report] = None
        #: Counters: requests sent, retries, and total seconds slept before retries.
        self.stats: Dict[str, float] = {"requests": 0, "retries": 0, "slept": 0.0, "duplicates": 0}
        self._cond = threading.Condition(threading.Lock())
        self._queue: Deque[_Item] = collections.deque()
        self._unsettled: Dict[int, _Item] = {}
        self._outcomes: List[Tuple[int, str, Any, Any]] = []
        self._confirmed_unreported: List[int] = []  # seqs, when keep_results is False
        self._seq = 0
        self._closing = False
        self._closed_report: Optional[Report] = None
        self._flushing = 0
        self._abort = threading.Event()
        self._receipts_lock = threading.Lock()
        self._receipts = open(receipts_file, "a", encoding="utf-8") if receipts_file else None
        self._threads = [
            threading.Thread(target=self._run, name=f"tlog-decision-logger-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------
    # Producer side

    def log(self, record: Mapping[str, Any], block: bool = True, timeout: Optional[float] = None) -> PendingReceipt:
        """Queue a decision record; return a future of its receipt.

        The record is validated and its canonical entry built now (an
        invalid record raises :class:`~tlog_ai.errors.InvalidRecordError`
        at once and is not queued). With the queue full, ``block=True``
        waits (at most ``timeout`` seconds, then :class:`QueueFull`);
        ``block=False`` raises :class:`QueueFull` at once. The returned
        :class:`PendingReceipt`'s result is the checked
        :class:`~tlog_ai.client.Receipt`, or it raises
        :class:`~tlog_ai.errors.RecordRefused` or the error the record
        failed with. Do not change the record after logging it: reports
        and callbacks hand back the same object.
        """
        line, entry, leaf = prepare_decision(record)
        now = time.monotonic()
        end = None if timeout is None else now + timeout
        with self._cond:
            if self._closing:
                raise TlogError("the DecisionLogger is closed")
            while len(self._queue) >= self.max_queue:
                if not block:
                    raise QueueFull(f"{len(self._queue)} records are waiting to be logged (max_queue {self.max_queue})")
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise QueueFull(f"the queue stayed full for {timeout} s")
                self._cond.wait(left)
                if self._closing:
                    raise TlogError("the DecisionLogger is closed")
            self._seq += 1
            item = _Item(self._seq, record, line, entry, leaf, now)
            self._queue.append(item)
            self._unsettled[item.seq] = item
            n = len(self._queue)
            if n == 1 or n >= self.max_batch:
                # A worker waits for a first record, or for a full batch
                # (else the age of the first record wakes it).
                self._cond.notify_all()
        return item.future

    def qsize(self) -> int:
        """Number of records queued and not yet sent."""
        with self._cond:
            return len(self._queue)

    # ------------------------------------------------------------------
    # Worker side

    def _take_batch(self) -> Optional[List[_Item]]:
        with self._cond:
            while not self._queue:
                if self._closing or self._abort.is_set():
                    return None
                self._cond.wait()
            while len(self._queue) < self.max_batch and not (self._closing or self._flushing or self._abort.is_set()):
                left = self._queue[0].t + self.max_age - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
                if not self._queue:
                    break
            if self._abort.is_set() or not self._queue:
                return None if self._abort.is_set() else []
            n = min(self.max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._cond.notify_all()
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                try:
                    self._send(batch)
                except BaseException as e:  # pragma: no cover - a bug: never lose records silently
                    _log.exception("decision logger worker failed")
                    for it in batch:
                        if it.seq in self._unsettled:
                            self._settle(it, "failed", e)

    def _count(self, name: str, n: float = 1) -> None:
        with self._cond:
            self.stats[name] += n

    def _backoff(self, attempt: int) -> float:
        d = min(self.max_backoff, 0.05 * float(2 ** min(attempt, 20)))
        return d * random.uniform(0.5, 1.0)

    def _send(self, items: List[_Item]) -> None:
        attempt = 0
        t0 = time.monotonic()
        last: Optional[BaseException] = None
        while items:
            if self._abort.is_set():
                return
            delay: Optional[float] = None
            try:
                self._count("requests")
                status, raw = self.client._post_decisions([it.line for it in items], compact=not self.full_receipts)
                checked: Dict[str, Any] = {}
                good: List[Tuple[_Item, Receipt]] = []
                for it, r in zip(items, raw):
                    try:
                        rc = self.client._receipt(r, it.entry, it.leaf, checked, status)
                    except CouldNotCheckError:
                        raise
                    except VerificationError as e:
                        self._settle(it, "failed", e)
                        continue
                    good.append((it, rc))
                if self.prove and good and not self.full_receipts:
                    try:
                        self.client.prove_receipts([rc for _, rc in good])
                    except VerificationError as e:
                        # Not this log's leaves (or not its key): final.
                        for it, _ in good:
                            self._settle(it, "failed", e)
                        return
                for it, rc in good:
                    if rc.duplicate:
                        self._count("duplicates")
                    self._settle(it, "confirmed", rc)
                self._write_receipts()
                return
            except UnavailableError as e:
                last = e
                if e.retry_after is not None:
                    ra = e.retry_after
                    delay = ra + random.uniform(0, min(1.0, 0.1 * ra + 0.05))
                else:
                    delay = self._backoff(attempt)
            except APIError as e:
                last = e
                if e.status == 400 and e.lines:
                    bad = {n for n, _ in e.lines}
                    reasons = dict(e.lines)
                    keep = []
                    for n, it in enumerate(items, 1):
                        if n in bad:
                            self._settle(it, "refused", RecordRefused(it.record, reasons[n], e.status, n))
                        else:
                            keep.append(it)
                    if len(keep) == len(items):  # lines that are not ours: refuse all
                        for it in items:
                            self._settle(it, "refused", RecordRefused(it.record, e.reason, e.status))
                        return
                    items = keep
                    continue  # a refused batch logged nothing: send the rest again
                if e.status == 413 and len(items) > 1:
                    half = len(items) // 2
                    self._send(items[:half])
                    self._send(items[half:])
                    return
                for it in items:
                    self._settle(it, "refused", RecordRefused(it.record, e.reason, e.status))
                return
            except CouldNotCheckError as e:  # connection errors, timeouts, garbled answers
                last = e
                delay = self._backoff(attempt)
            attempt += 1
            elapsed = time.monotonic() - t0
            if (self.max_retries is not None and attempt > self.max_retries) or (
                self.deadline is not None and elapsed + (delay or 0) > self.deadline
            ):
                for it in items:
                    self._settle(it, "failed", last or TlogError("gave up"))
                return
            self._count("retries")
            _log.info("retrying %d records in %.3fs: %s", len(items), delay or 0, last)
            t_sleep = time.monotonic()
            if self._abort.wait(delay or 0):
                return
            self._count("slept", time.monotonic() - t_sleep)

    def _settle(self, it: _Item, kind: str, value: Any) -> None:
        with self._cond:
            if self._unsettled.pop(it.seq, None) is None:
                return
            if kind == "confirmed" and not self.keep_results:
                self._confirmed_unreported.append(it.seq)
            else:
                self._outcomes.append((it.seq, kind, it.record, value))
            self._cond.notify_all()
        if kind == "confirmed":
            it.future._set(value, None)
            if self._receipts is not None:
                line = json.dumps({"record": it.record, "receipt": value.to_json()}, ensure_ascii=False) + "\n"
                with self._receipts_lock:
                    if self._receipts is not None:
                        self._receipts.write(line)
            if self.on_receipt is not None:
                try:
                    self.on_receipt(it.record, value)
                except Exception:  # a callback's failure must not stop logging
                    _log.exception("on_receipt callback failed")
        else:
            it.future._set(None, value)
            if self.on_error is not None:
                try:
                    self.on_error(it.record, value)
                except Exception:
                    _log.exception("on_error callback failed")

    def _write_receipts(self) -> None:
        with self._receipts_lock:
            if self._receipts is not None:
                self._receipts.flush()

    # ------------------------------------------------------------------
    # Reports

    def _report(self, cutoff: int) -> Report:
        """The report of records up to seq ``cutoff`` (under the lock)."""
        rep = Report()
        rest: List[Tuple[int, str, Any, Any]] = []
        for seq, kind, record, value in self._outcomes:
            if seq > cutoff:
                rest.append((seq, kind, record, value))
            elif kind == "confirmed":
                rep.confirmed.append((record, value))
                rep.confirmed_count += 1
            elif kind == "refused":
                rep.refused.append((record, value))
            else:
                rep.failed.append((record, value))
        self._outcomes = rest
        if self._confirmed_unreported:
            keep = [s for s in self._confirmed_unreported if s > cutoff]
            rep.confirmed_count += len(self._confirmed_unreported) - len(keep)
            self._confirmed_unreported = keep
        rep.pending = [it.record for seq, it in self._unsettled.items() if seq <= cutoff]
        return rep

    def flush(self, timeout: Optional[float] = None) -> Report:
        """Send everything queued now and wait (at most ``timeout`` seconds)
        until each of those records is confirmed, refused or failed.
        Returns the report of every record queued up to now that no earlier
        flush reported as settled; records still unsettled at the timeout
        are in ``pending`` (and will be reported again once settled)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            cutoff = self._seq
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._unsettled and next(iter(self._unsettled)) <= cutoff:
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._cond.wait(left)
            finally:
                self._flushing -= 1
            rep = self._report(cutoff)
        self._write_receipts()
        return rep

    def close(self, timeout: Optional[float] = None) -> Report:
        """Stop taking records, log what is queued (waiting at most
        ``timeout`` seconds), stop the background threads and return the
        report of every record not reported by an earlier :meth:`flush`.
        With unbounded retries (``max_retries`` and ``deadline`` both
        ``None``, the default) and no ``timeout``, it waits for as long as
        the log stays unreachable: pass a timeout on shutdown paths.
        Records not confirmed by then are in ``pending``: they were never
        sent, or sent without an answer (the log may have them; logging
        them again later is safe). Calling it again returns the same
        report."""
        with self._cond:
            if self._closed_report is not None:
                return self._closed_report
            self._closing = True
            self._cond.notify_all()
        rep = self.flush(timeout)
        self._abort.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        with self._cond:
            # What settled between the flush and the threads' end; what is
            # still unsettled now stays pending.
            late = self._report(self._seq)
            rep.pending = late.pending
            late.pending = []
            rep.merge(late)
            self._closed_report = rep
        with self._receipts_lock:
            f, self._receipts = self._receipts, None
            if f is not None:
                f.flush()
                f.close()
        self.report = rep
        return rep

    def __enter__(self) -> "DecisionLogger":
        """Return the logger itself."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Close the logger; raise NotConfirmedError when records were not
        confirmed (unless the block is already raising)."""
        rep = self.close()
        if exc_type is None and not rep.ok:
            raise NotConfirmedError(
                f"{len(rep.refused)} records refused, {len(rep.failed)} failed, {len(rep.pending)} not confirmed", rep
            )
