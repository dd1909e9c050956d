"""The tlog HTTP client, with verified state.

:class:`Client` talks to a ``tlog serve`` over HTTP(S) and verifies
everything the log signs before it is used, like immudb's clients:

* it keeps the **last verified signed checkpoint** (in memory, and in
  ``state_file`` when given: the signed note bytes, written atomically —
  temporary file, fsync, ``os.replace``, fsync of the directory);
* every checkpoint it sees (``GET /checkpoint``, the one in a receipt or a
  proof) is verified with the log's key — and the witness policy when one
  is given — and **proven consistent** with the kept one
  (``GET /api/v1/proofs/consistency``) before it is used; a newer
  consistent checkpoint replaces the kept one;
* a contradiction raises :class:`~tlog_ai.errors.InconsistentError` with
  both signed notes as evidence, and leaves the state unchanged; a failure
  that proves nothing (network, 5xx, 429, a proof the log cannot give)
  raises :class:`~tlog_ai.errors.CouldNotCheckError`.

The first checkpoint a client without state sees is trusted on first use
(after its signature, and policy, are checked). Receipts of decision
records are checked against the canonical entry built locally
(:mod:`tlog_ai.decision`), so the client knows the log logged exactly the
record it sent.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import gzip
import http.client
import json
import logging
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .checkpoint import Checkpoint, open_checkpoint, verify_checkpoint
from .decision import MAX_BATCH, prepare_decision
from .errors import (
    APIError,
    CouldNotCheckError,
    InconsistentError,
    LeafMismatchError,
    MalformedError,
    ProofError,
    ProtocolError,
    QuorumError,
    TlogError,
    TransportError,
    UnavailableError,
    VerificationError,
)
from .merkle import EMPTY_ROOT, leaf_hash, root_from_range, subtree_hash, verify_consistency, verify_inclusion
from .note import Verifier
from .policy import Policy, parse_policy
from .tlogproof import TlogProof, verify_tlog_proof

__all__ = ["Client", "Receipt", "Entry", "tile_path", "format_tile_index", "parse_entry_bundle"]

_log = logging.getLogger("tlog_ai.client")
_USER_AGENT = "tlog-ai-python/0.1"
#: Most NDJSON body bytes per request (the log's limit is 32 MiB).
_MAX_BODY = 30 << 20
TILE_WIDTH = 256


def _b64(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise ProtocolError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ProtocolError(f"{what} is not valid base64") from None


def _hash(s: Any, what: str) -> bytes:
    h = _b64(s, what)
    if len(h) != 32:
        raise ProtocolError(f"{what} is not a 32-byte hash")
    return h


def _uint(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ProtocolError(f"{what} is not a non-negative integer")
    return v


def format_tile_index(n: int) -> str:
    """Write a tile index in groups of three digits, all but the last
    prefixed with "x" (c2sp.org/tlog-tiles): 1234067 → ``x001/x234/067``."""
    s = "%03d" % (n % 1000)
    while n >= 1000:
        n //= 1000
        s = "x%03d/" % (n % 1000) + s
    return s


def tile_path(level: Union[int, str], index: int, width: int = TILE_WIDTH) -> str:
    """Return the path of a hash tile (``tile/<L>/<N>[.p/<W>]``) or, with
    ``level="entries"``, of an entry bundle (``tile/entries/<N>[.p/<W>]``)."""
    s = "tile/%s/%s" % (level, format_tile_index(index))
    if width < TILE_WIDTH:
        s += ".p/%d" % width
    return s


def parse_entry_bundle(data: bytes, count: int) -> List[bytes]:
    """Split an entry bundle into its ``count`` entries (each a big-endian
    uint16 length and the bytes). Raises :class:`ProofError` when the bundle
    does not hold exactly ``count`` entries."""
    out: List[bytes] = []
    pos, n = 0, len(data)
    for i in range(count):
        if pos + 2 > n:
            raise ProofError(f"entry bundle ends after {i} of {count} entries")
        ln = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if pos + ln > n:
            raise ProofError(f"entry bundle: entry {i} runs past the end")
        out.append(bytes(data[pos : pos + ln]))
        pos += ln
    if pos != n:
        raise ProofError(f"entry bundle has {n - pos} bytes after its {count} entries")
    return out


@dataclass
class Receipt:
    """A receipt of a logged entry.

    ``index`` is the entry's index (for a duplicate, the original's);
    ``leaf_hash`` its RFC 6962 leaf hash — already checked against the
    entry built locally. Full receipts also carry the ``entry`` bytes, the
    verified ``checkpoint``, the ``inclusion_proof`` hashes (checked against
    it) and the ``tlog_proof`` file; compact ones only index, leaf hash and
    ``duplicate``. ``witnessed`` is set with ``wait=witnessed``.
    ``proven`` says whether the inclusion proof was checked.
    """

    index: int
    leaf_hash: bytes
    duplicate: bool = False
    entry: Optional[bytes] = None
    checkpoint: Optional[Checkpoint] = None
    inclusion_proof: Optional[List[bytes]] = None
    tlog_proof: Optional[bytes] = None
    witnessed: Optional[bool] = None
    proven: bool = False

    def to_json(self) -> Dict[str, Any]:
        """Return the receipt as the log's JSON (byte fields in base64)."""
        d: Dict[str, Any] = {"index": self.index, "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii")}
        if self.duplicate:
            d["duplicate"] = True
        if self.entry is not None:
            d["entry"] = base64.b64encode(self.entry).decode("ascii")
        if self.checkpoint is not None and self.checkpoint.note is not None:
            d["checkpoint"] = self.checkpoint.note.decode("utf-8")
        if self.inclusion_proof is not None and self.checkpoint is not None:
            d["inclusion_proof"] = {
                "index": self.index,
                "tree_size": self.checkpoint.size,
                "leaf_hash": d["leaf_hash"],
                "hashes": [base64.b64encode(h).decode("ascii") for h in self.inclusion_proof],
            }
        if self.tlog_proof is not None:
            d["tlog_proof"] = self.tlog_proof.decode("utf-8")
        if self.witnessed is not None:
            d["witnessed"] = self.witnessed
        return d


@dataclass
class Entry:
    """An entry read from the log, proven: its ``index``, exact ``entry``
    bytes, ``leaf_hash`` (computed locally), ``record`` (the entry decoded,
    for AI entries) and the verified ``checkpoint`` its ``inclusion_proof``
    was checked against."""

    index: int
    entry: bytes
    leaf_hash: bytes
    checkpoint: Checkpoint
    inclusion_proof: List[bytes] = field(default_factory=list)
    record: Optional[Dict[str, Any]] = None


def _load_policy(policy: Union[None, str, bytes, Policy]) -> Optional[Policy]:
    if policy is None or isinstance(policy, Policy):
        return policy
    if isinstance(policy, bytes):
        return parse_policy(policy)
    if "\n" not in policy and os.path.isfile(policy):
        with open(policy, "rb") as f:
            return parse_policy(f.read())
    return parse_policy(policy)


def _load_key(log_key: Union[str, Verifier]) -> Verifier:
    if isinstance(log_key, Verifier):
        return log_key
    try:
        return Verifier.from_key(log_key)
    except MalformedError:
        if os.path.isfile(log_key):
            with open(log_key, "r", encoding="utf-8") as f:
                return Verifier.from_key(f.read())
        raise


def write_file_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: a temporary
    file in the same directory, fsync, ``os.replace``, fsync of the
    directory. A crash leaves either the old or the new file."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


def _retry_after(v: Optional[str]) -> Optional[float]:
    if not v:
        return None
    v = v.strip()
    if v.isdigit():
        return float(v)
    try:
        t = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    if t is None:
        return None
    return max(0.0, t.timestamp() - time.time())


class Client:
    """A client of one tlog log, with verified state.

    ``url`` is the log's base URL (``http://host:port``, a path prefix is
    kept; a bare ``host:port`` means http). ``log_key`` is the log's
    verifier key (``<name>+<id>+<base64>``), or the path of a file holding
    it (``log.pub``). ``state_file`` keeps the last verified signed
    checkpoint across runs. ``policy`` is a c2sp.org/tlog-policy (a
    :class:`~tlog_ai.policy.Policy`, its text, or the path of the file):
    checkpoints must then also carry a quorum of witness cosignatures, and
    the policy must list ``log_key``. ``token`` is a writer's bearer token
    (default: the environment variable ``TLOG_TOKEN``), sent on writes.
    ``timeout`` bounds each HTTP request, in seconds.

    A client is safe to use from several threads.
    """

    def __init__(
        self,
        url: str,
        log_key: Union[str, Verifier],
        state_file: Optional[str] = None,
        policy: Union[None, str, bytes, Policy] = None,
        token: Optional[str] = None,
        timeout: float = 30,
    ) -> None:
        """See the class documentation."""
        if "://" not in url:
            url = "http://" + url
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError(f"log URL {url!r}: want http://host:port or https://host")
        self.url: str = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))
        self.verifier: Verifier = _load_key(log_key)
        self.policy: Optional[Policy] = _load_policy(policy)
        if self.policy is not None and not self.policy.has_log(self.verifier):
            raise ValueError(f"the policy has no log line for the log key {self.verifier}")
        self.state_file: Optional[str] = state_file
        if token is None:
            token = os.environ.get("TLOG_TOKEN")
        self.token: Optional[str] = token.strip() if token else None
        self.timeout: float = timeout
        self._lock = threading.RLock()
        self._kept: Optional[Checkpoint] = None
        self._opener = urllib.request.build_opener()
        if state_file and os.path.exists(state_file):
            with open(state_file, "rb") as f:
                note = f.read()
            if note:
                # The kept checkpoint must verify under the log's key: the
                # file is what later checkpoints are proven against.
                c, _ = open_checkpoint(note, self.verifier)
                self._kept = c

    # ------------------------------------------------------------------
    # HTTP

    def _request(
        self,
        method: str,
        path: str,
        params: Optional[Mapping[str, Any]] = None,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        write: bool = False,
    ) -> Tuple[int, Dict[str, str], bytes]:
        """Send one request; return (status, headers, body) of a 2xx answer.
        Raises APIError/UnavailableError for HTTP errors, TransportError for
        network failures."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: str(v) for k, v in params.items() if v is not None})
        req = urllib.request.Request(url, data=body, method=method)
        req.add_header("User-Agent", _USER_AGENT)
        if content_type:
            req.add_header("Content-Type", content_type)
        if write and self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                data = resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
                status = resp.status
        except urllib.error.HTTPError as e:
            try:
                data = e.read()
            except (OSError, http.client.HTTPException):
                data = b""
            raise self._api_error(e.code, {k.lower(): v for k, v in (e.headers or {}).items()}, data) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, socket.timeout) as e:
            reason = getattr(e, "reason", e)
            raise TransportError(f"{method} {url}: {reason}") from e
        if headers.get("content-encoding", "").lower() == "gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as e:
                raise TransportError(f"{method} {url}: bad gzip body: {e}") from e
        return status, headers, data

    @staticmethod
    def _api_error(status: int, headers: Mapping[str, str], data: bytes) -> APIError:
        reason = data.decode("utf-8", "replace").strip()
        lines: List[Tuple[int, str]] = []
        if data[:1] == b"{":
            try:
                j = json.loads(data)
                reason = str(j.get("error", reason))
                for l in j.get("lines") or []:
                    lines.append((int(l["line"]), str(l["reason"])))
            except (ValueError, TypeError, KeyError, AttributeError):
                pass
        ra = _retry_after(headers.get("retry-after"))
        cls = UnavailableError if (status == 429 or status >= 500) else APIError
        return cls(status, reason, ra, lines, data)

    def _get_json(self, path: str, params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        _, _, data = self._request("GET", path, params)
        try:
            j = json.loads(data)
        except ValueError:
            raise ProtocolError(f"GET {path}: the answer is not JSON") from None
        if not isinstance(j, dict):
            raise ProtocolError(f"GET {path}: the answer is not a JSON object")
        return j

    # ------------------------------------------------------------------
    # Verified state

    @property
    def checkpoint(self) -> Optional[Checkpoint]:
        """The last verified checkpoint kept (``None`` before the first)."""
        with self._lock:
            return self._kept

    def _verify(self, note: bytes, require_policy: bool = True) -> Checkpoint:
        if self.policy is not None and require_policy:
            return verify_checkpoint(note, self.verifier, self.policy)
        c, _ = open_checkpoint(note, self.verifier)
        return c

    def _consistency_proof(self, old: int, new: int) -> List[bytes]:
        try:
            j = self._get_json("/api/v1/proofs/consistency", {"old": old, "new": new})
        except CouldNotCheckError:
            raise
        except APIError as e:
            raise CouldNotCheckError(f"the log could not prove consistency of tree size {old} with {new}: {e}") from e
        if j.get("old_size") != old or j.get("new_size") != new:
            raise ProtocolError(f"asked for the consistency proof of {old} → {new}, got {j.get('old_size')} → {j.get('new_size')}")
        hashes = j.get("hashes")
        if not isinstance(hashes, list):
            raise ProtocolError("consistency proof without hashes")
        return [_hash(h, "consistency proof hash") for h in hashes]

    def _check_consistent(self, kept: Checkpoint, seen: Checkpoint) -> None:
        """Raise InconsistentError unless seen and kept can both be true."""
        assert kept.note is not None and seen.note is not None

        def inconsistent(why: str) -> InconsistentError:
            """The error, with both notes as evidence."""
            return InconsistentError(
                f"the log's checkpoints contradict each other: {why}", kept=kept.note, seen=seen.note  # type: ignore[arg-type]
            )

        if seen.size == kept.size:
            if seen.root_hash != kept.root_hash:
                raise inconsistent(f"two roots for tree size {seen.size}")
            return
        small, big = (kept, seen) if kept.size < seen.size else (seen, kept)
        if small.size == 0:
            if small.root_hash != EMPTY_ROOT:
                raise inconsistent("a checkpoint of the empty tree with a root other than SHA-256(\"\")")
            return
        proof = self._consistency_proof(small.size, big.size)
        try:
            verify_consistency(small.size, big.size, small.root_hash, big.root_hash, proof)
            return
        except ProofError as e:
            failed = e
        # A proof that fails is not evidence by itself (anyone on the path
        # can spoil one). Recompute the smaller tree's root from the larger
        # tree's own tiles, authenticated against its signed root.
        try:
            root = self._root_at(big, small.size)
        except TlogError as te:
            raise inconsistent(
                f"tree size {small.size} is not a prefix of tree size {big.size}: {failed} "
                f"(the log's tiles could not settle it: {te})"
            ) from None
        if root != small.root_hash:
            raise inconsistent(
                f"tree size {small.size} is not a prefix of tree size {big.size}: the tiles of tree size {big.size} "
                f"give root {root.hex()} at size {small.size}, not the signed {small.root_hash.hex()}"
            )
        _log.warning("the log answered a consistency proof of %d → %d that fails (%s), but its tiles show the "
                     "trees are consistent", small.size, big.size, failed)

    def _root_at(self, big: Checkpoint, m: int) -> bytes:
        """The root hash of the first ``m`` entries of ``big``'s tree,
        computed from its hash tiles authenticated against its root."""
        auth = _TileAuth(self, big.size, big.root_hash)
        hashes: List[bytes] = []
        start = 0
        for bit in range(63, -1, -1):
            if not m & (1 << bit):
                continue
            # The perfect subtree of height `bit` covering [start, start + 2^bit).
            tl = bit // 8
            k = bit - 8 * tl
            first = start >> (8 * tl)
            tile = auth.tile(tl, first // TILE_WIDTH)
            off = first % TILE_WIDTH
            hashes.append(subtree_hash([tile[i * 32 : (i + 1) * 32] for i in range(off, off + (1 << k))]))
            start += 1 << bit
        return root_from_range(hashes)

    def _observe(self, note: Union[bytes, str], require_policy: bool = True, update: bool = True) -> Checkpoint:
        """Verify a signed checkpoint and prove it consistent with the kept
        one; keep it when it is newer. Returns the verified checkpoint."""
        raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
        with self._lock:
            kept = self._kept
            if kept is not None and kept.note == raw:
                return kept
            seen = self._verify(raw, require_policy)
            if kept is None:
                if update:
                    self._keep(seen)
                return seen
            self._check_consistent(kept, seen)
            if update and seen.size > kept.size:
                self._keep(seen)
            return seen

    def _keep(self, c: Checkpoint) -> None:
        assert c.note is not None
        if self.state_file:
            write_file_atomic(self.state_file, c.note)
        self._kept = c

    def latest(self) -> Checkpoint:
        """Fetch the log's latest checkpoint (``GET /checkpoint``), verify it
        and prove it consistent with the kept one; return it."""
        _, _, note = self._request("GET", "/checkpoint")
        return self._observe(note)

    def verify_checkpoint(self, note: Union[bytes, str]) -> Checkpoint:
        """Verify a signed checkpoint obtained elsewhere (a receipt kept, a
        gossip peer) like one fetched from the log: signature, policy, and
        consistency with the kept state. Returns it; keeps it when newer."""
        return self._observe(note)

    # ------------------------------------------------------------------
    # Receipts

    def _receipt(
        self,
        raw: Any,
        entry: Optional[bytes],
        leaf: Optional[bytes],
        checked: Dict[str, Checkpoint],
        status: int,
    ) -> Receipt:
        if not isinstance(raw, dict):
            raise ProtocolError("a receipt is not a JSON object")
        r = Receipt(index=_uint(raw.get("index"), "receipt index"), leaf_hash=_hash(raw.get("leaf_hash"), "receipt leaf_hash"))
        r.duplicate = raw.get("duplicate") is True
        if "witnessed" in raw:
            r.witnessed = bool(raw["witnessed"])
        if leaf is not None and r.leaf_hash != leaf:
            raise LeafMismatchError(
                f"receipt for index {r.index} has leaf hash {r.leaf_hash.hex()}, but the record sent has {leaf.hex()}: "
                "the log did not log exactly this record"
            )
        if "entry" in raw:
            r.entry = _b64(raw["entry"], "receipt entry")
            if entry is not None and r.entry != entry:
                raise LeafMismatchError(f"receipt for index {r.index}: the logged entry is not the one sent")
            if leaf_hash(r.entry) != r.leaf_hash:
                raise LeafMismatchError(f"receipt for index {r.index}: leaf hash is not the hash of its entry")
        note = raw.get("checkpoint")
        if note is None:
            return r
        if not isinstance(note, str):
            raise ProtocolError("receipt checkpoint is not a string")
        cp = checked.get(note)
        if cp is None:
            # A 202 of wait=witnessed: the log's own checkpoint, which
            # cannot meet the quorum; verified with the log key alone and
            # proven consistent, but not kept as state.
            unwitnessed = self.policy is not None and status == 202
            cp = self._observe(note, require_policy=not unwitnessed, update=not unwitnessed)
            checked[note] = cp
        r.checkpoint = cp
        ip = raw.get("inclusion_proof")
        if not isinstance(ip, dict):
            raise ProtocolError(f"receipt for index {r.index} has a checkpoint but no inclusion proof")
        if ip.get("index") != r.index or ip.get("tree_size") != cp.size:
            raise ProofError(
                f"receipt for index {r.index}: inclusion proof is for index {ip.get('index')} in tree size "
                f"{ip.get('tree_size')}, not {r.index} in {cp.size}"
            )
        if _hash(ip.get("leaf_hash"), "inclusion proof leaf_hash") != r.leaf_hash:
            raise ProofError(f"receipt for index {r.index}: inclusion proof is for another leaf")
        hashes = ip.get("hashes")
        if not isinstance(hashes, list):
            raise ProtocolError("inclusion proof without hashes")
        r.inclusion_proof = [_hash(h, "inclusion proof hash") for h in hashes]
        verify_inclusion(r.leaf_hash, r.index, cp.size, r.inclusion_proof, cp.root_hash)
        r.proven = True
        tp = raw.get("tlog_proof")
        if tp is not None:
            if not isinstance(tp, str):
                raise ProtocolError("receipt tlog_proof is not a string")
            r.tlog_proof = tp.encode("utf-8")
            # It must be the very proof just checked, as a file.
            want = TlogProof(index=r.index, hashes=r.inclusion_proof, checkpoint=cp.note or b"").format()
            if r.tlog_proof != want:
                raise ProofError(f"receipt for index {r.index}: tlog_proof is not the receipt's proof")
        return r

    def _post_decisions(
        self, lines: Sequence[bytes], compact: bool, witnessed: Optional[bool] = None
    ) -> Tuple[int, List[Any]]:
        """POST one NDJSON batch; return (status, raw receipts). Raises
        APIError, UnavailableError, TransportError or ProtocolError."""
        params: Dict[str, str] = {}
        if compact:
            params["receipts"] = "compact"
        elif witnessed if witnessed is not None else self.policy is not None:
            params["wait"] = "witnessed"
        body = b"\n".join(lines) + b"\n"
        status, _, data = self._request(
            "POST", "/api/v1/decisions", params, body, "application/x-ndjson", write=True
        )
        out: List[Any] = []
        for ln in data.split(b"\n"):
            if ln.strip():
                try:
                    out.append(json.loads(ln))
                except ValueError:
                    raise ProtocolError("a receipt line is not JSON (the records may be logged: retry)") from None
        if len(out) != len(lines):
            raise ProtocolError(f"sent {len(lines)} records, got {len(out)} receipts (the records may be logged: retry)")
        return status, out

    def _check_batch(
        self, prepared: Sequence[Tuple[bytes, bytes, bytes]], raw: Sequence[Any], status: int
    ) -> List[Receipt]:
        checked: Dict[str, Checkpoint] = {}
        return [self._receipt(r, p[1], p[2], checked, status) for p, r in zip(prepared, raw)]

    def log_decision(self, record: Mapping[str, Any], compact: bool = False) -> Receipt:
        """Log one decision record; return its checked receipt.

        The record is validated and its canonical entry built locally; the
        receipt's leaf hash must be that entry's. Full receipts (the
        default) also have their checkpoint verified (and proven consistent
        with the kept one) and their inclusion proof checked; with a
        witness policy the log is asked to wait for a witnessed checkpoint
        (``?wait=witnessed``). ``compact=True`` asks for index and leaf hash
        only.
        """
        line, entry, leaf = prepare_decision(record)
        params: Dict[str, str] = {}
        if compact:
            params["receipts"] = "compact"
        elif self.policy is not None:
            params["wait"] = "witnessed"
        status, _, data = self._request("POST", "/api/v1/decisions", params, line, "application/json", write=True)
        try:
            raw = json.loads(data)
        except ValueError:
            raise ProtocolError("the receipt is not JSON (the record may be logged: retry)") from None
        return self._receipt(raw, entry, leaf, {}, status)

    def log_decisions(self, records: Iterable[Mapping[str, Any]], compact: bool = False) -> List[Receipt]:
        """Log decision records as NDJSON batches (at most 10,000 records
        and 30 MiB a request; longer lists are split); return one checked
        receipt per record, in order. Every receipt's leaf hash must equal
        the hash of the locally built canonical entry; full receipts also
        have their inclusion proof checked against the verified checkpoint.
        A batch is all or nothing on the log's side: a refused batch raises
        :class:`~tlog_ai.errors.APIError` with ``lines`` (numbered from 1
        within that request), and records of earlier batches stay logged.
        """
        prepared: List[Tuple[bytes, bytes, bytes]] = []
        for i, r in enumerate(records):
            try:
                prepared.append(prepare_decision(r))
            except MalformedError as e:
                raise type(e)(f"record {i}: {e}") from None
        out: List[Receipt] = []
        start = 0
        while start < len(prepared):
            end, size = start, 0
            while end < len(prepared) and end - start < MAX_BATCH and size + len(prepared[end][0]) + 1 <= _MAX_BODY:
                size += len(prepared[end][0]) + 1
                end += 1
            chunk = prepared[start:end]
            status, raw = self._post_decisions([p[0] for p in chunk], compact)
            out.extend(self._check_batch(chunk, raw, status))
            start = end
        return out

    def log_access(self, records: Iterable[Mapping[str, Any]]) -> List[Receipt]:
        """Log data-access records (``access/v1``: who read which records,
        for what purpose, under which legal basis) as NDJSON batches of at
        most 10,000; return their receipts, in order. The log validates and
        canonicalizes them; every receipt is a full one, its inclusion
        proof checked against a verified checkpoint, and its entry must
        read as the record sent (the same fields and values, empty optional
        ones left out, ``"kind":"access/v1"`` added)."""
        return self._log_records("/api/v1/access", "access/v1", records)

    def log_evaluations(self, records: Iterable[Mapping[str, Any]]) -> List[Receipt]:
        """Log evaluation records (``evaluation/v1``: a model version's
        metrics on a dataset); checked as :meth:`log_access` checks."""
        return self._log_records("/api/v1/evaluations", "evaluation/v1", records)

    def _log_records(self, path: str, kind: str, records: Iterable[Mapping[str, Any]]) -> List[Receipt]:
        recs = [dict(r) for r in records]
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8") for r in recs]
        out: List[Receipt] = []
        params: Dict[str, str] = {"wait": "witnessed"} if self.policy is not None else {}
        for start in range(0, len(lines), MAX_BATCH):
            chunk = lines[start : start + MAX_BATCH]
            body = b"\n".join(chunk) + b"\n"
            status, _, data = self._request("POST", path, params, body, "application/x-ndjson", write=True)
            raws = [json.loads(ln) for ln in data.split(b"\n") if ln.strip()]
            if len(raws) != len(chunk):
                raise ProtocolError(f"sent {len(chunk)} records, got {len(raws)} receipts (the records may be logged: retry)")
            checked: Dict[str, Checkpoint] = {}
            for i, raw in enumerate(raws):
                r = self._receipt(raw, None, None, checked, status)
                if r.entry is None or r.checkpoint is None:
                    raise ProtocolError(f"record {start + i + 1}: the log answered a receipt without its entry and proof")
                got = json.loads(r.entry)
                if got.pop("kind", None) != kind or got != _without_empty(recs[start + i]):
                    raise LeafMismatchError(f"record {start + i + 1}: the log logged another record than the one sent (index {r.index})")
                out.append(r)
        return out

    def attest(
        self,
        envelope: Union[None, Mapping[str, Any], str, bytes] = None,
        bundle: Union[None, Mapping[str, Any], str, bytes] = None,
        public_key: Optional[str] = None,
        certificate: Optional[str] = None,
        wait_witnessed: Optional[bool] = None,
    ) -> Receipt:
        """Log a model release attestation (``POST /api/v1/attestations``):
        a DSSE ``envelope`` or a Sigstore ``bundle`` (a dict, or its JSON
        text/bytes, sent verbatim), with the signer's PEM ``public_key`` or
        ``certificate``. Returns the receipt, checked: the entry's leaf
        hash, its inclusion proof against the verified checkpoint, its kind
        (model-release/v1) and that its subjects' sha256 digests are those
        of the statement sent (the log builds the entry from the envelope;
        the rest of it is the log's canonical form and is not rebuilt
        here)."""
        if (envelope is None) == (bundle is None):
            raise ValueError("give exactly one of envelope and bundle")
        parts: List[bytes] = []
        for name, v in (("envelope", envelope), ("bundle", bundle)):
            if v is None:
                continue
            raw = v.encode("utf-8") if isinstance(v, str) else bytes(v) if isinstance(v, (bytes, bytearray)) else json.dumps(v).encode("utf-8")
            parts.append(json.dumps(name).encode() + b":" + raw)
            doc = json.loads(raw)
        for name, s in (("public_key", public_key), ("certificate", certificate)):
            if s is not None:
                parts.append(json.dumps(name).encode() + b":" + json.dumps(s).encode())
        body = b"{" + b",".join(parts) + b"}"
        params: Dict[str, str] = {}
        if wait_witnessed if wait_witnessed is not None else self.policy is not None:
            params["wait"] = "witnessed"
        status, _, data = self._request("POST", "/api/v1/attestations", params, body, "application/json", write=True)
        try:
            raw_receipt = json.loads(data)
        except ValueError:
            raise ProtocolError("the receipt is not JSON") from None
        r = self._receipt(raw_receipt, None, None, {}, status)
        if r.entry is None or not r.proven:
            raise ProtocolError("the attestation receipt carries no entry or proof")
        try:
            e = json.loads(r.entry)
        except ValueError:
            raise LeafMismatchError("the logged entry is not JSON") from None
        if not isinstance(e, dict) or e.get("kind") != "model-release/v1":
            raise LeafMismatchError("the logged entry is not a model-release/v1 entry")
        want = _statement_digests(doc if envelope is not None else _bundle_envelope(doc))
        got = sorted(str(s.get("digest", {}).get("sha256")) for s in e.get("subjects") or [] if isinstance(s, dict))
        if want is not None and got != want:
            raise LeafMismatchError(f"the logged entry's subjects {got} are not those of the statement sent {want}")
        return r

    # ------------------------------------------------------------------
    # Reads

    def search(
        self,
        digest: Optional[str] = None,
        model: Optional[str] = None,
        signer: Optional[str] = None,
        system: Optional[str] = None,
        kind: Optional[str] = None,
        limit: Optional[int] = None,
        page_size: int = 100,
        identity: Optional[str] = None,
        actor: Optional[str] = None,
        resource: Optional[str] = None,
        purpose: Optional[str] = None,
        event: Optional[str] = None,
    ) -> Iterator[int]:
        """Iterate over the indices of entries indexed under one term
        (exactly one of ``digest``, ``model``, ``signer``, ``system``,
        ``identity`` — the verified certificate identity of a keyless
        release — and, for access records, ``actor``, ``resource``,
        ``purpose``, ``event`` (also evaluations' ``evaluation_id``)),
        newest first, following ``next_cursor`` page after page (of
        ``page_size``, 1…1000). ``limit`` caps the number of indices
        yielded (``None``: all). ``kind`` is ``model-release/v1`` or
        ``decision/v1``. Search results are **not authenticated** (prove
        each hit with :meth:`entry`)."""
        given = [(k, v) for k, v in (("digest", digest), ("model", model), ("signer", signer), ("system", system), ("identity", identity),
                                     ("actor", actor), ("resource", resource), ("purpose", purpose), ("event", event)) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of digest, model, signer, system, identity, actor, resource, purpose, event")
        params: Dict[str, Any] = {given[0][0]: given[0][1]}
        if kind is not None:
            params["kind"] = kind
        left = limit
        cursor: Optional[str] = None
        while left is None or left > 0:
            page = max(1, min(1000, page_size if left is None else min(page_size, left)))
            q = dict(params, limit=page)
            if cursor is not None:
                q["cursor"] = cursor
            j = self._get_json("/api/v1/search", q)
            results = j.get("results")
            if not isinstance(results, list):
                raise ProtocolError("search answer without results")
            for h in results:
                if not isinstance(h, dict):
                    raise ProtocolError("search result is not an object")
                yield _uint(h.get("index"), "search result index")
                if left is not None:
                    left -= 1
                    if left == 0:
                        return
            nc = j.get("next_cursor")
            if not nc or not results:
                return
            cursor = str(nc)

    def _inclusion(self, index: int, size: int) -> List[bytes]:
        j = self._get_json("/api/v1/proofs/inclusion", {"index": index, "size": size})
        if j.get("index") != index or j.get("tree_size") != size:
            raise ProtocolError(f"asked for the inclusion proof of {index} in {size}, got {j.get('index')} in {j.get('tree_size')}")
        hashes = j.get("hashes")
        if not isinstance(hashes, list):
            raise ProtocolError("inclusion proof without hashes")
        return [_hash(h, "inclusion proof hash") for h in hashes]

    def entry(self, index: int) -> Entry:
        """Fetch entry ``index`` (``GET /api/v1/entries/<i>``) and prove it:
        its leaf hash is computed locally from the bytes, and its inclusion
        proof checked against a verified checkpoint (the one of the answer
        — with a witness policy, the latest witnessed one)."""
        j = self._get_json(f"/api/v1/entries/{int(index)}")
        if j.get("index") != index:
            raise ProtocolError(f"asked for entry {index}, got {j.get('index')}")
        data = _b64(j.get("entry"), "entry")
        leaf = leaf_hash(data)
        ip = j.get("inclusion_proof") or {}
        note = ip.get("checkpoint") if isinstance(ip, dict) else None
        cp: Optional[Checkpoint] = None
        hashes: List[bytes] = []
        if isinstance(note, str) and self.policy is None:
            cp = self._observe(note)
            if ip.get("tree_size") != cp.size or ip.get("index") != index:
                raise ProofError(f"entry {index}: the inclusion proof is not for this entry in this checkpoint")
            hs = ip.get("hashes")
            if not isinstance(hs, list):
                raise ProtocolError("inclusion proof without hashes")
            hashes = [_hash(h, "inclusion proof hash") for h in hs]
        else:
            # With a policy, the answer's checkpoint is the log's own:
            # prove the entry in the latest witnessed one instead.
            cp = self.latest()
            if index >= cp.size:
                raise CouldNotCheckError(f"entry {index} is not yet in a checkpoint that meets the policy (size {cp.size})")
            hashes = self._inclusion(index, cp.size)
        verify_inclusion(leaf, index, cp.size, hashes, cp.root_hash)
        record = j.get("record") if isinstance(j.get("record"), dict) else None
        return Entry(index=index, entry=data, leaf_hash=leaf, checkpoint=cp, inclusion_proof=hashes, record=record)

    def prove(self, index: int, entry: Optional[bytes] = None) -> bytes:
        """Fetch the tlog-proof file of entry ``index``
        (``GET /api/v1/entries/<i>/tlog-proof``) and verify it before
        returning it: its checkpoint (signature, policy, consistency with
        the kept state) and the inclusion of ``entry`` — the entry's bytes,
        fetched and proven with :meth:`entry` when not given."""
        _, _, file = self._request("GET", f"/api/v1/entries/{int(index)}/tlog-proof")
        if entry is None:
            entry = self.entry(index).entry
        vp = verify_tlog_proof(entry, file, self.verifier, self.policy)
        if vp.index != index:
            raise ProofError(f"asked for the proof of entry {index}, got one for {vp.index}")
        self._observe(vp.checkpoint.note or b"")
        return file

    def add(self, entry: bytes) -> int:
        """Log a raw entry (``POST /add``) and return its index, as the log
        answered it (not proven: prove it with :meth:`entry`)."""
        _, _, data = self._request("POST", "/add", None, bytes(entry), "application/octet-stream", write=True)
        first = data.split(b"\n", 1)[0].decode("ascii", "replace")
        if not first.isdigit():
            raise ProtocolError(f"POST /add answered {first!r}, not an index")
        return int(first)

    def prove_receipts(self, receipts: Sequence[Receipt], checkpoint: Optional[Checkpoint] = None) -> Checkpoint:
        """Prove receipts (compact ones included) in bulk: each receipt's
        leaf hash must be the leaf at its index in the level-0 hash tiles,
        authenticated against a verified checkpoint (``checkpoint``, or the
        latest) as :meth:`entries` does — one tile per 256 records, however
        many receipts. A compact receipt is not signed; this is what proves
        it came from the log of this key. Sets each receipt's
        ``checkpoint`` and ``proven``; returns the checkpoint. Raises
        :class:`~tlog_ai.errors.LeafMismatchError` when a leaf differs."""
        if not receipts:
            return checkpoint if checkpoint is not None else self.latest()
        cp = checkpoint if checkpoint is not None else self.latest()
        top = max(r.index for r in receipts)
        if top >= cp.size and checkpoint is None:
            cp = self.latest()
        if top >= cp.size:
            raise CouldNotCheckError(f"index {top} is not in the verified tree of size {cp.size} yet")
        auth = _TileAuth(self, cp.size, cp.root_hash)
        by_tile: Dict[int, List[Receipt]] = {}
        for r in receipts:
            by_tile.setdefault(r.index // TILE_WIDTH, []).append(r)
        for k in sorted(by_tile):
            t = auth.tile(0, k)
            for r in by_tile[k]:
                off = r.index % TILE_WIDTH
                if t[off * 32 : (off + 1) * 32] != r.leaf_hash:
                    raise LeafMismatchError(
                        f"receipt for index {r.index}: the log's leaf there is {t[off * 32:(off + 1) * 32].hex()}, "
                        f"not {r.leaf_hash.hex()}"
                    )
        for r in receipts:
            r.checkpoint = cp
            r.proven = True
        return cp

    def entries(self, start: int = 0, end: Optional[int] = None, checkpoint: Optional[Checkpoint] = None) -> Iterator[Tuple[int, bytes]]:
        """Iterate over ``(index, entry bytes)`` for ``start <= index < end``,
        read from the log's entry bundles (``/tile/entries/<N>[.p/<W>]``)
        and authenticated against a verified checkpoint (``checkpoint``, or
        the latest; ``end`` defaults to its size).

        Authentication: for each bundle the leaf hashes are computed from
        the entries and compared with the level-0 hash tile of the same
        range (``/tile/0/<N>[.p/<W>]``); every hash tile is authenticated
        against the checkpoint's root as c2sp.org/tlog-tiles clients do
        (and as Go's ``proofs.TileHashes``): the partial tiles of the
        tree's right edge must hash to the root, and each full tile must
        hash to its entry in the (authenticated) tile above it. A mismatch
        raises :class:`~tlog_ai.errors.ProofError`.
        """
        cp = checkpoint if checkpoint is not None else self.latest()
        if checkpoint is not None and checkpoint.note is not None:
            cp = self._observe(checkpoint.note)
        size = cp.size
        if end is None:
            end = size
        if start < 0 or end < start:
            raise ValueError(f"bad range [{start}, {end})")
        if end > size:
            raise ValueError(f"end {end} is beyond the verified tree size {size}")
        auth = _TileAuth(self, size, cp.root_hash)
        k = start // TILE_WIDTH
        while k * TILE_WIDTH < end:
            width = min(TILE_WIDTH, size - k * TILE_WIDTH)
            _, _, bundle = self._request("GET", "/" + tile_path("entries", k, width))
            items = parse_entry_bundle(bundle, width)
            hashes = auth.tile(0, k)
            for i, e in enumerate(items):
                if leaf_hash(e) != hashes[i * 32 : (i + 1) * 32]:
                    raise ProofError(f"entry {k * TILE_WIDTH + i} of bundle {k} does not hash to its leaf in tile 0/{k}")
            lo = max(start, k * TILE_WIDTH)
            hi = min(end, k * TILE_WIDTH + width)
            for idx in range(lo, hi):
                yield idx, items[idx - k * TILE_WIDTH]
            k += 1


def _bundle_envelope(bundle: Any) -> Any:
    if isinstance(bundle, dict):
        return bundle.get("dsseEnvelope") or bundle.get("dsse_envelope")
    return None


def _statement_digests(envelope: Any) -> Optional[List[str]]:
    """The sorted sha256 subject digests of the in-toto statement in a DSSE
    envelope, or None when it cannot be read (the log would refuse it)."""
    try:
        payload = base64.b64decode(envelope["payload"])
        st = json.loads(payload)
        return sorted(str(s["digest"]["sha256"]) for s in st["subject"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


class _TileAuth:
    """Hash tiles of the tree of one size, authenticated against its root."""

    def __init__(self, client: Client, size: int, root: bytes) -> None:
        """Tiles of the tree of ``size`` entries and root hash ``root``."""
        self.client = client
        self.size = size
        self.root = root
        self._cache: Dict[Tuple[int, int], bytes] = {}
        self._edge_done = False

    def _level_size(self, level: int) -> int:
        return self.size >> (8 * level)

    def _width(self, level: int, n: int) -> int:
        return min(TILE_WIDTH, self._level_size(level) - n * TILE_WIDTH)

    def _fetch(self, level: int, n: int) -> bytes:
        w = self._width(level, n)
        _, _, data = self.client._request("GET", "/" + tile_path(level, n, w))
        if len(data) != w * 32:
            raise ProofError(f"{tile_path(level, n, w)} is {len(data)} bytes, want {w * 32}")
        return data

    def _edge(self) -> None:
        levels = []
        level = 0
        while self._level_size(level) > 0:
            levels.append(level)
            level += 1
        edge: List[bytes] = []
        for level in reversed(levels):
            w = self._level_size(level) % TILE_WIDTH
            if w == 0:
                continue
            n = self._level_size(level) // TILE_WIDTH
            data = self._fetch(level, n)
            start = 0
            for k in range(7, -1, -1):
                if w & (1 << k):
                    run = [data[i * 32 : (i + 1) * 32] for i in range(start, start + (1 << k))]
                    edge.append(subtree_hash(run))
                    start += 1 << k
            self._cache[(level, n)] = data
        root = root_from_range(edge)
        if root != self.root:
            raise ProofError(f"the tiles of the right edge of tree size {self.size} give root {root.hex()}, not {self.root.hex()}")
        self._edge_done = True

    def tile(self, level: int, n: int) -> bytes:
        """Return the authenticated hash tile ``n`` of ``level``."""
        if not self._edge_done:
            self._edge()
        t = self._cache.get((level, n))
        if t is not None:
            return t
        data = self._fetch(level, n)
        if len(data) != TILE_WIDTH * 32:  # only right-edge tiles are partial
            raise ProofError(f"tile {level}/{n} should be full")
        parent = self.tile(level + 1, n // TILE_WIDTH)
        e = n % TILE_WIDTH
        h = subtree_hash([data[i * 32 : (i + 1) * 32] for i in range(TILE_WIDTH)])
        if parent[e * 32 : (e + 1) * 32] != h:
            raise ProofError(f"tile {level}/{n} does not hash to entry {e} of tile {level + 1}/{n // TILE_WIDTH}")
        if level > 0:
            self._cache[(level, n)] = data
        return data


def _without_empty(v: Any) -> Any:
    """v with the members the log's canonical form leaves out (empty
    strings, lists and objects; nulls) removed, recursively."""
    if isinstance(v, dict):
        out = {k: _without_empty(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in ("", None, [], {})}
    if isinstance(v, list):
        return [_without_empty(x) for x in v]
    return v
