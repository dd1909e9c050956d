#!/usr/bin/env python3
"""Measure decision records/s through the Python DecisionLogger.

Against a log you run::

    python3 examples/bench_logger.py --log http://127.0.0.1:8080 --key log.pub -n 50000

or, with no --log, against a fresh ``tlog serve`` this script starts in a
temporary directory (binary: --tlog, else $TLOG_BIN, else ``tlog`` on PATH,
else built with ``go build ./cmd/tlog`` from this repository)::

    python3 examples/bench_logger.py -n 50000

Every record is durable in the log before its receipt is confirmed (the
log acknowledges after fsync), and every receipt's leaf hash is checked
against the canonical entry built locally. With --verify the whole log is
then read back through its tiles and each record counted exactly once.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tlog_ai import Client, DecisionLogger, canonical_decision, commit, leaf_hash  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def find_tlog(explicit: str | None) -> str:
    """The tlog binary to start."""
    for b in (explicit, os.environ.get("TLOG_BIN"), shutil.which("tlog")):
        if b:
            return b
    out = os.path.join(tempfile.gettempdir(), "tlog-ai-bench-tlog")
    subprocess.run(["go", "build", "-o", out, "./cmd/tlog"], cwd=REPO, check=True)
    return out


def start_server(binary: str, workdir: str) -> tuple[subprocess.Popen, str, str]:
    """Start a fresh tlog serve; return (process, url, verifier key)."""
    prefix = os.path.join(workdir, "bench")
    vkey = subprocess.run([binary, "keygen", "--origin", "bench.example/log", "--out", prefix],
                          check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    log = open(os.path.join(workdir, "serve.log"), "wb")
    p = subprocess.Popen([binary, "serve", "--data", os.path.join(workdir, "data"), "--key", prefix + ".key",
                          "--listen", "127.0.0.1:0"], stdout=log, stderr=log)
    for _ in range(500):
        with open(os.path.join(workdir, "serve.log"), "rb") as f:
            m = re.search(rb"msg=listening addr=(\S+)", f.read())
        if m:
            return p, "http://" + m.group(1).decode(), vkey
        time.sleep(0.02)
    p.kill()
    raise SystemExit("tlog serve did not start")


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50000, help="records to log (default 50000)")
    ap.add_argument("--log", help="log URL (default: start a fresh tlog serve)")
    ap.add_argument("--key", help="the log's verifier key or log.pub file (with --log)")
    ap.add_argument("--tlog", help="tlog binary to start (without --log)")
    ap.add_argument("--batch", type=int, default=1000, help="max_batch (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="requests in flight (default 2)")
    ap.add_argument("--full", action="store_true", help="full receipts: check every inclusion proof")
    ap.add_argument("--prove", action="store_true", help="prove compact receipts through the log's hash tiles")
    ap.add_argument("--verify", action="store_true", help="read the log back through the tiles and count each record")
    args = ap.parse_args()

    proc = None
    workdir = tempfile.mkdtemp(prefix="tlog-ai-bench-")
    try:
        if args.log:
            url, key = args.log, args.key
            if not key:
                raise SystemExit("--log needs --key")
        else:
            proc, url, key = start_server(find_tlog(args.tlog), workdir)
        client = Client(url, key)
        start_size = client.latest().size
        run = os.urandom(4).hex()
        salt = os.urandom(32)
        c_out = commit(salt, b"output")
        records = [{"system": "bench", "decision_id": f"{run}-{i}", "time": "2026-11-27T09:14:03.000Z",
                    "model": {"name": "acme/fraud-v3", "version": "3.1.0"},
                    "outcome": "approved", "labels": {"region": "eu"},
                    "commitments": {"input": commit(salt, b"input %d" % i), "output": c_out}} for i in range(args.n)]
        t0 = time.monotonic()
        dl = DecisionLogger(client, max_batch=args.batch, workers=args.workers, full_receipts=args.full,
                            prove=args.prove, keep_results=False, max_queue=max(args.n, 1))
        for r in records:
            dl.log(r)
        t_queued = time.monotonic()
        rep = dl.close()
        t1 = time.monotonic()
        dt = t1 - t0
        print(f"logged {rep.confirmed_count:,} of {args.n:,} records in {dt:.2f}s: {rep.confirmed_count / dt:,.0f} records/s "
              f"(queueing alone: {args.n / (t_queued - t0):,.0f}/s; {int(dl.stats['requests'])} requests, "
              f"batch {args.batch}, {args.workers} in flight, {'full' if args.full else 'compact'} receipts"
              f"{', proven through the tiles' if args.prove else ''})")
        if not rep.ok:
            print(f"NOT all confirmed: {rep}")
            sys.exit(1)
        if args.verify:
            t2 = time.monotonic()
            cp = client.latest()
            want = collections.Counter(leaf_hash(canonical_decision(r)) for r in records)
            got = collections.Counter()
            for _, e in client.entries(start=start_size, checkpoint=cp):
                h = leaf_hash(e)
                if h in want:
                    got[h] += 1
            ok = all(got[h] == 1 for h in want)
            print(f"read back {cp.size - start_size:,} entries through the tiles in {time.monotonic() - t2:.2f}s: "
                  f"{'every record exactly once' if ok else 'MISMATCH'}")
            if not ok:
                sys.exit(1)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
