#!/usr/bin/env python3
"""Log the decisions of a (toy) model serving loop through DecisionLogger.

Each request is answered at once; the decision record — which model
decided what, with salted commitments to the private input and output —
is queued and logged in the background. The salts and contents stay with
the operator (here in OUT/vault.jsonl); the log holds only commitments.
At the end the logger reports exactly which records are confirmed, and
the tlog-proof of the first decision is saved for offline verification
(see verify_offline.py).

    python3 examples/serving_loop.py --log http://127.0.0.1:8080 --key log.pub --out ./decisions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tlog_ai import Client, DecisionLogger, new_decision  # noqa: E402

MODEL = ("acme/fraud-v3", "3.1.0")


def score(transaction: dict) -> str:
    """The 'model': approve small amounts, escalate the rest."""
    return "approved" if transaction["amount"] < 1000 else "escalated"


def main() -> None:
    """Serve a few requests and log their decisions."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", required=True, help="log URL")
    ap.add_argument("--key", required=True, help="the log's verifier key, or its log.pub file")
    ap.add_argument("--out", default="decisions", help="directory for the vault and the proof")
    ap.add_argument("--requests", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    client = Client(args.log, args.key, state_file=os.path.join(args.out, "log.checkpoint"))
    requests = [{"id": f"tx-{i:04d}", "customer": f"cust-{i % 3}", "amount": 250 * (i + 1)} for i in range(args.requests)]
    vault = open(os.path.join(args.out, "vault.jsonl"), "a", encoding="utf-8")
    run = uuid.uuid4().hex[:8]

    with DecisionLogger(client, max_batch=100, max_age=0.2) as dl:
        for req in requests:  # the serving loop
            outcome = score(req)
            answer = {"request": req["id"], "decision": outcome}
            record, salts = new_decision(
                system="payments-fraud", decision_id=f"{run}-{req['id']}", model_name=MODEL[0], model_version=MODEL[1],
                input=json.dumps(req, sort_keys=True), output=json.dumps(answer, sort_keys=True),
                actor="user-" + hashlib.sha256(req["customer"].encode()).hexdigest()[:8], outcome=outcome,
                labels={"region": "eu"},
            )
            dl.log(record)  # never blocks on the network
            vault.write(json.dumps({"decision_id": record["decision_id"], "input": req, "output": answer,
                                    "salts": {k: v.hex() for k, v in salts.items() if isinstance(v, bytes)}}) + "\n")
            print(f"served {req['id']}: {outcome}")
    vault.close()
    rep = dl.report
    print(f"confirmed {rep.confirmed_count} of {len(requests)} decisions "
          f"(refused {len(rep.refused)}, failed {len(rep.failed)}, pending {len(rep.pending)})")
    for record, receipt in rep.confirmed:
        print(f"  {record['decision_id']}  index {receipt.index}  leaf {receipt.leaf_hash.hex()[:16]}…"
              f"{'  (already logged)' if receipt.duplicate else ''}")

    # Keep an offline proof of the first decision beside its entry.
    record, receipt = rep.confirmed[0]
    proof = client.prove(receipt.index)
    entry = client.entry(receipt.index).entry
    base = os.path.join(args.out, "decision-0")
    with open(base + ".entry", "wb") as f:
        f.write(entry)
    with open(base + ".tlog-proof", "wb") as f:
        f.write(proof)
    print(f"proof of index {receipt.index} in tree of size {client.checkpoint.size} written to {base}.tlog-proof")


if __name__ == "__main__":
    main()
