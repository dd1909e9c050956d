"""Salted commitments for decision records (``attest/commit.go``).

A commitment to content is::

    "sha256:" || hex(SHA-256("tlog/commitment/v1" || 0x00 || salt || content))

with a fresh, uniformly random 32-byte salt per commitment. The salt hides
the content (nobody can test guesses against the public log without it);
the hash binds it. Keep the salt with the content, as private as the
content; to prove a record to an auditor, hand over both.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Tuple, Union

from .errors import CommitmentError

__all__ = ["SALT_SIZE", "commit", "open_commitment", "opens", "new_salt", "commit_new", "is_commitment"]

#: Size of a commitment salt in bytes.
SALT_SIZE = 32

_DOMAIN = b"tlog/commitment/v1\x00"
_COMMITMENT = re.compile(r"sha256:[0-9a-f]{64}\Z")


def _bytes(content: Union[bytes, bytearray, memoryview, str]) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


def new_salt() -> bytes:
    """Return a fresh random 32-byte salt (from ``os.urandom``)."""
    return os.urandom(SALT_SIZE)


def commit(salt: bytes, content: Union[bytes, str]) -> str:
    """Return the commitment ``sha256:<hex>`` to ``content`` under ``salt``
    (32 bytes; a ``str`` content is taken as its UTF-8 bytes). Raises
    ``ValueError`` for a salt of another length."""
    salt = bytes(salt)
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt is {len(salt)} bytes, want {SALT_SIZE}")
    h = hashlib.sha256()
    h.update(_DOMAIN)
    h.update(salt)
    h.update(_bytes(content))
    return "sha256:" + h.hexdigest()


def commit_new(content: Union[bytes, str]) -> Tuple[str, bytes]:
    """Commit to ``content`` under a new salt; return ``(commitment, salt)``."""
    salt = new_salt()
    return commit(salt, content), salt


def is_commitment(s: str) -> bool:
    """Report whether ``s`` has the form of a commitment, ``sha256:`` and 64
    lowercase hex digits."""
    return isinstance(s, str) and _COMMITMENT.match(s) is not None


def open_commitment(commitment: str, salt: bytes, content: Union[bytes, str]) -> None:
    """Check that ``commitment`` commits to ``content`` under ``salt`` (in
    constant time). Returns ``None`` when it does; raises
    :class:`~tlog_ai.errors.CommitmentError` when it does not, or when
    ``commitment`` is not a commitment or the salt is not 32 bytes."""
    if not is_commitment(commitment):
        shown = commitment if len(str(commitment)) <= 80 else str(commitment)[:80] + "…"
        raise CommitmentError(f"{shown!r} is not a commitment (sha256:<64 lowercase hex>)")
    try:
        got = commit(salt, content)
    except ValueError as e:
        raise CommitmentError(str(e)) from None
    if not hmac.compare_digest(got.encode("ascii"), commitment.encode("ascii")):
        raise CommitmentError(f"the content and salt do not open commitment {commitment}")


def opens(commitment: str, salt: bytes, content: Union[bytes, str]) -> bool:
    """Return True when ``commitment`` opens to ``content`` under ``salt``,
    False otherwise (see :func:`open_commitment`)."""
    try:
        open_commitment(commitment, salt, content)
        return True
    except CommitmentError:
        return False
