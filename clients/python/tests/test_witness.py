"""A client with a witness policy against a real log and a real witness
(``witness serve``, ``tlog serve --witness-policy``): checkpoints,
receipts and proofs must carry a quorum of Go-made cosignatures."""

import os
import subprocess
import time
import unittest

import _support
from _support import Server, TempDir, keygen, witness_bin

from tlog_ai import Client, QuorumError, commit, parse_note, verify_cosignature, verify_tlog_proof
from tlog_ai.decision import canonical_decision

C = commit(b"\x05" * 32, b"x")


class WitnessTest(unittest.TestCase):
    def test_policy_client(self):
        with TempDir() as d:
            key_file, vkey = keygen(d, "witnessed.example/log")
            wkey = subprocess.run([witness_bin(), "keygen", "--name", "w1.example", "--out", os.path.join(d, "w1")],
                                  check=True, stdout=subprocess.PIPE).stdout.decode().strip()
            with open(os.path.join(d, "logs.txt"), "w") as f:
                f.write(f"log {vkey}\n")
            w = Server(os.path.join(d, "w1-data"), os.path.join(d, "w1.key"), binary=witness_bin,
                       args=["--logs", os.path.join(d, "logs.txt")]).start()
            policy = f"log {vkey}\nwitness W1 {wkey} http://127.0.0.1:{w.port}\nquorum W1\n"
            with open(os.path.join(d, "policy.txt"), "w") as f:
                f.write(policy)
            log = Server(os.path.join(d, "data"), key_file,
                         args=["--witness-policy", os.path.join(d, "policy.txt"), "--witness-interval", "100ms"]).start()
            try:
                c = Client(log.url, vkey, policy=os.path.join(d, "policy.txt"),
                           state_file=os.path.join(d, "state"))
                rec = {"system": "w-bot", "decision_id": "1", "time": "2026-11-27T09:14:03Z",
                       "model": {"name": "m", "version": "1"}, "commitments": {"input": C, "output": C}}
                end = time.monotonic() + 15
                while True:  # the log waits for its witness on start (503)
                    try:
                        r = c.log_decision(rec)
                        break
                    except Exception:
                        if time.monotonic() > end:
                            raise
                        time.sleep(0.1)
                self.assertTrue(r.witnessed)
                self.assertTrue(r.proven)
                s = verify_cosignature(r.checkpoint.note, wkey)
                self.assertGreater(s.timestamp(), 1_700_000_000)
                self.assertEqual(len(r.checkpoint.signatures), 2)
                # The proof verifies under the policy; without the
                # cosignature the quorum is not met.
                vp = verify_tlog_proof(canonical_decision(rec), r.tlog_proof, vkey, policy)
                self.assertEqual(vp.index, r.index)
                stripped = b"\n".join(l for l in r.tlog_proof.split(b"\n") if not l.startswith("\u2014 w1.example".encode()))
                with self.assertRaises(QuorumError):
                    verify_tlog_proof(canonical_decision(rec), stripped, vkey, policy)
                cp = c.latest()
                self.assertEqual(len(parse_note(cp.note).unverified_sigs), 2)
                e = c.entry(r.index)
                self.assertEqual(e.entry, canonical_decision(rec))
                p = c.prove(r.index)
                verify_tlog_proof(e.entry, p, None, policy)
                with open(os.path.join(d, "state"), "rb") as f:
                    self.assertIn("\u2014 w1.example".encode(), f.read())
            finally:
                log.stop()
                w.stop()


if __name__ == "__main__":
    unittest.main()
