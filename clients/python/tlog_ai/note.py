"""Signed notes (c2sp.org/signed-note) and their keys.

A signed note is UTF-8 text ending in a newline, a blank line, and one or
more signature lines ``— <key name> <base64(4-byte key ID || signature)>``.
The key ID is the first four bytes of
``SHA-256(name || "\\n" || type || public key)``; a verifier key is written
``<name>+<hex8 key ID>+<base64(type || public key)>``.

Two key types are supported, as in the Go log (``signer/``):

* ``0x01`` — Ed25519 over the note text (the log's own key);
* ``0x04`` — c2sp.org/tlog-cosignature v1: a witness's timestamped
  Ed25519 cosignature. The signature is an 8-byte big-endian Unix time
  ``T`` and 64 bytes of Ed25519 over
  ``"cosignature/v1\\ntime <T>\\n" || checkpoint text``.

Parsing follows ``signer.ParseNote`` exactly (and is as strict: canonical
base64 only, at most 100 signatures, repeated lines dropped), and
verification follows ``signer.OpenNote``: signatures of unknown keys are
kept unverified, a failing signature of a known key rejects the note, and
at least one known key must have signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Type, TypeVar, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import MalformedError, SignatureError

__all__ = [
    "ALG_ED25519",
    "ALG_COSIGNATURE_V1",
    "MAX_NOTE_SIGNATURES",
    "Signature",
    "Note",
    "Verifier",
    "CosignatureVerifier",
    "NoteSigner",
    "Cosigner",
    "key_hash",
    "parse_note",
    "open_note",
    "parse_verifier_key",
    "verify_cosignature",
    "cosigned_message",
    "decode_canonical_base64",
]

#: Key type of a plain Ed25519 note signature.
ALG_ED25519 = 0x01
#: Key type of a c2sp.org/tlog-cosignature v1 witness cosignature.
ALG_COSIGNATURE_V1 = 0x04
#: Most signature lines a note may carry (as x/mod's note.Open).
MAX_NOTE_SIGNATURES = 100

_EM_DASH_PREFIX = "\u2014 "

# Go's unicode.IsSpace: the White_Space property.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def key_hash(name: str, typed_key: bytes) -> int:
    """Return the key ID of c2sp.org/signed-note, the first four bytes of
    SHA-256(name || "\\n" || type || public key), as a big-endian int."""
    h = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes(typed_key)).digest()
    return int(struct.unpack(">I", h[:4])[0])


def is_valid_name(name: str) -> bool:
    """Report whether ``name`` is a valid key name: non-empty, no Unicode
    space (as Go's ``unicode.IsSpace``), no control character, no '+'."""
    if not name or "+" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(c in _GO_SPACES or ord(c) < 0x20 for c in name)


def decode_canonical_base64(s: Union[str, bytes]) -> bytes:
    """Decode standard base64 and insist on its canonical spelling (padding
    present, unused bits zero, no line breaks), as the Go log does so that
    parse → format gives back the same bytes. Raises ``ValueError``."""
    if isinstance(s, str):
        try:
            raw = s.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("not base64") from None
    else:
        raw = bytes(s)
    try:
        b = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if base64.b64encode(b) != raw:
        raise ValueError("not canonical base64")
    return b


def _check_chars(text: str) -> None:
    for c in text:
        if ord(c) < 0x20 and c != "\n":
            raise MalformedError(f"malformed signed note: control character {hex(ord(c))}")


def _decode_utf8(b: bytes) -> str:
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("malformed signed note: invalid UTF-8") from None


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key name, key ID and the signature
    bytes (without the 4-byte key ID)."""

    name: str
    key_hash: int
    sig: bytes

    def line(self) -> str:
        """Return the signature line, ``"— <name> <base64(keyID || sig)>\\n"``."""
        b = struct.pack(">I", self.key_hash) + self.sig
        return _EM_DASH_PREFIX + self.name + " " + base64.b64encode(b).decode("ascii") + "\n"

    def timestamp(self) -> int:
        """Return the signed Unix time of a cosignature/v1 signature."""
        if len(self.sig) != 72:
            raise MalformedError(f"malformed signed note: a cosignature is 72 bytes, not {len(self.sig)}")
        return int(struct.unpack(">Q", self.sig[:8])[0])


@dataclass
class Note:
    """A parsed signed note. ``text`` ends in a newline; ``sigs`` are the
    signatures verified by known keys, ``unverified_sigs`` those of keys
    that were not given (not checked)."""

    text: str
    sigs: List[Signature] = field(default_factory=list)
    unverified_sigs: List[Signature] = field(default_factory=list)


def parse_note(msg: Union[bytes, str]) -> Note:
    """Split a signed note into text and signatures without verifying
    anything: every signature lands in ``unverified_sigs`` (exact repeats
    dropped). Strict as ``signer.ParseNote``. Raises :class:`MalformedError`."""
    if isinstance(msg, str):
        s = msg
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedError("malformed signed note: invalid UTF-8") from None
    else:
        s = _decode_utf8(msg)
    _check_chars(s)
    split = s.rfind("\n\n")
    if split < 0:
        raise MalformedError("malformed signed note: no blank line before the signatures")
    text, sigs = s[: split + 1], s[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise MalformedError("malformed signed note: signature block must be non-empty and end in a newline")
    note = Note(text=text)
    seen = set()
    count = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_EM_DASH_PREFIX):
            raise MalformedError("malformed signed note: signature line does not start with an em dash and a space")
        rest = line[len(_EM_DASH_PREFIX) :]
        name, _, b64 = rest.partition(" ")
        try:
            sig = decode_canonical_base64(b64)
        except ValueError:
            sig = None
        if sig is None or not is_valid_name(name) or b64 == "" or len(sig) < 5:
            raise MalformedError(f"malformed signed note: bad signature line {line!r}")
        count += 1
        if count > MAX_NOTE_SIGNATURES:
            raise MalformedError(f"malformed signed note: more than {MAX_NOTE_SIGNATURES} signatures")
        if line in seen:
            continue
        seen.add(line)
        note.unverified_sigs.append(Signature(name, struct.unpack(">I", sig[:4])[0], sig[4:]))
    return note


def _split_key(vkey: str) -> Tuple[str, int, bytes]:
    name, sep1, rest = vkey.partition("+")
    hex_id, sep2, b64 = rest.partition("+")
    if not sep1 or not sep2:
        raise MalformedError("malformed note key: want <name>+<key ID>+<key>")
    if not is_valid_name(name):
        raise MalformedError(f"malformed note key: invalid key name {name!r}")
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise MalformedError(f"malformed note key: key ID {hex_id!r} is not 8 hex digits")
    try:
        key = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedError("malformed note key: key is not valid base64") from None
    return name, int(hex_id, 16), key


_V = TypeVar("_V", bound="Verifier")


class Verifier:
    """Verifies note signatures of one Ed25519 (type 0x01) key, such as a
    log's. Build it from a verifier key string with :meth:`from_key`."""

    alg = ALG_ED25519

    def __init__(self, name: str, public_key: bytes) -> None:
        """Make a verifier for ``name`` and the 32-byte Ed25519 ``public_key``."""
        if not is_valid_name(name):
            raise MalformedError(f"malformed note key: invalid key name {name!r}")
        if len(public_key) != 32:
            raise MalformedError(f"malformed note key: Ed25519 public key is {len(public_key)} bytes, want 32")
        self.name: str = name
        self.public_key: bytes = bytes(public_key)
        self.key_hash: int = key_hash(name, bytes([self.alg]) + self.public_key)
        self._pub = Ed25519PublicKey.from_public_bytes(self.public_key)

    @classmethod
    def from_key(cls: Type[_V], vkey: str) -> _V:
        """Parse a verifier key string ``<name>+<hex id>+<base64(0x01 || key)>``."""
        name, h, key = _split_key(vkey.strip())
        if not key or key[0] != cls.alg:
            raise MalformedError(
                f"malformed note key: unsupported key type (want {cls.alg:#04x})"
            )
        if len(key) != 33:
            raise MalformedError(f"malformed note key: Ed25519 public key is {len(key) - 1} bytes, want 32")
        v = cls(name, key[1:])
        if v.key_hash != h:
            raise MalformedError(f"malformed note key: key ID {h:08x} does not match the key (want {v.key_hash:08x})")
        return v

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` is a valid signature of the note text ``msg``."""
        if len(sig) != 64:
            return False
        try:
            self._pub.verify(bytes(sig), bytes(msg))
            return True
        except (InvalidSignature, ValueError):
            return False

    def __str__(self) -> str:
        """Return the verifier key string."""
        return "%s+%08x+%s" % (
            self.name,
            self.key_hash,
            base64.b64encode(bytes([self.alg]) + self.public_key).decode("ascii"),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


def cosigned_message(timestamp: int, checkpoint_text: Union[bytes, str]) -> bytes:
    """Return the message a c2sp.org/tlog-cosignature v1 signature signs:
    ``"cosignature/v1\\ntime <T>\\n" || checkpoint text``. The text must
    be a checkpoint (else :class:`MalformedError`), as in Go's
    ``cosignedMessage``."""
    from .checkpoint import parse_checkpoint  # a cycle otherwise

    text = checkpoint_text.decode("utf-8") if isinstance(checkpoint_text, (bytes, bytearray)) else checkpoint_text
    parse_checkpoint(text)
    return b"cosignature/v1\ntime " + str(int(timestamp)).encode("ascii") + b"\n" + text.encode("utf-8")


class CosignatureVerifier(Verifier):
    """Verifies witness cosignatures (type 0x04, c2sp.org/tlog-cosignature
    v1) of one key. The signature is the 8-byte timestamp and Ed25519 over
    :func:`cosigned_message`."""

    alg = ALG_COSIGNATURE_V1

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` (timestamp and signature) is a cosignature
        of the checkpoint text ``msg`` by this key."""
        if len(sig) != 72:
            return False
        t = struct.unpack(">Q", bytes(sig[:8]))[0]
        try:
            m = cosigned_message(t, bytes(msg))
        except (MalformedError, UnicodeDecodeError):
            return False
        try:
            self._pub.verify(bytes(sig[8:]), m)
            return True
        except (InvalidSignature, ValueError):
            return False


AnyVerifier = Union[Verifier, CosignatureVerifier]


def parse_verifier_key(vkey: str) -> AnyVerifier:
    """Parse a verifier key string of either supported type (0x01 log key
    or 0x04 witness key)."""
    _, _, key = _split_key(vkey.strip())
    if key and key[0] == ALG_COSIGNATURE_V1:
        return CosignatureVerifier.from_key(vkey)
    return Verifier.from_key(vkey)


def open_note(msg: Union[bytes, str], verifiers: Iterable[AnyVerifier]) -> Note:
    """Parse ``msg`` and verify its signatures against ``verifiers``, as
    ``signer.OpenNote``: signatures of unknown keys (name and key ID) are
    kept unverified, a failing signature of a known key raises
    :class:`SignatureError`, and at least one known key must have signed
    (else :class:`SignatureError`). Repeated signatures are dropped."""
    n = parse_note(msg)
    known: Dict[Tuple[str, int], AnyVerifier] = {}
    for v in verifiers:
        known[(v.name, v.key_hash)] = v
    text = n.text.encode("utf-8")
    unverified = n.unverified_sigs
    n.unverified_sigs = []
    seen = set()
    for s in unverified:
        k = (s.name, s.key_hash)
        kv = known.get(k)
        if kv is None:
            n.unverified_sigs.append(s)
            continue
        if k in seen:
            continue
        seen.add(k)
        if not kv.verify(text, s.sig):
            raise SignatureError(f"invalid signature: by {s.name}+{s.key_hash:08x}")
        n.sigs.append(s)
    if not n.sigs:
        raise SignatureError("note has no signature by a known key")
    return n


def verify_cosignature(checkpoint_note: Union[bytes, str], witness_key: Union[str, CosignatureVerifier]) -> Signature:
    """Check that the signed checkpoint note carries a valid
    c2sp.org/tlog-cosignature v1 cosignature by ``witness_key`` (a key
    string or a :class:`CosignatureVerifier`), and return it (its
    :meth:`Signature.timestamp` is when the witness cosigned). Raises
    :class:`SignatureError` when there is none or it does not verify."""
    v = witness_key if isinstance(witness_key, CosignatureVerifier) else CosignatureVerifier.from_key(witness_key)
    n = parse_note(checkpoint_note)
    text = n.text.encode("utf-8")
    for s in n.unverified_sigs:
        if s.name == v.name and s.key_hash == v.key_hash:
            if not v.verify(text, s.sig):
                raise SignatureError(f"invalid cosignature: by {s.name}+{s.key_hash:08x}")
            return s
    raise SignatureError(f"no cosignature by {v.name}+{v.key_hash:08x}")


class NoteSigner:
    """Signs notes with an Ed25519 key (type 0x01) — for tests and tools
    that make their own notes; the log signs its own checkpoints."""

    alg = ALG_ED25519

    def __init__(self, name: str, private_key: Optional[Ed25519PrivateKey] = None) -> None:
        """Make a signer named ``name`` with ``private_key`` (a new one if None)."""
        from cryptography.hazmat.primitives import serialization

        if not is_valid_name(name):
            raise MalformedError(f"malformed note key: invalid key name {name!r}")
        self.name = name
        self._priv = private_key or Ed25519PrivateKey.generate()
        self.public_key = self._priv.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_hash = key_hash(name, bytes([self.alg]) + self.public_key)

    def verifier_key(self) -> str:
        """Return the verifier key string of this signer."""
        return "%s+%08x+%s" % (
            self.name,
            self.key_hash,
            base64.b64encode(bytes([self.alg]) + self.public_key).decode("ascii"),
        )

    def sign(self, text: bytes) -> bytes:
        """Return the signature of note text ``text``."""
        return self._priv.sign(bytes(text))

    def signature_line(self, text: Union[bytes, str]) -> str:
        """Return the signature line of this key over ``text``."""
        t = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return Signature(self.name, self.key_hash, self.sign(t)).line()

    def sign_note(self, text: str) -> bytes:
        """Return the signed note of ``text`` (which must end in a newline)."""
        if not text.endswith("\n"):
            raise MalformedError("malformed signed note: text must end in a newline")
        return (text + "\n" + self.signature_line(text)).encode("utf-8")


class Cosigner(NoteSigner):
    """Makes witness cosignatures (type 0x04) — for tests."""

    alg = ALG_COSIGNATURE_V1

    def __init__(self, name: str, private_key: Optional[Ed25519PrivateKey] = None, now: Optional[int] = None) -> None:
        """Make a cosigner; ``now`` fixes the timestamp (default: the clock)."""
        super().__init__(name, private_key)
        self.now = now

    def sign(self, text: bytes) -> bytes:
        """Return the timestamp and signature of a cosignature of ``text``."""
        import time

        t = int(time.time()) if self.now is None else int(self.now)
        return struct.pack(">Q", t) + self._priv.sign(cosigned_message(t, bytes(text)))

    def cosign(self, note: bytes) -> bytes:
        """Return ``note`` (a signed checkpoint) with this witness's
        cosignature line appended."""
        n = parse_note(note)
        return bytes(note) + self.signature_line(n.text).encode("utf-8")
