"""DecisionLogger against a real ``tlog serve``: batching, 503 with
Retry-After, refused lines, SIGKILL and restart mid-stream (every record
confirmed exactly once, read back through the tiles), bounds."""

import collections
import json
import os
import threading
import time
import unittest

import _support
from _support import Proxy, Server, TempDir, answer, free_port, keygen

from tlog_ai import (
    Client,
    DecisionLogger,
    LeafMismatchError,
    SignatureError,
    NotConfirmedError,
    QueueFull,
    RecordRefused,
    TransportError,
    canonical_decision,
    commit,
)
from tlog_ai.merkle import leaf_hash

C1 = commit(b"\x01" * 32, b"input")
C2 = commit(b"\x02" * 32, b"output")


def record(i, system="logger-bot"):
    return {"system": system, "decision_id": f"r-{i}", "time": "2026-11-27T09:14:03Z",
            "model": {"name": "acme/fraud-v3", "version": "3.1.0"},
            "commitments": {"input": C1, "output": C2}}


class LoggerCase(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.dir = self.tmp.__enter__()
        self.key_file, self.vkey = keygen(self.dir, "logger.example/log")
        self.server = Server(os.path.join(self.dir, "data"), self.key_file).start()

    def tearDown(self):
        self.server.stop()
        self.tmp.__exit__()

    def assert_in_log_exactly_once(self, client, records):
        counts = collections.Counter(leaf_hash(e) for _, e in client.entries())
        for r in records:
            self.assertEqual(counts[leaf_hash(canonical_decision(r))], 1, r["decision_id"])
        return counts


class LoggerTest(LoggerCase):
    def test_batches_receipts_and_callbacks(self):
        c = Client(self.server.url, self.vkey)
        seen = []
        receipts = os.path.join(self.dir, "receipts.ndjson")
        recs = [record(i) for i in range(2500)]
        with DecisionLogger(c, max_batch=1000, max_age=5, on_receipt=lambda r, rc: seen.append((r, rc)),
                            receipts_file=receipts, workers=1) as dl:
            futures = [dl.log(r) for r in recs]
            rep = dl.flush(timeout=30)
            self.assertEqual(rep.confirmed_count, 2500)
            self.assertTrue(rep.ok)
            self.assertEqual(dl.stats["requests"], 3)  # by count, not age
            # A lone record goes out by age.
            t = time.monotonic()
            f = dl.log(record(99999))
            dl.max_age = 0.2
            f.result(timeout=10)
        self.assertTrue(dl.report.ok)
        self.assertEqual(len(seen), 2501)
        self.assertEqual({id(r) for r, _ in rep.confirmed}, {id(r) for r in recs})
        for fut, r in zip(futures, recs):
            rc = fut.result()
            self.assertEqual(rc.leaf_hash, leaf_hash(canonical_decision(r)))
        with open(receipts) as fh:
            lines = [json.loads(l) for l in fh]
        self.assertEqual(len(lines), 2501)
        self.assertEqual(lines[0]["record"]["decision_id"], "r-0")
        self.assertEqual(sorted(l["receipt"]["index"] for l in lines), list(range(2501)))
        self.assert_in_log_exactly_once(c, recs)
        # Logging the same records again: duplicates, same indices.
        with DecisionLogger(c, full_receipts=True) as dl2:
            again = [dl2.log(r) for r in recs[:10]]
        for a, fut in zip(again, futures):
            self.assertTrue(a.result().duplicate)
            self.assertTrue(a.result().proven)
            self.assertEqual(a.result().index, fut.result().index)

    def test_prove_compact_receipts_and_a_log_of_another_key(self):
        c = Client(self.server.url, self.vkey)
        recs = [record(i) for i in range(600)]
        with DecisionLogger(c, prove=True, max_age=0.05) as dl:
            futs = [dl.log(r) for r in recs]
        self.assertTrue(all(f.result().proven for f in futs))
        self.assertEqual(futs[0].result().checkpoint.size, 600)
        # Client.prove_receipts catches a receipt for another leaf.
        rcs = c.log_decisions(recs[:3], compact=True)
        rcs[1].leaf_hash = rcs[2].leaf_hash
        with self.assertRaises(LeafMismatchError):
            c.prove_receipts(rcs)
        # The server at the URL is the log of another key (a port mix-up):
        # compact receipts alone cannot tell; prove=True can.
        with TempDir() as d:
            other_key_file, _ = keygen(d, "logger.example/log")
            other = Server(os.path.join(d, "data"), other_key_file).start()
            try:
                wrong = Client(other.url, self.vkey)
                with DecisionLogger(wrong, max_age=0.01) as dl:
                    f = dl.log(record(1))
                self.assertFalse(f.result().proven)  # "confirmed" on its leaf hash only
                with self.assertRaises(NotConfirmedError) as cm:
                    with DecisionLogger(wrong, prove=True, max_age=0.01) as dl:
                        f = dl.log(record(2))
                self.assertIsInstance(cm.exception.report.failed[0][1], SignatureError)
                with self.assertRaises(SignatureError):
                    f.result()
            finally:
                other.stop()

    def test_retry_after_503(self):
        """A proxy answers 503 + Retry-After: 1 to the first two POSTs."""
        posts = []

        def hook(h, n, body):
            if h.command != "POST":
                return False
            posts.append(time.monotonic())
            if len(posts) <= 2:
                answer(h, 503, b'{"error":"pending pool full"}', {"Retry-After": "1", "Content-Type": "application/json"})
                return True
            return False

        proxy = Proxy(self.server.url, hook)
        try:
            c = Client(proxy.url, self.vkey)
            recs = [record(i) for i in range(50)]
            t0 = time.monotonic()
            with DecisionLogger(c, max_age=0.01) as dl:
                for r in recs:
                    dl.log(r)
                rep = dl.flush(timeout=20)
            self.assertEqual(rep.confirmed_count, 50)
            self.assertTrue(dl.report.ok)
            self.assertGreaterEqual(len(posts), 3)
            # Never earlier than Retry-After says.
            self.assertGreaterEqual(posts[1] - posts[0], 1.0)
            self.assertGreaterEqual(posts[2] - posts[1], 1.0)
            self.assertGreaterEqual(dl.stats["slept"], 2.0)
            self.assertGreaterEqual(time.monotonic() - t0, 2.0)
            self.assert_in_log_exactly_once(Client(self.server.url, self.vkey), recs)
        finally:
            proxy.close()

    def test_refused_lines_are_final_and_the_rest_is_logged(self):
        """A 400 naming lines 2 and 5: those records are refused, the rest
        sent again and logged."""
        bodies = []

        def hook(h, n, body):
            if h.command != "POST":
                return False
            bodies.append(body)
            if len(bodies) == 1:
                err = {"error": "2 of 6 records rejected, nothing was logged", "lines": [
                    {"line": 2, "reason": "policy says no"}, {"line": 5, "reason": "also no"}]}
                answer(h, 400, json.dumps(err).encode(), {"Content-Type": "application/json"})
                return True
            return False

        proxy = Proxy(self.server.url, hook)
        try:
            c = Client(proxy.url, self.vkey)
            recs = [record(i) for i in range(6)]
            dl = DecisionLogger(c, max_batch=6, max_age=10)
            futures = [dl.log(r) for r in recs]
            rep = dl.close(timeout=20)
            self.assertEqual([r["decision_id"] for r, _ in rep.refused], ["r-1", "r-4"])
            self.assertEqual([e.line for _, e in rep.refused], [2, 5])
            self.assertEqual(rep.refused[0][1].reason, "policy says no")
            self.assertEqual(sorted(r["decision_id"] for r, _ in rep.confirmed), ["r-0", "r-2", "r-3", "r-5"])
            self.assertFalse(rep.ok)
            with self.assertRaises(RecordRefused):
                futures[1].result()
            self.assertEqual(len(bodies), 2)
            self.assertEqual(bodies[1].count(b"\n"), 4)  # not retried: the refused ones
            counts = collections.Counter(leaf_hash(e) for _, e in Client(self.server.url, self.vkey).entries())
            self.assertEqual(counts[leaf_hash(canonical_decision(recs[1]))], 0)
            self.assertEqual(counts[leaf_hash(canonical_decision(recs[0]))], 1)
        finally:
            proxy.close()

    def test_kill_and_restart_mid_stream(self):
        """SIGKILL the server while records stream in; restart it on the
        same data directory and port. Every record is confirmed, and each
        canonical entry is in the log exactly once."""
        c = Client(self.server.url, self.vkey, timeout=5)
        n = 3000
        recs = [record(i) for i in range(n)]
        confirmed = []
        dl = DecisionLogger(c, max_batch=100, max_age=0.01, max_backoff=0.5,
                            on_receipt=lambda r, rc: confirmed.append(rc))

        def produce():
            for i, r in enumerate(recs):
                dl.log(r)
                if i % 50 == 0:
                    time.sleep(0.005)

        t = threading.Thread(target=produce)
        t.start()
        end = time.monotonic() + 20
        while len(confirmed) < 800 and time.monotonic() < end:
            time.sleep(0.01)
        self.server.kill()
        killed_at = len(confirmed)
        time.sleep(0.5)
        self.server.start()
        t.join()
        rep = dl.close(timeout=60)
        self.assertTrue(rep.ok, rep)
        self.assertEqual(rep.confirmed_count, n)
        self.assertLess(killed_at, n)
        self.assertGreater(dl.stats["retries"], 0)
        got = {id(r) for r, _ in rep.confirmed}
        self.assertEqual(got, {id(r) for r in recs})
        indices = sorted(rc.index for _, rc in rep.confirmed)
        self.assertEqual(indices, list(range(n)))  # a fresh log: one index each
        counts = self.assert_in_log_exactly_once(Client(self.server.url, self.vkey), recs)
        self.assertEqual(sum(counts.values()), n)

    def test_queue_full_and_not_confirmed(self):
        dead = f"http://127.0.0.1:{free_port()}"
        c = Client(dead, self.vkey, timeout=1)
        dl = DecisionLogger(c, max_batch=2, max_queue=3, max_age=0.01, workers=1)
        dl.log(record(0))
        dl.log(record(1))
        end = time.monotonic() + 5
        while dl.qsize() and time.monotonic() < end:  # the worker holds them, retrying
            time.sleep(0.005)
        for i in range(2, 5):
            dl.log(record(i), block=False)
        with self.assertRaises(QueueFull):
            dl.log(record(5), block=False)
        t = time.monotonic()
        with self.assertRaises(QueueFull):
            dl.log(record(11), timeout=0.2)
        self.assertGreaterEqual(time.monotonic() - t, 0.2)
        rep = dl.close(timeout=0.5)
        self.assertFalse(rep.ok)
        self.assertEqual(rep.confirmed_count, 0)
        self.assertEqual(sorted(r["decision_id"] for r in rep.pending), ["r-0", "r-1", "r-2", "r-3", "r-4"])
        with self.assertRaises(Exception):
            dl.log(record(12))

    def test_gives_up_after_retries_and_context_manager_raises(self):
        dead = f"http://127.0.0.1:{free_port()}"
        c = Client(dead, self.vkey, timeout=1)
        with self.assertRaises(NotConfirmedError) as cm:
            with DecisionLogger(c, max_retries=2, max_age=0.01, max_backoff=0.05) as dl:
                f = dl.log(record(1))
        rep = cm.exception.report
        self.assertEqual(len(rep.failed), 1)
        self.assertIsInstance(rep.failed[0][1], TransportError)
        with self.assertRaises(TransportError):
            f.result()
        self.assertEqual(dl.stats["requests"], 3)


if __name__ == "__main__":
    unittest.main()
