"""Checkpoints (c2sp.org/tlog-checkpoint) and their verification.

A checkpoint is the text of a signed note: the log's origin line, the tree
size in decimal, the base64 RFC 6962 root hash, and optional extension
lines. Parsing is as strict as Go's ``signer.ParseCheckpoint``: canonical
decimal (no leading zeros), canonical base64 of exactly 32 bytes, no empty
lines, text ending in a newline.

:func:`verify_checkpoint` checks a signed checkpoint note against the log's
verifier key (``signer.OpenCheckpoint``: a valid signature by that key and
an origin equal to its name) and, when a policy is given, against a
c2sp.org/tlog-policy (``signer.Policy.Check``: the log's signature and a
quorum of valid witness cosignatures).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

from .errors import MalformedError, SignatureError
from .note import Note, Verifier, decode_canonical_base64, open_note

if TYPE_CHECKING:  # pragma: no cover
    from .policy import Policy

__all__ = ["Checkpoint", "parse_checkpoint", "parse_decimal", "verify_checkpoint", "LogKey"]

#: A log key given as its verifier key string or a parsed :class:`Verifier`.
LogKey = Union[str, Verifier]


def parse_decimal(s: str) -> int:
    """Parse an ASCII decimal uint64 with no sign and no leading zeros
    (except "0"), the form of sizes and indices in C2SP formats. Raises
    ``ValueError``."""
    if not s or len(s) > 20 or (len(s) > 1 and s[0] == "0") or any(c not in "0123456789" for c in s):
        raise ValueError(f"{s!r} is not a canonical decimal")
    n = int(s)
    if n >= 1 << 64:
        raise ValueError(f"{s!r} is out of range")
    return n


@dataclass
class Checkpoint:
    """A checkpoint: ``origin``, tree ``size``, ``root_hash`` (32 bytes) and
    ``extensions`` (lines without their newline). A verified checkpoint
    also carries ``note``, the signed note bytes exactly as received, and
    ``signatures``, the verified signatures (the log's, and the witness
    cosignatures when checked against a policy)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: List[str] = field(default_factory=list)
    note: Optional[bytes] = None
    signatures: List["object"] = field(default_factory=list)

    def text(self) -> str:
        """Return the note text: origin, size, base64 root, extension lines."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")] + list(self.extensions)
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Checkpoint(origin={self.origin!r}, size={self.size}, root_hash={self.root_hash.hex()})"


def parse_checkpoint(text: Union[str, bytes]) -> Checkpoint:
    """Parse checkpoint note text (not a signed note: see
    :func:`verify_checkpoint`). Raises :class:`MalformedError`."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("malformed checkpoint: invalid UTF-8") from None
    if not text.endswith("\n"):
        raise MalformedError("malformed checkpoint: text does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("malformed checkpoint: want origin, size and root hash lines")
    origin = lines[0]
    if origin == "":
        raise MalformedError("malformed checkpoint: empty origin")
    try:
        size = parse_decimal(lines[1])
    except ValueError as e:
        raise MalformedError(f"malformed checkpoint: tree size: {e}") from None
    try:
        root = decode_canonical_base64(lines[2])
    except ValueError:
        root = b""
    if len(root) != 32:
        raise MalformedError("malformed checkpoint: root hash is not 32 bytes of base64")
    ext = lines[3:]
    for x in ext:
        if x == "":
            raise MalformedError("malformed checkpoint: empty extension line")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=list(ext))


def _as_verifier(log_key: LogKey) -> Verifier:
    if isinstance(log_key, Verifier):
        return log_key
    return Verifier.from_key(log_key)


def open_checkpoint(note: Union[bytes, str], log_key: LogKey) -> Tuple[Checkpoint, Note]:
    """Verify a signed checkpoint with the log's key alone (Go's
    ``signer.OpenCheckpoint``) and return it with its parsed note; witness
    cosignatures are left in ``note.unverified_sigs``."""
    v = _as_verifier(log_key)
    raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
    n = open_note(raw, [v])
    c = parse_checkpoint(n.text)
    if c.origin != v.name:
        raise MalformedError(f"malformed checkpoint: origin {c.origin!r} is not the key name {v.name!r}")
    c.note = raw
    c.signatures = list(n.sigs)
    return c, n


def verify_checkpoint(
    note: Union[bytes, str], log_key: Optional[LogKey], policy: Optional["Policy"] = None
) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint.

    Without ``policy``: the note must carry a valid signature by
    ``log_key`` (a verifier key string or :class:`Verifier`) and its origin
    must be the key's name. With ``policy`` (a :class:`~tlog_ai.policy.Policy`
    or its text): the note must also pass the policy — a valid signature of
    one of its logs and valid cosignatures meeting its quorum; when
    ``log_key`` is given too, that log must be the one that signed.

    Raises :class:`SignatureError`, :class:`~tlog_ai.errors.QuorumError` or
    :class:`MalformedError`.
    """
    raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
    if policy is None:
        if log_key is None:
            raise ValueError("verify_checkpoint needs log_key or policy")
        c, _ = open_checkpoint(raw, log_key)
        return c
    from .policy import Policy, parse_policy

    p = policy if isinstance(policy, Policy) else parse_policy(policy)
    c, n = p.check(raw)
    if log_key is not None:
        v = _as_verifier(log_key)
        if c.origin != v.name or not any(s.name == v.name and s.key_hash == v.key_hash for s in n.sigs):
            raise SignatureError(f"checkpoint is not signed by the log key {v}")
    return c
