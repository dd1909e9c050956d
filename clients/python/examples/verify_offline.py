#!/usr/bin/env python3
"""Verify a decision record offline, with nothing but the log's public key.

Checks the tlog-proof file (the checkpoint's signature by the log — and,
with --policy, a witness quorum — and the entry's inclusion), then, as an
auditor handed the private content and salts from the operator's vault,
opens the record's commitments. No network.

    python3 examples/verify_offline.py --key log.pub \\
        --entry decisions/decision-0.entry --proof decisions/decision-0.tlog-proof \\
        --vault decisions/vault.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tlog_ai import (  # noqa: E402
    CommitmentError,
    MalformedError,
    VerificationError,
    load_tlog_proof,
    open_commitment,
    verify_tlog_proof,
)


def main() -> None:
    """Verify and open."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--key", required=True, help="the log's log.pub (or verifier key string)")
    ap.add_argument("--policy", help="c2sp.org/tlog-policy file: also require a witness quorum")
    ap.add_argument("--entry", required=True, help="the entry's exact bytes")
    ap.add_argument("--proof", required=True, help="its tlog-proof file (a trailing jq -r newline is fine)")
    ap.add_argument("--vault", help="the operator's vault (JSONL of content and salts), to open the commitments")
    args = ap.parse_args()

    key = open(args.key).read().strip() if os.path.exists(args.key) else args.key
    policy = open(args.policy, "rb").read() if args.policy else None
    with open(args.entry, "rb") as f:
        entry = f.read()
    try:
        vp = verify_tlog_proof(entry, load_tlog_proof(args.proof), key, policy)
    except (VerificationError, MalformedError) as e:
        print(f"NOT verified: {type(e).__name__}: {e}")
        sys.exit(1)
    cp = vp.checkpoint
    print(f"verified: index {vp.index} in tree of size {cp.size} signed by {cp.origin}"
          + (f" and cosigned by a witness quorum ({len(cp.signatures) - 1} cosignatures)" if policy else ""))
    record = json.loads(entry)
    print(f"decision {record['decision_id']} of {record['system']}: model {record['model']['name']} "
          f"{record['model']['version']}, outcome {record.get('outcome', '-')}, at {record['time']}")

    # Tampering with a single byte of the entry breaks the proof.
    tampered = entry.replace(b'"approved"', b'"escalated"') if b'"approved"' in entry else entry + b" "
    try:
        verify_tlog_proof(tampered, load_tlog_proof(args.proof), key, policy)
        print("tampered entry verified?!")
        sys.exit(1)
    except VerificationError as e:
        print(f"tampered entry: NOT verified ({e})")

    if args.vault:
        with open(args.vault, encoding="utf-8") as f:
            opening = next((json.loads(l) for l in f if json.loads(l)["decision_id"] == record["decision_id"]), None)
        if opening is None:
            print("no opening in the vault for this decision")
            sys.exit(1)
        c = record["commitments"]
        for what in ("input", "output"):
            content = json.dumps(opening[what], sort_keys=True)
            try:
                open_commitment(c[what], bytes.fromhex(opening["salts"][what]), content)
                print(f"opened {what}: {content}")
            except CommitmentError as e:
                print(f"NOT opened {what}: {e}")
                sys.exit(1)
        other = json.dumps(dict(opening["input"], amount=1), sort_keys=True)
        try:
            open_commitment(c["input"], bytes.fromhex(opening["salts"]["input"]), other)
            print("other content opened?!")
            sys.exit(1)
        except CommitmentError:
            print(f"other content {other}: NOT opened")


if __name__ == "__main__":
    main()
