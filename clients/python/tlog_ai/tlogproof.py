"""Offline proofs of inclusion: c2sp.org/tlog-proof@v1 files.

A file is::

    c2sp.org/tlog-proof@v1
    [extra <base64>]
    index <N>
    <base64 proof hash>        (0 to 64 lines, leaf sibling first)
    <empty line>
    <signed checkpoint note>

Parsing is exactly as strict as Go's ``proofs.ParseTlogProof``: canonical
decimal and base64, 32-byte hashes, at most 64 of them, and a signed note
whose text is a checkpoint. Like the Go parser (and ``proofs.VerifyTlogProof``,
and the cross-language vector ``trailing-newline-after-the-file``),
:func:`parse_tlog_proof` and :func:`verify_tlog_proof` refuse anything after
the note — including the extra newline ``jq -r .tlog_proof`` writes after
the JSON string (the note would then end in a blank line, which
c2sp.org/signed-note does not allow). ``tlog verify`` reads its ``--proof``
file with trailing blank lines trimmed; :func:`load_tlog_proof` reads a
file the same way, and :func:`trim_blank_tail` does it to bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import List, Optional, Union

from .checkpoint import Checkpoint, LogKey, parse_checkpoint, parse_decimal, verify_checkpoint
from .errors import MalformedError, ProofError
from .merkle import leaf_hash, verify_inclusion
from .note import decode_canonical_base64, parse_note

__all__ = [
    "TLOG_PROOF_HEADER",
    "MAX_PROOF_HASHES",
    "TlogProof",
    "VerifiedProof",
    "MalformedProofError",
    "parse_tlog_proof",
    "verify_tlog_proof",
    "trim_blank_tail",
    "load_tlog_proof",
]

#: First line of a c2sp.org/tlog-proof@v1 file.
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
#: Most inclusion proof lines a file may carry (a tree of 2^64 entries needs 64).
MAX_PROOF_HASHES = 64


class MalformedProofError(MalformedError):
    """The bytes are not a c2sp.org/tlog-proof@v1 file."""


@dataclass
class TlogProof:
    """A parsed tlog-proof file: optional opaque ``extra`` (``None`` when
    absent), the entry's ``index``, the inclusion proof ``hashes`` and the
    signed ``checkpoint`` note, verbatim."""

    index: int
    hashes: List[bytes]
    checkpoint: bytes
    extra: Optional[bytes] = None

    def format(self) -> bytes:
        """Return the file's bytes (as Go's ``TlogProof.Format``)."""
        out = [TLOG_PROOF_HEADER.encode("ascii") + b"\n"]
        if self.extra is not None:
            out.append(b"extra " + base64.b64encode(self.extra) + b"\n")
        out.append(b"index %d\n" % self.index)
        for h in self.hashes:
            out.append(base64.b64encode(h) + b"\n")
        out.append(b"\n")
        out.append(self.checkpoint)
        return b"".join(out)


@dataclass
class VerifiedProof:
    """What a verified tlog-proof establishes: the entry is at ``index`` in
    the tree of ``checkpoint`` (verified, with its note bytes)."""

    index: int
    checkpoint: Checkpoint
    hashes: List[bytes] = field(default_factory=list, repr=False)


def trim_blank_tail(b: bytes) -> bytes:
    """Drop newlines from the end of ``b`` while it ends in a blank line,
    as ``tlog verify`` does to the proof file it reads (so that the
    ``jq -r`` output of a receipt's ``tlog_proof`` verifies)."""
    b = bytes(b)
    while b.endswith(b"\n\n"):
        b = b[:-1]
    return b


def load_tlog_proof(path: str) -> bytes:
    """Read a tlog-proof file as ``tlog verify --proof`` does: its bytes,
    with trailing blank lines trimmed (:func:`trim_blank_tail`)."""
    with open(path, "rb") as f:
        return trim_blank_tail(f.read())


def parse_tlog_proof(b: Union[bytes, str]) -> TlogProof:
    """Parse a tlog-proof file without checking any signature (see
    :func:`verify_tlog_proof`). Raises :class:`MalformedProofError`."""
    rest = b.encode("utf-8") if isinstance(b, str) else bytes(b)

    def line() -> Optional[bytes]:
        """The next line without its newline, or None at the end."""
        nonlocal rest
        i = rest.find(b"\n")
        if i < 0:
            return None
        l, rest = rest[:i], rest[i + 1 :]
        return l

    def fail(msg: str) -> MalformedProofError:
        """A parse error."""
        return MalformedProofError(f"malformed tlog-proof: {msg}")

    l = line()
    if l is None or l != TLOG_PROOF_HEADER.encode("ascii"):
        raise fail(f"first line is not {TLOG_PROOF_HEADER!r}")
    l = line()
    if l is None:
        raise fail("no index line")
    extra: Optional[bytes] = None
    if l.startswith(b"extra "):
        try:
            extra = decode_canonical_base64(l[len(b"extra ") :])
        except ValueError as e:
            raise fail(f"extra: {e}") from None
        l = line()
        if l is None:
            raise fail("no index line")
    if not l.startswith(b"index "):
        raise fail(f"want an index line, got {l.decode('utf-8', 'replace')!r}")
    try:
        index = parse_decimal(l[len(b"index ") :].decode("ascii"))
    except (ValueError, UnicodeDecodeError) as e:
        raise fail(f"index: {e}") from None
    hashes: List[bytes] = []
    while True:
        l = line()
        if l is None:
            raise fail("no empty line before the checkpoint")
        if l == b"":
            break
        if len(hashes) == MAX_PROOF_HASHES:
            raise fail(f"more than {MAX_PROOF_HASHES} proof hashes")
        try:
            h = decode_canonical_base64(l)
        except ValueError:
            h = b""
        if len(h) != 32:
            raise fail(f"proof line {len(hashes) + 1}: not a base64 SHA-256 hash")
        hashes.append(h)
    try:
        n = parse_note(rest)
        parse_checkpoint(n.text)
    except MalformedError as e:
        raise fail(f"checkpoint: {e}") from None
    return TlogProof(index=index, hashes=hashes, checkpoint=rest, extra=extra)


def verify_tlog_proof(
    entry: bytes, proof: Union[bytes, str], log_key: Optional[LogKey], policy: Optional[object] = None
) -> VerifiedProof:
    """Verify a tlog-proof file for ``entry`` (its exact bytes), offline.

    The checkpoint must carry a valid signature of ``log_key`` (its origin
    is the key's name) — and, with ``policy`` (a :class:`~tlog_ai.policy.Policy`
    or its text), a quorum of valid witness cosignatures — and the
    inclusion proof must lead from the entry's leaf hash at the proof's
    index to the checkpoint's root. ``log_key`` may be ``None`` when a
    policy is given (any log of the policy then counts), as
    ``tlog verify --policy`` does.

    Raises :class:`MalformedProofError` (not a tlog-proof file),
    :class:`~tlog_ai.errors.SignatureError` /
    :class:`~tlog_ai.errors.QuorumError` (the checkpoint does not verify)
    or :class:`~tlog_ai.errors.ProofError` (the entry is not proven).
    """
    p = parse_tlog_proof(proof)
    cp = verify_checkpoint(p.checkpoint, log_key, policy)  # type: ignore[arg-type]
    if p.index >= cp.size:
        raise ProofError(f"proof does not verify: index {p.index} is not below the checkpoint's tree size {cp.size}")
    verify_inclusion(leaf_hash(entry), p.index, cp.size, p.hashes, cp.root_hash)
    return VerifiedProof(index=p.index, checkpoint=cp, hashes=p.hashes)
