"""tlog_ai — the Python SDK of tlog, a transparency log for AI.

Online: :class:`Client` (verified state: every checkpoint checked against
the log's key, an optional witness policy, and proven consistent with the
last one kept) and :class:`DecisionLogger` (batched, retried, receipts
checked against locally built canonical entries).

Offline, with nothing but public keys: :func:`verify_tlog_proof`,
:func:`verify_checkpoint`, :func:`verify_cosignature`,
:func:`verify_inclusion`, :func:`verify_consistency`; commitments
(:func:`commit`, :func:`open_commitment`) and canonical decision entries
(:func:`canonical_decision`).
"""

from __future__ import annotations

from .checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from .client import Client, Entry, Receipt
from .commit import commit, commit_new, new_salt, open_commitment, opens
from .decision import canonical_decision, decision_leaf_hash, new_decision, validate_decision
from .errors import (
    APIError,
    CommitmentError,
    CouldNotCheckError,
    InconsistentError,
    InvalidRecordError,
    LeafMismatchError,
    MalformedError,
    NotConfirmedError,
    ProofError,
    ProtocolError,
    QueueFull,
    QuorumError,
    RecordRefused,
    SignatureError,
    TlogError,
    TransportError,
    UnavailableError,
    VerificationError,
)
from .logger import DecisionLogger, Report
from .merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion
from .note import Verifier, CosignatureVerifier, open_note, parse_note, verify_cosignature
from .policy import Policy, parse_policy
from .tlogproof import TlogProof, VerifiedProof, load_tlog_proof, parse_tlog_proof, trim_blank_tail, verify_tlog_proof

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Client",
    "DecisionLogger",
    "Report",
    "Receipt",
    "Entry",
    "Checkpoint",
    "Policy",
    "TlogProof",
    "VerifiedProof",
    "Verifier",
    "CosignatureVerifier",
    "parse_checkpoint",
    "parse_policy",
    "parse_note",
    "open_note",
    "parse_tlog_proof",
    "verify_tlog_proof",
    "load_tlog_proof",
    "trim_blank_tail",
    "verify_checkpoint",
    "verify_cosignature",
    "verify_inclusion",
    "verify_consistency",
    "leaf_hash",
    "node_hash",
    "commit",
    "commit_new",
    "new_salt",
    "open_commitment",
    "opens",
    "canonical_decision",
    "decision_leaf_hash",
    "new_decision",
    "validate_decision",
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
    "ProtocolError",
    "APIError",
    "UnavailableError",
    "QueueFull",
    "RecordRefused",
    "NotConfirmedError",
]
