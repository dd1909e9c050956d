"""Witness policies (c2sp.org/tlog-policy), parsed as Go's
``signer.ParsePolicy`` parses them.

A policy file names the logs a client trusts and the witnesses whose
cosignatures it requires::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>|none

Names must be defined on an earlier line, each group member appears once,
``1 <= k <= n``, no key appears twice (across log and witness lines), there
is exactly one ``quorum`` line, and the only control characters allowed are
tab and newline. Lines whose first field starts with ``#`` are comments.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

from .checkpoint import Checkpoint, parse_checkpoint, parse_decimal
from .errors import MalformedError, QuorumError, SignatureError
from .note import CosignatureVerifier, Note, Verifier, open_note

__all__ = ["Policy", "PolicyLog", "PolicyWitness", "parse_policy"]


@dataclass
class PolicyLog:
    """A ``log <vkey> [<url>]`` line."""

    verifier: Verifier
    url: str = ""


@dataclass
class PolicyWitness:
    """A ``witness <name> <vkey> [<url>]`` line; ``name`` is the name in the
    policy, not the key name."""

    name: str
    verifier: CosignatureVerifier
    url: str = ""


@dataclass
class _Node:
    witness: Optional[PolicyWitness] = None
    threshold: int = 0
    members: List["_Node"] = field(default_factory=list)

    def met(self, cosigned: Set[int]) -> bool:
        """Whether the witnesses (ids) that cosigned meet this node."""
        if self.witness is not None:
            return id(self.witness) in cosigned
        return sum(1 for m in self.members if m.met(cosigned)) >= self.threshold


class Policy:
    """A parsed c2sp.org/tlog-policy: trusted logs, known witnesses and the
    quorum of cosignatures required. Build it with :func:`parse_policy`."""

    def __init__(self, logs: List[PolicyLog], witnesses: List[PolicyWitness], quorum: Optional[_Node]) -> None:
        """Use :func:`parse_policy`."""
        self.logs: List[PolicyLog] = logs
        self.witnesses: List[PolicyWitness] = witnesses
        self._quorum = quorum

    @property
    def witnessed(self) -> bool:
        """Whether the quorum needs any cosignature (not ``quorum none``)."""
        return self._quorum is not None

    def quorum_met(self, names: Set[str]) -> bool:
        """Report whether the witnesses named (policy names) meet the quorum."""
        if self._quorum is None:
            return True
        return self._quorum.met({id(w) for w in self.witnesses if w.name in names})

    def check(self, note: Union[bytes, str]) -> Tuple[Checkpoint, Note]:
        """Verify a signed checkpoint against the policy, as Go's
        ``Policy.Check``: a valid signature of one of the policy's logs (the
        checkpoint's origin being that log's key name) and valid
        cosignatures meeting the quorum. Cosignatures of unknown witnesses
        are ignored; a known witness's bad cosignature rejects the note.
        Returns the checkpoint (with ``note`` and ``signatures`` set) and
        the parsed note. Raises :class:`SignatureError` or
        :class:`QuorumError`."""
        raw = note.encode("utf-8") if isinstance(note, str) else bytes(note)
        verifiers: List[Verifier] = [l.verifier for l in self.logs] + [w.verifier for w in self.witnesses]
        n = open_note(raw, verifiers)
        c = parse_checkpoint(n.text)
        log_signed = False
        cosigned: Dict[int, PolicyWitness] = {}
        for s in n.sigs:
            for l in self.logs:
                if s.name == l.verifier.name and s.key_hash == l.verifier.key_hash and c.origin == l.verifier.name:
                    log_signed = True
            for w in self.witnesses:
                if s.name == w.verifier.name and s.key_hash == w.verifier.key_hash:
                    cosigned[id(w)] = w
        if not log_signed:
            raise SignatureError(f"note has no signature by a known key: no signature of a policy log for origin {c.origin!r}")
        if self._quorum is not None and not self._quorum.met(set(cosigned)):
            names = sorted(w.name for w in cosigned.values())
            raise QuorumError(f"witness quorum not met: valid cosignatures from {len(names)} witnesses {names}")
        c.note = raw
        c.signatures = list(n.sigs)
        return c, n

    def has_log(self, v: Verifier) -> bool:
        """Report whether the policy trusts the log key ``v``."""
        return any(l.verifier.name == v.name and l.verifier.public_key == v.public_key for l in self.logs)


def _raw_key(vkey: str) -> Union[bytes, str]:
    """The public key a verifier key string wraps, so that two key strings
    with other names or IDs over one key count as duplicates. The key is
    what follows the *second* '+': names and key IDs hold no '+', but
    base64 does (as Go's ``rawKey``)."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        return vkey
    try:
        b = base64.b64decode(parts[2].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return vkey
    if len(b) != 33:
        return vkey
    return b[1:]


def parse_policy(text: Union[bytes, str]) -> Policy:
    """Parse a c2sp.org/tlog-policy file (bytes or str). Raises
    :class:`MalformedError` naming the line at fault."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
    for c in raw:
        if (c < 0x20 and c not in (0x09, 0x0A)) or c == 0x7F:
            raise MalformedError(f"malformed policy: control character {c:#x}")
    s = raw.decode("utf-8", "surrogateescape")
    logs: List[PolicyLog] = []
    witnesses: List[PolicyWitness] = []
    names: Dict[str, _Node] = {}
    keys: Set[Union[bytes, str]] = set()
    quorum: Optional[_Node] = None
    quorums = 0
    for n, line in enumerate(s.split("\n")):

        def fail(msg: str) -> MalformedError:
            """The error of this line."""
            return MalformedError(f"malformed policy: line {n + 1}: {msg}")

        f = [x for x in line.replace("\t", " ").split(" ") if x]
        if not f or f[0].startswith("#"):
            continue
        kw = f[0]
        if kw == "log":
            if len(f) < 2 or len(f) > 3:
                raise fail("want: log <vkey> [<url>]")
            try:
                v = Verifier.from_key(f[1])
            except MalformedError as e:
                raise fail(str(e)) from None
            rk = _raw_key(f[1])
            if rk in keys:
                raise fail("duplicate key")
            keys.add(rk)
            logs.append(PolicyLog(v, f[2] if len(f) > 2 else ""))
        elif kw == "witness":
            if len(f) < 3 or len(f) > 4:
                raise fail("want: witness <name> <vkey> [<url>]")
            if f[1] in names or f[1] == "none":
                raise fail(f"name {f[1]!r} already defined")
            try:
                cv = CosignatureVerifier.from_key(f[2])
            except MalformedError as e:
                raise fail(str(e)) from None
            rk = _raw_key(f[2])
            if rk in keys:
                raise fail("duplicate key")
            keys.add(rk)
            w = PolicyWitness(f[1], cv, f[3] if len(f) > 3 else "")
            witnesses.append(w)
            names[f[1]] = _Node(witness=w)
        elif kw == "group":
            if len(f) < 4:
                raise fail("want: group <name> all|any|<k> <member>...")
            if f[1] in names or f[1] == "none":
                raise fail(f"name {f[1]!r} already defined")
            g = _Node()
            seen: Set[str] = set()
            for m in f[3:]:
                node = names.get(m)
                if node is None:
                    raise fail(f"member {m!r} is not defined on an earlier line")
                if m in seen:
                    raise fail(f"member {m!r} listed twice")
                seen.add(m)
                g.members.append(node)
            if f[2] == "all":
                g.threshold = len(g.members)
            elif f[2] == "any":
                g.threshold = 1
            else:
                try:
                    k = parse_decimal(f[2])
                except ValueError:
                    k = 0
                if k < 1 or k > len(g.members):
                    raise fail(f"threshold {f[2]!r} must be all, any or 1…{len(g.members)}")
                g.threshold = k
            names[f[1]] = g
        elif kw == "quorum":
            if len(f) != 2:
                raise fail("want: quorum <name>|none")
            quorums += 1
            if quorums > 1:
                raise fail("a second quorum line")
            if f[1] == "none":
                continue
            node = names.get(f[1])
            if node is None:
                raise fail(f"quorum {f[1]!r} is not defined on an earlier line")
            quorum = node
        else:
            raise fail(f"unknown keyword {kw!r}")
    if quorums == 0:
        raise MalformedError("malformed policy: no quorum line")
    return Policy(logs, witnesses, quorum)
