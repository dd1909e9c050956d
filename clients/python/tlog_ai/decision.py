"""Decision records (decision/v1) and their canonical log entry.

The log stores a decision record as canonical JSON — RFC 8785 style, keys
sorted by UTF-16 code units, no insignificant whitespace, minimal escapes,
optional fields omitted when empty, and ``"kind":"decision/v1"`` added —
exactly as Go's ``attest.Decision.Canonical`` writes it. Building the same
bytes here lets a client check that the log logged exactly the record it
sent: the receipt's ``leaf_hash`` must be ``SHA-256(0x00 || canonical)``.

:func:`validate_decision` applies the rules of ``attest.Decision.Validate``
and the strict parser (unknown fields, nulls and non-strings refused), so
that a record the log would refuse is refused before it is queued.

A record is a ``dict``::

    {"system": "support-bot", "decision_id": "c-1042", "time": "2026-11-27T09:14:03Z",
     "model": {"name": "acme/fraud-v3", "version": "3.1.0", "digest": "sha256:…"},
     "actor": "user-7f3a", "outcome": "approved", "labels": {"region": "eu"},
     "commitments": {"input": "sha256:…", "output": "sha256:…",
                     "rationale": "sha256:…", "data_accessed": ["sha256:…"]}}
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import AbstractSet, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .commit import commit_new, is_commitment
from .errors import InvalidRecordError
from .merkle import leaf_hash

__all__ = [
    "KIND_DECISION",
    "MAX_DECISION_SIZE",
    "MAX_BATCH",
    "canonical_decision",
    "validate_decision",
    "decision_line",
    "decision_leaf_hash",
    "prepare_decision",
    "new_decision",
    "canonical_json_string",
    "is_rfc3339",
    "parse_decision_line",
    "canonical_decision_line",
]

#: The kind of a decision entry.
KIND_DECISION = "decision/v1"
#: Longest decision record, in bytes, as sent (one NDJSON line).
MAX_DECISION_SIZE = 16 << 10
#: Most decision records in one request.
MAX_BATCH = 10000
MAX_LABELS = 32
MAX_DATA_ACCESSED = 256
_MAX_FIELD = 256
_MAX_LABEL_KEY = 64

_TOP = frozenset(("system", "decision_id", "time", "model", "actor", "outcome", "labels", "commitments"))
_MODEL = frozenset(("name", "version", "digest"))
_COMMITMENTS = frozenset(("input", "output", "rationale", "data_accessed"))

_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), "\\u%04x" % _c)
del _c


def canonical_json_string(s: str) -> str:
    """Return ``s`` as a JSON string with RFC 8785's escapes, as Go's
    ``attest.appendString``: ``\\" \\\\ \\b \\f \\n \\r \\t``, ``\\u00xx``
    for the other control characters, everything else (including ``<``,
    ``>``, ``&``, U+007F, U+2028, U+2029) literally."""
    if _NEEDS_ESCAPE.search(s) is None:
        return '"' + s + '"'
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], s) + '"'


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _bad(msg: str) -> InvalidRecordError:
    return InvalidRecordError(msg)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\Z")


def _has_control(s: str) -> bool:
    return _CONTROL.search(s) is not None


def _blen(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def is_rfc3339(s: str) -> bool:
    """Report whether ``s`` is an RFC 3339 date-time as the Go log accepts
    it (``attest.isRFC3339`` and ``time.Parse``): ``YYYY-MM-DDTHH:MM:SS``,
    an optional fraction, and ``Z`` or an offset of at most 23:59, naming a
    real instant (month and day ranges, leap years; no leap second)."""
    if not isinstance(s, str) or not (20 <= len(s) <= 40) or not s.isascii():
        return False
    m = _RFC3339.match(s)
    if m is None:
        return False
    zone = m.group(2)
    if zone != "Z" and (zone[1:3] > "23" or zone[4:6] > "59"):
        return False
    year, month, day = int(s[0:4]), int(s[5:7]), int(s[8:10])
    hour, minute, second = int(s[11:13]), int(s[14:16]), int(s[17:19])
    if not (1 <= month <= 12) or hour > 23 or minute > 59 or second > 59:
        return False
    if month == 12:
        days = 31
    else:
        # Proleptic Gregorian, year 0 included (a leap year), as Go.
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30][month - 1]
    return 1 <= day <= days


def _string(d: Mapping[str, Any], key: str, name: str) -> str:
    v = d.get(key, "")
    if v is None:
        raise _bad(f"record is not a decision JSON object: {name} must be a string, not null")
    if type(v) is not str and not isinstance(v, str):
        raise _bad(f"record is not a decision JSON object: {name} must be a string")
    if not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(f"record is not valid UTF-8: {name} holds a lone surrogate") from None
    return v


def _object(d: Mapping[str, Any], key: str, name: str, allowed: Optional[AbstractSet[str]], where: str) -> Mapping[str, Any]:
    v = d.get(key, {})
    if v is None:
        raise _bad(f"record is not a decision JSON object: {name} must be an object, not null")
    if not isinstance(v, Mapping):
        raise _bad(f"record is not a decision JSON object: {name} must be an object")
    for k in v:
        if allowed is not None and k not in allowed:
            raise _bad(f"record is not a decision JSON object: unknown field {k!r}{where}")
        if type(k) is not str and not isinstance(k, str):
            raise _bad(f"record is not a decision JSON object: {name} keys must be strings")
    return v


class _Parsed:
    __slots__ = ("system", "decision_id", "time", "actor", "outcome", "name", "version", "digest",
                 "labels", "input", "output", "rationale", "data_accessed")
    system: str
    decision_id: str
    time: str
    actor: str
    outcome: str
    name: str
    version: str
    digest: str
    labels: Dict[str, str]
    input: str
    output: str
    rationale: str
    data_accessed: List[str]


def _parse(record: Mapping[str, Any]) -> _Parsed:
    if not isinstance(record, Mapping):
        raise _bad("record is not a decision JSON object: record must be an object")
    for k in record:
        if k not in _TOP:
            raise _bad(f"record is not a decision JSON object: unknown field {k!r}")
    p = _Parsed()
    p.system = _string(record, "system", "system")
    p.decision_id = _string(record, "decision_id", "decision_id")
    p.time = _string(record, "time", "time")
    p.actor = _string(record, "actor", "actor")
    p.outcome = _string(record, "outcome", "outcome")
    m = _object(record, "model", "model", _MODEL, " in model")
    p.name = _string(m, "name", "model.name")
    p.version = _string(m, "version", "model.version")
    p.digest = _string(m, "digest", "model.digest")
    labels = _object(record, "labels", "labels", None, "")
    p.labels = {}
    for k in labels:
        if not k.isascii():
            try:
                k.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad("record is not valid UTF-8: a label key holds a lone surrogate") from None
        p.labels[k] = _string(labels, k, f"label {json.dumps(k)}")
    c = _object(record, "commitments", "commitments", _COMMITMENTS, " in commitments")
    p.input = _string(c, "input", "commitments.input")
    p.output = _string(c, "output", "commitments.output")
    p.rationale = _string(c, "rationale", "commitments.rationale")
    da = c.get("data_accessed", [])
    if da is None or isinstance(da, (str, bytes)) or not isinstance(da, (list, tuple)):
        raise _bad("record is not a decision JSON object: commitments.data_accessed must be an array of strings")
    out: List[str] = []
    for v in da:
        if not isinstance(v, str):
            raise _bad("record is not a decision JSON object: commitments.data_accessed element must be a string")
        out.append(v)
    p.data_accessed = out
    _validate(p)
    return p


def _validate(p: _Parsed) -> None:
    for name, value, required in (
        ("system", p.system, True),
        ("decision_id", p.decision_id, True),
        ("model.name", p.name, True),
        ("model.version", p.version, True),
        ("actor", p.actor, False),
        ("outcome", p.outcome, False),
    ):
        if value == "" and required:
            raise _bad(f"{name} is required")
        if _blen(value) > _MAX_FIELD:
            raise _bad(f"{name} is longer than {_MAX_FIELD} bytes")
        if _has_control(value):
            raise _bad(f"{name} contains control characters")
    if p.time == "":
        raise _bad("time is required")
    if not is_rfc3339(p.time):
        raise _bad(f"time {json.dumps(p.time, ensure_ascii=False)} is not an RFC 3339 timestamp")
    if p.digest != "" and not is_commitment(p.digest):
        raise _bad(f"model.digest {json.dumps(p.digest, ensure_ascii=False)} is not sha256:<64 lowercase hex>")
    if len(p.labels) > MAX_LABELS:
        raise _bad(f"{len(p.labels)} labels, at most {MAX_LABELS}")
    for k, v in p.labels.items():
        if k == "" or _blen(k) > _MAX_LABEL_KEY or _has_control(k):
            raise _bad(f"label key {json.dumps(k, ensure_ascii=False)} must be 1…{_MAX_LABEL_KEY} bytes without control characters")
        if _blen(v) > _MAX_FIELD or _has_control(v):
            raise _bad(f"label {json.dumps(k, ensure_ascii=False)}: value must be at most {_MAX_FIELD} bytes without control characters")
    for name, value in (("commitments.input", p.input), ("commitments.output", p.output)):
        if value == "":
            raise _bad(f"{name} is required")
    for name, value in (("commitments.input", p.input), ("commitments.output", p.output), ("commitments.rationale", p.rationale)):
        if value != "" and not is_commitment(value):
            raise _bad(f"{name} {json.dumps(value[:80], ensure_ascii=False)} is not sha256:<64 lowercase hex>")
    if len(p.data_accessed) > MAX_DATA_ACCESSED:
        raise _bad(f"commitments.data_accessed has {len(p.data_accessed)} commitments, at most {MAX_DATA_ACCESSED}")
    for i, v in enumerate(p.data_accessed):
        if not is_commitment(v):
            raise _bad(f"commitments.data_accessed[{i}] {json.dumps(v[:80], ensure_ascii=False)} is not sha256:<64 lowercase hex>")


def _canonical(p: _Parsed) -> bytes:
    q = canonical_json_string
    parts: List[str] = ["{"]
    if p.actor:
        parts += ['"actor":', q(p.actor), ","]
    parts.append('"commitments":{')
    if p.data_accessed:
        parts += ['"data_accessed":[', ",".join(q(v) for v in p.data_accessed), "],"]
    parts += ['"input":', q(p.input), ',"output":', q(p.output)]
    if p.rationale:
        parts += [',"rationale":', q(p.rationale)]
    parts += ['},"decision_id":', q(p.decision_id), ',"kind":"', KIND_DECISION, '"']
    if p.labels:
        parts.append(',"labels":{')
        parts.append(",".join(q(k) + ":" + q(p.labels[k]) for k in sorted(p.labels, key=_utf16_key)))
        parts.append("}")
    parts.append(',"model":{')
    if p.digest:
        parts += ['"digest":', q(p.digest), ","]
    parts += ['"name":', q(p.name), ',"version":', q(p.version), "}"]
    if p.outcome:
        parts += [',"outcome":', q(p.outcome)]
    parts += [',"system":', q(p.system), ',"time":', q(p.time), "}"]
    return "".join(parts).encode("utf-8")


def validate_decision(record: Mapping[str, Any]) -> None:
    """Check a decision record as the log will; raise
    :class:`~tlog_ai.errors.InvalidRecordError` naming the first bad field
    (the reasons are those the Go log gives)."""
    _parse(record)
    _check_line(decision_line(record))


def canonical_decision(record: Mapping[str, Any]) -> bytes:
    """Return the log entry of a decision record: canonical JSON of kind
    decision/v1, byte for byte what ``attest.Decision.Canonical`` makes.
    Raises :class:`~tlog_ai.errors.InvalidRecordError` for a record the log
    would refuse."""
    return _canonical(_parse(record))


def decision_leaf_hash(record: Mapping[str, Any]) -> bytes:
    """Return the RFC 6962 leaf hash of the record's canonical entry — the
    ``leaf_hash`` the log's receipt must carry."""
    return leaf_hash(canonical_decision(record))


def decision_line(record: Mapping[str, Any]) -> bytes:
    """Return the record as sent to the log: compact JSON, UTF-8, no
    newline (one NDJSON line)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_line(line: bytes) -> None:
    if len(line) > MAX_DECISION_SIZE:
        raise _bad(f"record is {len(line)} bytes, longer than the limit of {MAX_DECISION_SIZE}")


_KIND_FIELD = b',"kind":"' + KIND_DECISION.encode() + b'"'


def prepare_decision(record: Mapping[str, Any]) -> Tuple[bytes, bytes, bytes]:
    """Validate a record and return ``(line, entry, leaf_hash)``: the bytes
    to send, the canonical entry the log will store, and its leaf hash.

    The line sent is the canonical entry without its ``"kind"`` member (the
    log adds it back): the record in canonical form, which the log reads
    as the same record. In the canonical bytes every string is escaped, so
    the first raw ``,"kind":"decision/v1"`` is the member itself."""
    entry = _canonical(_parse(record))
    i = entry.index(_KIND_FIELD)
    line = entry[:i] + entry[i + len(_KIND_FIELD) :]
    _check_line(line)
    return line, entry, leaf_hash(entry)


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    d: Dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise _bad(f"record is not a decision JSON object: duplicate field {json.dumps(k, ensure_ascii=False)}")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise _bad(f"record is not a decision JSON object: {name} is not JSON")


def parse_decision_line(line: Union[bytes, str]) -> Dict[str, Any]:
    """Parse one decision record as the log reads it from an NDJSON line or
    a JSON body (``attest.ParseDecision``): at most 16 KiB, valid UTF-8,
    one JSON object with no duplicate field (compared after unescaping),
    no null, no lone UTF-16 surrogate escape, and the record valid.
    Returns the record as a dict. Raises
    :class:`~tlog_ai.errors.InvalidRecordError`."""
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    raw = raw.rstrip(b"\r\n")
    if len(raw) > MAX_DECISION_SIZE:
        raise _bad(f"record is {len(raw)} bytes, longer than the limit of {MAX_DECISION_SIZE}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("record is not valid UTF-8") from None
    try:
        record = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except InvalidRecordError:
        raise
    except ValueError as e:
        raise _bad(f"record is not a decision JSON object: {e}") from None
    _parse(record)
    return record  # type: ignore[no-any-return]


def canonical_decision_line(line: Union[bytes, str]) -> bytes:
    """Return the log entry of a record given as JSON text (one NDJSON
    line), as the log makes it; see :func:`parse_decision_line`."""
    return canonical_decision(parse_decision_line(line))


def new_decision(
    system: str,
    decision_id: str,
    model_name: str,
    model_version: str,
    input: Union[bytes, str],
    output: Union[bytes, str],
    *,
    model_digest: Optional[str] = None,
    time: Optional[str] = None,
    actor: Optional[str] = None,
    outcome: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
    rationale: Optional[Union[bytes, str]] = None,
    data_accessed: Optional[Sequence[Union[bytes, str]]] = None,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Build a decision record that commits to the private ``input``,
    ``output`` (and optional ``rationale`` and ``data_accessed`` items)
    under fresh salts. Returns ``(record, salts)``: the record to log, and
    the salts to keep beside the content (``salts["input"]``,
    ``salts["output"]``, ``salts["rationale"]``, ``salts["data_accessed"]``
    as a list) — without them a commitment cannot be opened. ``time``
    defaults to now, in UTC with millisecond precision."""
    if time is None:
        now = _dt.datetime.now(_dt.timezone.utc)
        time = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)
    salts: Dict[str, Any] = {}
    commitments: Dict[str, Any] = {}
    commitments["input"], salts["input"] = commit_new(input)
    commitments["output"], salts["output"] = commit_new(output)
    if rationale is not None:
        commitments["rationale"], salts["rationale"] = commit_new(rationale)
    if data_accessed:
        pairs = [commit_new(d) for d in data_accessed]
        commitments["data_accessed"] = [c for c, _ in pairs]
        salts["data_accessed"] = [s for _, s in pairs]
    model: Dict[str, str] = {"name": model_name, "version": model_version}
    if model_digest:
        model["digest"] = model_digest
    record: Dict[str, Any] = {"system": system, "decision_id": decision_id, "time": time, "model": model}
    if actor:
        record["actor"] = actor
    if outcome:
        record["outcome"] = outcome
    if labels:
        record["labels"] = dict(labels)
    record["commitments"] = commitments
    validate_decision(record)
    return record, salts
