"""Cross-language vectors: the SDK must reach the verdict of the Go code on
every vector of testdata/vectors/ (see its README.md for the schema).

The vectors live at the repository root (``$TLOG_VECTORS`` overrides the
directory); when they are absent (the package installed elsewhere) the
tests skip.
"""

import base64
import json
import os
import unittest

import _support

from tlog_ai import (
    CommitmentError,
    MalformedError,
    TlogError,
    commit,
    open_commitment,
    parse_policy,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_tlog_proof,
)
from tlog_ai.decision import canonical_decision_line, parse_decision_line
from tlog_ai.errors import InvalidRecordError, ProofError, QuorumError, SignatureError
from tlog_ai.merkle import leaf_hash

VECTORS = os.environ.get("TLOG_VECTORS") or os.path.join(_support.REPO_ROOT, "testdata", "vectors")


def load(name):
    path = os.path.join(VECTORS, name)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"no {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def b64(s):
    return base64.b64decode(s)


class VectorTest(unittest.TestCase):
    def test_commitments(self):
        vs = load("commitments.json")
        self.assertGreater(len(vs), 0)
        for v in vs:
            with self.subTest(v["name"]):
                salt, content = bytes.fromhex(v["salt_hex"]), b64(v["content_b64"])
                if v["valid"]:
                    self.assertEqual(commit(salt, content), v["commitment"])
                    open_commitment(v["commitment"], salt, content)
                else:
                    with self.assertRaises(CommitmentError):
                        open_commitment(v["commitment"], salt, content)

    def test_decisions(self):
        vs = load("decisions.json")
        self.assertGreater(len(vs), 0)
        for v in vs:
            with self.subTest(v["name"]):
                if v["valid"]:
                    entry = canonical_decision_line(v["record"])
                    self.assertEqual(entry, b64(v["entry_b64"]))
                    self.assertEqual(leaf_hash(entry).hex(), v["leaf_hash_hex"])
                else:
                    with self.assertRaises(InvalidRecordError):
                        parse_decision_line(v["record"])

    def test_releases(self):
        """The SDK does not rebuild release entries (the log canonicalizes
        the DSSE envelope); it checks what Client.attest checks: the leaf
        hash of the entry, its kind, and that its subjects are those of
        the statement submitted."""
        from tlog_ai.client import _statement_digests
        vs = load("releases.json")
        for v in vs:
            if not v["valid"]:
                continue
            with self.subTest(v["name"]):
                entry = b64(v["entry_b64"])
                self.assertEqual(leaf_hash(entry).hex(), v["leaf_hash_hex"])
                e = json.loads(entry)
                self.assertEqual(e["kind"], "model-release/v1")
                sub = json.loads(v["submission"])
                got = sorted(s["digest"]["sha256"] for s in e["subjects"])
                self.assertEqual(_statement_digests(sub["envelope"]), got)

    def test_checkpoints(self):
        d = load("checkpoints.json")
        policy = parse_policy(d["policy"])
        self.assertGreater(len(d["cases"]), 0)
        for c in d["cases"]:
            note = c["note"].encode("utf-8")
            with self.subTest(c["name"], check="key"):
                self._verdict(c["valid_with_key"], lambda: verify_checkpoint(note, d["log_key"]), c.get("error"))
            with self.subTest(c["name"], check="policy"):
                self._verdict(c["valid_with_policy"], lambda: verify_checkpoint(note, None, policy), c.get("error"))

    def test_tlog_proofs(self):
        d = load("tlog_proofs.json")
        policy = parse_policy(d["policy"])
        self.assertGreater(len(d["cases"]), 0)
        for c in d["cases"]:
            entry, proof = b64(c["entry_b64"]), c["proof"].encode("utf-8")
            with self.subTest(c["name"], check="key"):
                self._verdict(c["valid_with_key"], lambda: verify_tlog_proof(entry, proof, d["log_key"]), c.get("error"))
            with self.subTest(c["name"], check="policy"):
                self._verdict(c["valid_with_policy"], lambda: verify_tlog_proof(entry, proof, None, policy), c.get("error"))

    def test_inclusion(self):
        vs = load("inclusion.json")
        for v in vs:
            with self.subTest(v["name"]):
                args = (bytes.fromhex(v["leaf_hash_hex"]), v["index"], v["size"],
                        [bytes.fromhex(h) for h in v["proof_hex"]], bytes.fromhex(v["root_hex"]))
                self._verdict(v["valid"], lambda: verify_inclusion(*args))

    def test_consistency(self):
        vs = load("consistency.json")
        for v in vs:
            with self.subTest(v["name"]):
                args = (v["old_size"], v["new_size"], bytes.fromhex(v["old_root_hex"]),
                        bytes.fromhex(v["new_root_hex"]), [bytes.fromhex(h) for h in v["proof_hex"]])
                self._verdict(v["valid"], lambda: verify_consistency(*args))

    def _verdict(self, valid, fn, go_error=None):
        """Same verdict; for a failure, the exception class that says what
        the Go error says (when the vector gives it)."""
        if valid:
            fn()
            return
        want = TlogError
        if go_error:
            if go_error.startswith("origin "):  # malformed (key) or unverified (policy)
                want = (MalformedError, SignatureError)
            elif "quorum" in go_error:
                want = QuorumError
            elif "invalid signature" in go_error or "signature by a known key" in go_error:
                want = SignatureError
            elif "proof does not verify" in go_error or "not below" in go_error:
                want = ProofError
            else:
                want = MalformedError
        with self.assertRaises(want):
            fn()


if __name__ == "__main__":
    unittest.main()
