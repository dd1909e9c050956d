"""The Client against a real ``tlog serve``: verified state across runs and
against a forked log, receipts, entries, proofs, tiles, search,
attestations, errors, and cross-checks with the Go CLI."""

import base64
import json
import os
import subprocess
import unittest

import _support
from _support import Proxy, Server, TempDir, answer, keygen, tlog_bin

from tlog_ai import (
    APIError,
    Client,
    CouldNotCheckError,
    InconsistentError,
    InvalidRecordError,
    LeafMismatchError,
    MalformedError,
    ProofError,
    TransportError,
    UnavailableError,
    canonical_decision,
    commit,
    new_decision,
    load_tlog_proof,
    verify_checkpoint,
    verify_tlog_proof,
)
from tlog_ai.decision import decision_line, prepare_decision
from tlog_ai.merkle import leaf_hash

C1 = commit(b"\x01" * 32, b"input")
C2 = commit(b"\x02" * 32, b"output")


def record(i, **kw):
    r = {"system": "test-bot", "decision_id": f"d-{i}", "time": "2026-11-27T09:14:03Z",
         "model": {"name": "acme/fraud-v3", "version": "3.1.0"},
         "commitments": {"input": C1, "output": C2}}
    r.update(kw)
    return r


class ServerCase(unittest.TestCase):
    """One server for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.dir = cls.tmp.__enter__()
        cls.key_file, cls.vkey = keygen(cls.dir, "test.example/log")
        cls.server = Server(os.path.join(cls.dir, "data"), cls.key_file).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.__exit__()

    def client(self, **kw):
        return Client(self.server.url, self.vkey, **kw)


class ClientTest(ServerCase):
    def test_latest_verifies(self):
        c = self.client()
        cp = c.latest()
        self.assertEqual(cp.origin, "test.example/log")
        self.assertIs(c.checkpoint, cp)
        verify_checkpoint(cp.note, self.vkey)
        # The key may also be given as the log.pub file.
        c2 = Client(self.server.url, self.key_file[:-4] + ".pub")
        self.assertEqual(c2.latest().root_hash, c2.latest().root_hash)
        with self.assertRaises(Exception):
            Client(self.server.url, "not a key")

    def test_wrong_key(self):
        with TempDir() as d:
            _, other = keygen(d, "test.example/log")  # same origin, another key
            with self.assertRaises(Exception) as cm:
                Client(self.server.url, other).latest()
            self.assertEqual(type(cm.exception).__name__, "SignatureError")

    def test_log_decisions_receipts_match_local_canonical(self):
        c = self.client()
        recs = [
            record(1),
            record(2, actor="user-7f3a", outcome="approved", labels={"region": "eu", "b": "x"}),
            # UTF-16 order of keys differs from byte and code point order.
            record(3, labels={"\ue000": "pua", "\U0001f600": "emoji", "Z": 'quote " backslash \\ slash /'}),
            record(4, model={"name": "m <&> \u2028\u2029", "version": "1", "digest": "sha256:" + "ab" * 32},
                   commitments={"input": C1, "output": C2, "rationale": C1, "data_accessed": [C1, C2]}),
            record(5, time="2026-02-28T23:59:59.123456789012-23:59", actor="", labels={}),
            record(6, decision_id="\u00e9\u4e2d\U0001f600\x7e", outcome="\u0080\u00ff"),
        ]
        rs = c.log_decisions(recs)
        self.assertEqual(len(rs), len(recs))
        for r, rec in zip(rs, recs):
            entry = canonical_decision(rec)
            self.assertEqual(r.entry, entry)
            self.assertEqual(r.leaf_hash, leaf_hash(entry))
            self.assertTrue(r.proven)
            self.assertEqual(json.loads(entry)["kind"], "decision/v1")
            vp = verify_tlog_proof(entry, r.tlog_proof, self.vkey)
            self.assertEqual(vp.index, r.index)
        # Again: duplicates, same indices (compact receipts this time).
        again = c.log_decisions(recs, compact=True)
        self.assertEqual([r.index for r in again], [r.index for r in rs])
        self.assertTrue(all(r.duplicate and not r.proven for r in again))
        one = c.log_decision(recs[0])
        self.assertTrue(one.duplicate and one.proven)
        self.assertEqual(one.index, rs[0].index)

    def test_invalid_records_are_refused_like_the_server(self):
        c = self.client()
        bad = {
            "missing system": {k: v for k, v in record(1).items() if k != "system"},
            "bad time": record(1, time="yesterday"),
            "lowercase t": record(1, time="2026-11-27t09:14:03Z"),
            "leap second": record(1, time="2026-12-31T23:59:60Z"),
            "feb 29 not leap": record(1, time="2026-02-29T00:00:00Z"),
            "offset 24h": record(1, time="2026-01-01T00:00:00+24:00"),
            "unknown field": record(1, kind="decision/v1"),
            "null": record(1, actor=None),
            "number": record(1, outcome=5),
            "bad commitment": record(1, commitments={"input": "sha256:AB", "output": C2}),
            "uppercase hex": record(1, commitments={"input": C1.upper().replace("SHA256", "sha256"), "output": C2}),
            "control char": record(1, decision_id="a\nb"),
            "del char": record(1, decision_id="a\x7fb"),
            "long field": record(1, system="x" * 257),
            "long label key": record(1, labels={"k" * 65: "v"}),
            "empty label key": record(1, labels={"": "v"}),
            "33 labels": record(1, labels={f"k{i}": "v" for i in range(33)}),
            "bad digest": record(1, model={"name": "m", "version": "1", "digest": "sha256:00"}),
            "unknown model field": record(1, model={"name": "m", "version": "1", "size": "7"}),
            "257 data_accessed": record(1, commitments={"input": C1, "output": C2, "data_accessed": [C1] * 257}),
            "too large": record(1, commitments={"input": C1, "output": C2, "data_accessed": [C1] * 256}),
        }
        for name, rec in bad.items():
            with self.subTest(name):
                with self.assertRaises(InvalidRecordError):
                    prepare_decision(rec)
                body = json.dumps(rec, ensure_ascii=False).encode()
                with self.assertRaises(APIError) as cm:
                    c._request("POST", "/api/v1/decisions", None, body, "application/json", write=True)
                self.assertIn(cm.exception.status, (400, 413), cm.exception)
        # Edge cases both accept.
        ok = [
            record(7, system="s" * 256, labels={f"k{i}": "v" * 256 for i in range(4)}),
            record(8, time="2024-02-29T00:00:00.5+00:00", commitments={"input": C1, "output": C2, "data_accessed": [C2] * 200}),
            record(9, time="0000-01-01T00:00:00Z"),
        ]
        for r, rec in zip(c.log_decisions(ok), ok):
            self.assertEqual(r.leaf_hash, leaf_hash(canonical_decision(rec)))

    def test_batch_error_lines(self):
        c = self.client()
        lines = [decision_line(record(1)), decision_line(record(2, time="yesterday")), b'{"system":"x"}']
        with self.assertRaises(APIError) as cm:
            c._post_decisions(lines, compact=True)
        e = cm.exception
        self.assertEqual(e.status, 400)
        self.assertNotIsInstance(e, CouldNotCheckError)
        self.assertEqual([n for n, _ in e.lines], [2, 3])
        self.assertIn("RFC 3339", e.lines[0][1])
        self.assertIn("nothing was logged", e.reason)

    def test_entry_prove_and_tiles(self):
        c = self.client()
        start = c.latest().size
        recs = [record(1000 + i) for i in range(600)]
        rs = c.log_decisions(recs, compact=True)
        e = c.entry(rs[10].index)
        self.assertEqual(e.entry, canonical_decision(recs[10]))
        self.assertEqual(e.record["decision_id"], "d-1010")
        self.assertEqual(e.leaf_hash, rs[10].leaf_hash)
        p = c.prove(rs[10].index)
        vp = verify_tlog_proof(e.entry, p, self.vkey)
        self.assertEqual(vp.index, rs[10].index)
        with self.assertRaises(APIError) as cm:
            c.entry(10 ** 9)
        self.assertEqual(cm.exception.status, 404)
        # Read everything back from the tiles, authenticated.
        got = dict(c.entries())
        size = c.checkpoint.size
        self.assertEqual(len(got), size)
        for r, rec in zip(rs, recs):
            self.assertEqual(got[r.index], canonical_decision(rec))
        # A range across bundle boundaries, and an empty one.
        part = list(c.entries(start=250, end=520))
        self.assertEqual([i for i, _ in part], list(range(250, 520)))
        self.assertEqual(list(c.entries(start=5, end=5)), [])
        with self.assertRaises(ValueError):
            list(c.entries(end=size + 1))
        self.assertGreater(size, start + 512)

    def test_tampered_tiles_are_caught(self):
        c = self.client()
        c.log_decisions([record(5000 + i) for i in range(300)], compact=True)
        size = c.latest().size
        for target in ("/tile/entries/000", "/tile/0/000", f"/tile/0/{(size // 256):03d}.p/{size % 256}"):
            def hook(h, n, body, target=target):
                if h.path != target:
                    return False
                import urllib.request
                data = urllib.request.urlopen(self.server.url + h.path).read()
                b = bytearray(data)
                b[40] ^= 1
                answer(h, 200, bytes(b), {"Content-Type": "application/octet-stream"})
                return True
            with self.subTest(target):
                proxy = Proxy(self.server.url, hook)
                try:
                    pc = Client(proxy.url, self.vkey)
                    with self.assertRaises(ProofError):
                        list(pc.entries())
                finally:
                    proxy.close()

    def test_search(self):
        c = self.client()
        c.log_decisions([record(7000 + i, system="search-bot") for i in range(5)], compact=True)
        hits = list(c.search(system="search-bot"))
        self.assertEqual(len(hits), 5)
        self.assertEqual(hits, sorted(hits, reverse=True))
        self.assertEqual(list(c.search(system="search-bot", page_size=2)), hits)
        self.assertEqual(list(c.search(system="search-bot", limit=3, page_size=2)), hits[:3])
        self.assertEqual(list(c.search(system="nobody")), [])
        # identity= (keyless releases' verified certificate identity) is a
        # term like the others: no keyless release here, so no hit.
        self.assertEqual(list(c.search(identity="release-bot@acme.example")), [])
        with self.assertRaises(ValueError):
            list(c.search(system="search-bot", identity="release-bot@acme.example"))
        self.assertTrue(set(hits) <= set(c.search(model="acme/fraud-v3", kind="decision/v1")))
        with self.assertRaises(ValueError):
            list(c.search())
        with self.assertRaises(APIError):
            list(c.search(digest="sha256:xyz"))

    def test_access_and_evaluation(self):
        c = self.client()
        acc = {"system": "kyc-screening", "event_id": "py-open-1", "time": "2026-12-02T09:12:40Z",
               "actor": {"type": "person", "id": "analyst-py"}, "action": "read",
               "resource": {"type": "customer-file", "id": C1}, "purpose": "kyc-review",
               "legal_basis": "GDPR Art. 6(1)(c)", "labels": {}}
        ev = {"system": "kyc-screening", "evaluation_id": "py-ev-1", "time": "2026-11-20T10:00:00Z",
              "model": {"name": "acme/kyc-risk", "version": "2.0"}, "dataset": {"name": "holdout", "commitment": C2},
              "metrics": {"auroc": 0.9120, "n": 12480}, "evaluator": "qa"}
        (ra,) = c.log_access([acc])
        (re_,) = c.log_evaluations([ev])
        self.assertTrue(ra.proven and re_.proven)
        self.assertEqual(json.loads(ra.entry)["kind"], "access/v1")
        self.assertEqual(json.loads(re_.entry)["metrics"], {"auroc": 0.912, "n": 12480})
        self.assertEqual(list(c.search(actor="analyst-py")), [ra.index])
        self.assertEqual(list(c.search(event="py-ev-1")), [re_.index])
        # Logged again: the same index, a duplicate.
        (again,) = c.log_access([acc])
        self.assertEqual((again.index, again.duplicate), (ra.index, True))
        bad = dict(acc, action="peek")
        with self.assertRaises(APIError) as cm:
            c.log_access([bad])
        self.assertEqual(cm.exception.status, 400)

    def test_attest(self):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        digest = "8838fe612b8e41ec3914ef415673364471b29acd623344842b18e7ed2b6e66e9"
        stmt = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                           "subject": [{"name": "acme/fraud-v3", "digest": {"sha256": digest}}],
                           "predicateType": "https://slsa.dev/provenance/v1", "predicate": {"x": 1}}).encode()
        ptype = "application/vnd.in-toto+json"
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(stmt), stmt)
        sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        env = {"payloadType": ptype, "payload": base64.b64encode(stmt).decode(),
               "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}
        c = self.client()
        r = c.attest(envelope=env, public_key=pem)
        self.assertTrue(r.proven)
        e = json.loads(r.entry)
        self.assertEqual(e["kind"], "model-release/v1")
        self.assertEqual(e["subjects"][0]["digest"]["sha256"], digest)
        r2 = c.attest(envelope=json.dumps(env), public_key=pem)
        self.assertTrue(r2.duplicate)
        self.assertEqual(r2.index, r.index)
        self.assertIn(r.index, list(c.search(digest="sha256:" + digest, kind="model-release/v1")))
        # A signature that does not verify: 400, final.
        bad = dict(env, signatures=[{"keyid": "", "sig": base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()}])
        with self.assertRaises(APIError) as cm:
            c.attest(envelope=bad, public_key=pem)
        self.assertEqual(cm.exception.status, 400)

    def test_receipt_for_another_record_is_caught(self):
        # A log (here a proxy) that logs something else than what was sent.
        def hook(h, n, body):
            if not h.path.startswith("/api/v1/decisions"):
                return False
            import urllib.request
            other = decision_line(record(99999))
            req = urllib.request.Request(self.server.url + h.path, data=other, method="POST",
                                         headers={"Content-Type": "application/json"})
            answer(h, 200, urllib.request.urlopen(req).read(), {"Content-Type": "application/json"})
            return True
        proxy = Proxy(self.server.url, hook)
        try:
            with self.assertRaises(LeafMismatchError):
                Client(proxy.url, self.vkey).log_decision(record(1))
        finally:
            proxy.close()

    def test_errors_are_classified(self):
        port = _support.free_port()
        c = Client(f"http://127.0.0.1:{port}", self.vkey, timeout=2)
        with self.assertRaises(TransportError) as cm:
            c.latest()
        self.assertIsInstance(cm.exception, CouldNotCheckError)

        def hook(h, n, body):
            answer(h, 503, b'{"error":"the log is busy"}', {"Retry-After": "7", "Content-Type": "application/json"})
            return True
        proxy = Proxy(self.server.url, hook)
        try:
            with self.assertRaises(UnavailableError) as cm:
                Client(proxy.url, self.vkey).log_decision(record(1))
            e = cm.exception
            self.assertEqual((e.status, e.retry_after, e.reason), (503, 7.0, "the log is busy"))
            self.assertIsInstance(e, CouldNotCheckError)
        finally:
            proxy.close()

    def test_cross_language_cli(self):
        """Commitments and proofs agree with the Go CLI."""
        with TempDir() as d:
            content = os.path.join(d, "input.txt")
            with open(content, "wb") as f:
                f.write(b"the prompt \x00\xff")
            out = subprocess.run([tlog_bin(), "decision", "commit", "--in", content], check=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode().split("\n")[0]
            with open(content + ".salt") as f:
                salt = bytes.fromhex(f.read().strip())
            self.assertEqual(commit(salt, b"the prompt \x00\xff"), out)
            mine = commit(b"\x07" * 32, b"the prompt \x00\xff")
            subprocess.run([tlog_bin(), "decision", "open", "--commitment", mine, "--salt", "07" * 32, "--in", content],
                           check=True, stdout=subprocess.DEVNULL)
            # A proof the SDK fetched verifies with tlog verify. With a
            # trailing newline (jq -r) the strict parser refuses it (as
            # proofs.VerifyTlogProof), while tlog verify trims it, as
            # load_tlog_proof does.
            c = self.client()
            r = c.log_decision(record(424242))
            entry, proof = os.path.join(d, "entry"), os.path.join(d, "proof")
            pub = self.key_file[:-4] + ".pub"
            with open(entry, "wb") as f:
                f.write(r.entry)
            for data in (r.tlog_proof, r.tlog_proof + b"\n"):
                with open(proof, "wb") as f:
                    f.write(data)
                p = subprocess.run([tlog_bin(), "verify", "--key", pub, "--entry", entry, "--proof", proof],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(b"verified: index %d" % r.index, p.stdout)
                verify_tlog_proof(r.entry, load_tlog_proof(proof), self.vkey)
            with self.assertRaises(MalformedError):
                verify_tlog_proof(r.entry, r.tlog_proof + b"\n", self.vkey)
            # And a tampered proof fails in both.
            bad = r.tlog_proof.replace(b"index %d\n" % r.index, b"index %d\n" % (r.index + 1))
            with open(proof, "wb") as f:
                f.write(bad)
            p = subprocess.run([tlog_bin(), "verify", "--key", pub, "--entry", entry, "--proof", proof],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(p.returncode, 1)
            with self.assertRaises(ProofError):
                verify_tlog_proof(r.entry, bad, self.vkey)


class StateTest(unittest.TestCase):
    """The state file across two client runs, and against a forked log."""

    def test_state_across_runs_and_fork(self):
        with TempDir() as d:
            key_file, vkey = keygen(d, "fork.example/log")
            state = os.path.join(d, "state.checkpoint")
            a = Server(os.path.join(d, "a"), key_file).start()
            try:
                c1 = Client(a.url, vkey, state_file=state)
                for e in (b"a0", b"a1", b"a2"):
                    c1.add(e)
                cp1 = c1.latest()
                self.assertEqual(cp1.size, 3)
                with open(state, "rb") as f:
                    self.assertEqual(f.read(), cp1.note)
                # Second run: the state is loaded, then moved forward only
                # with a consistency proof.
                c1.add(b"a3")
                c2 = Client(a.url, vkey, state_file=state)
                self.assertEqual(c2.checkpoint.note, cp1.note)
                cp2 = c2.latest()
                self.assertEqual(cp2.size, 4)
                with open(state, "rb") as f:
                    self.assertEqual(f.read(), cp2.note)
                kept = cp2.note
            finally:
                a.stop()
            # B: the same key over another store — a fork.
            b = Server(os.path.join(d, "b"), key_file, args=["--checkpoint-history", "0"]).start()
            try:
                cb = Client(b.url, vkey)
                for e in (b"b0", b"b1", b"b2", b"b3", b"b4"):
                    cb.add(e)
                c3 = Client(b.url, vkey, state_file=state)
                with self.assertRaises(InconsistentError) as cm:
                    c3.latest()
                e = cm.exception
                self.assertIn("the tiles of tree size 5 give root", str(e))  # confirmed from B's own tiles
                self.assertEqual(e.kept, kept)
                seen = verify_checkpoint(e.seen, vkey)  # both are signed by the log: evidence
                self.assertEqual(verify_checkpoint(e.kept, vkey).size, 4)
                self.assertEqual(seen.size, 5)
                with open(state, "rb") as f:
                    self.assertEqual(f.read(), kept)  # unchanged
                self.assertEqual(c3.checkpoint.note, kept)
                # The same size with another root: no proof needed.
                c4 = Client(b.url, vkey, state_file=os.path.join(d, "s4"))
                with open(os.path.join(d, "s4"), "wb") as f:
                    f.write(kept)
                c4 = Client(b.url, vkey, state_file=os.path.join(d, "s4"))
                with self.assertRaises(InconsistentError):
                    c4.verify_checkpoint(b_note_of_size(b, vkey, 4))
                # Receipts carry checkpoints too: B's receipt is refused.
                with self.assertRaises(InconsistentError):
                    c3.log_decision(record(1))
                with open(state, "rb") as f:
                    self.assertEqual(f.read(), kept)
            finally:
                b.stop()
            # C: a shorter fork; it cannot prove its tree is a prefix of the
            # kept one (the proof is out of its range): could not check.
            cdir = os.path.join(d, "c")
            c = Server(cdir, key_file).start()
            try:
                Client(c.url, vkey).add(b"c0")
                c5 = Client(c.url, vkey, state_file=state)
                with self.assertRaises(CouldNotCheckError):
                    c5.latest()
                with open(state, "rb") as f:
                    self.assertEqual(f.read(), kept)
            finally:
                c.stop()


class SpoiledProofTest(unittest.TestCase):
    def test_spoiled_consistency_proof_is_not_a_fork(self):
        """An honest log behind a proxy that spoils consistency proofs: the
        tiles show the trees are consistent, so no InconsistentError; a
        real fork is still caught (test_state_across_runs_and_fork)."""
        from _reference import mth

        with TempDir() as d:
            key_file, vkey = keygen(d, "spoil.example/log")
            srv = Server(os.path.join(d, "data"), key_file).start()
            try:
                c = Client(srv.url, vkey, state_file=os.path.join(d, "state"))
                entries = [b"e%d" % i for i in range(700)]
                for e in entries[:300]:
                    c.add(e)
                self.assertEqual(c.latest().size, 300)
                c.log_decisions([], compact=True)
                for e in entries[300:]:
                    c.add(e)

                def hook(h, n, body):
                    if not h.path.startswith("/api/v1/proofs/consistency"):
                        return False
                    import urllib.request
                    j = json.loads(urllib.request.urlopen(srv.url + h.path).read())
                    hs = bytearray(base64.b64decode(j["hashes"][0]))
                    hs[0] ^= 1
                    j["hashes"][0] = base64.b64encode(bytes(hs)).decode()
                    answer(h, 200, json.dumps(j).encode(), {"Content-Type": "application/json"})
                    return True
                proxy = Proxy(srv.url, hook)
                try:
                    pc = Client(proxy.url, vkey, state_file=os.path.join(d, "state"))
                    self.assertEqual(pc.latest().size, 700)  # consistent, shown by the tiles
                    with open(os.path.join(d, "state"), "rb") as f:
                        self.assertEqual(verify_checkpoint(f.read(), vkey).size, 700)
                finally:
                    proxy.close()
                # The root of any prefix, from the authenticated tiles.
                cp = c.latest()
                for m in (1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 699, 700):
                    self.assertEqual(c._root_at(cp, m), mth(entries[:m]), m)
            finally:
                srv.stop()


def b_note_of_size(server, vkey, size):
    """The signed checkpoint of ``size`` from the server's history."""
    import urllib.request
    j = json.loads(urllib.request.urlopen(f"{server.url}/api/v1/proofs/consistency?old=1&new={size}").read())
    return j["checkpoint"].encode()


if __name__ == "__main__":
    unittest.main()
