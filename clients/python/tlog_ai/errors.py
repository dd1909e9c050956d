"""Exceptions of the tlog SDK.

The hierarchy separates three different answers a caller must be able to
tell apart:

* :class:`VerificationError` — something was checked and is **wrong**: a
  signature that does not verify, a proof that does not lead to the signed
  root, a receipt for another entry than the one sent.
  :class:`InconsistentError` is the strongest of them: two checkpoints
  signed by the log that cannot both be true (a fork or a rewrite), carried
  as evidence.
* :class:`CouldNotCheckError` — nothing was proven either way: the network
  failed, the log answered 5xx or 429, or it could not produce a proof.
  Retry later; do not treat it as evidence against the log.
* :class:`APIError` — the log answered an HTTP error (4xx for a request it
  refuses). The 5xx and 429 ones are also :class:`CouldNotCheckError`
  (class :class:`UnavailableError`).

:class:`MalformedError` is a :class:`ValueError` for bytes that are not in
the format they claim (a note, a checkpoint, a tlog-proof file, a policy).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

__all__ = [
    "TlogError",
    "MalformedError",
    "InvalidRecordError",
    "VerificationError",
    "SignatureError",
    "QuorumError",
    "ProofError",
    "LeafMismatchError",
    "InconsistentError",
    "CommitmentError",
    "CouldNotCheckError",
    "TransportError",
    "APIError",
    "UnavailableError",
    "ProtocolError",
    "QueueFull",
    "RecordRefused",
    "NotConfirmedError",
]


class TlogError(Exception):
    """Base class of every error raised by this package."""


class MalformedError(TlogError, ValueError):
    """Bytes that are not in the format they should be in (a signed note,
    a checkpoint, a tlog-proof file, a policy, a verifier key)."""


class InvalidRecordError(MalformedError):
    """A decision record the log would refuse (checked locally, with the
    same rules as the Go server's ``attest.Decision.Validate``)."""


class VerificationError(TlogError):
    """A check failed: what was received is not what it claims to be."""


class SignatureError(VerificationError):
    """A signed note has no valid signature by the expected key, or a
    signature by a known key does not verify."""


class QuorumError(VerificationError):
    """A checkpoint's valid witness cosignatures do not meet the policy's
    quorum."""


class ProofError(VerificationError):
    """An inclusion or consistency proof (or a tile) does not lead to the
    signed root it is checked against."""


class LeafMismatchError(VerificationError):
    """The log answered a receipt whose leaf hash (or entry) is not the one
    of the record that was sent: it did not log exactly that record."""


class CommitmentError(VerificationError, ValueError):
    """A salted commitment does not open with the given salt and content,
    or is not a commitment at all."""


class InconsistentError(VerificationError):
    """Two checkpoints signed by the log that cannot both be true: the same
    tree size with another root, or a consistency proof that fails.

    ``kept`` is the signed checkpoint note the client had verified before,
    ``seen`` the one just received; both verify under the log's key, so the
    pair is evidence of a fork or a rewrite of history that anyone holding
    the log's public key can check. The client's state is left unchanged.
    """

    def __init__(self, message: str, kept: bytes, seen: bytes) -> None:
        """Carry both signed checkpoint notes as evidence."""
        super().__init__(message)
        #: The checkpoint note the client kept (already verified).
        self.kept: bytes = kept
        #: The checkpoint note that contradicts it.
        self.seen: bytes = seen


class CouldNotCheckError(TlogError):
    """Nothing could be verified: the log could not be reached, answered
    5xx/429, or could not produce a proof. Not evidence of misbehaviour."""


class TransportError(CouldNotCheckError):
    """A connection error, a timeout, or a response cut short."""


class ProtocolError(CouldNotCheckError):
    """The log answered something that is not what the API promises (not
    JSON, wrong number of receipts). The request may have taken effect."""


class APIError(TlogError):
    """The log answered an HTTP error.

    ``status`` is the HTTP status, ``reason`` the one-line reason of the
    body (``{"error": ...}`` under ``/api/``, plain text elsewhere),
    ``retry_after`` the ``Retry-After`` header in seconds (or ``None``),
    and ``lines`` the rejected lines of an NDJSON batch as
    ``[(line_number, reason), ...]`` (line numbers count from 1).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        retry_after: Optional[float] = None,
        lines: Optional[Sequence[Tuple[int, str]]] = None,
        body: bytes = b"",
    ) -> None:
        """Record the answer's status, reason, Retry-After and refused lines."""
        super().__init__(f"{status}: {reason}")
        self.status: int = status
        self.reason: str = reason
        self.retry_after: Optional[float] = retry_after
        self.lines: List[Tuple[int, str]] = list(lines or [])
        self.body: bytes = body

    @property
    def retryable(self) -> bool:
        """True for answers that say "come back later" (429 and 5xx)."""
        return self.status == 429 or self.status >= 500


class UnavailableError(APIError, CouldNotCheckError):
    """An HTTP 429 or 5xx answer: the log is busy, shutting down, or
    failed; nothing can be concluded from it. Retry after ``retry_after``."""


class QueueFull(TlogError):
    """:meth:`DecisionLogger.log` could not queue a record: the queue is at
    ``max_queue`` (and ``block=False``, or the timeout passed)."""


class RecordRefused(TlogError):
    """The log refused a record for good (HTTP 4xx): it was not logged and
    will not be retried. ``record`` is the record, ``reason`` the log's
    reason, ``status`` the HTTP status, ``line`` its line in the refused
    request (or ``None``)."""

    def __init__(self, record: Any, reason: str, status: int = 400, line: Optional[int] = None) -> None:
        """Name the refused record, the log's reason, status and line."""
        super().__init__(f"record refused ({status}): {reason}")
        self.record: Any = record
        self.reason: str = reason
        self.status: int = status
        self.line: Optional[int] = line


class NotConfirmedError(TlogError):
    """Raised by ``DecisionLogger.__exit__`` when some records were not
    confirmed; ``report`` (a :class:`tlog_ai.logger.Report`) says exactly
    which records were confirmed, which were refused and which are
    unknown."""

    def __init__(self, message: str, report: Any) -> None:
        """Carry the report of the closed logger."""
        super().__init__(message)
        self.report: Any = report
