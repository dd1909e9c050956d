// Command gendecisions writes N synthetic records as NDJSON, for load tests
// of tlog decide and tlog access (scripts/bench-decide): decision/v1
// records by default, access/v1 records with -kind access. Records are
// deterministic for a given -seed, so a second run resumes the same file.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "records")
	seed := flag.String("seed", "tlog", "seed of the commitments")
	kind := flag.String("kind", "decision", "record kind: decision or access")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	commit := func(i int, what string) string {
		sum := sha256.Sum256([]byte(*seed + "/" + strconv.Itoa(i) + "/" + what))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	at := func(i int) string { return base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano) }
	switch *kind {
	case "decision":
		systems := []string{"support-bot", "kyc-screening", "triage-recommender", "payments-fraud"}
		outcomes := []string{"approved", "declined", "escalated", "answered"}
		for i := range *n {
			fmt.Fprintf(w, `{"system":%q,"decision_id":"d-%09d","time":%q,"model":{"name":"acme/decider-%d","version":"2.%d.0"},"actor":"user-%06d","outcome":%q,"labels":{"region":"eu","channel":"web"},"commitments":{"input":%q,"output":%q,"rationale":%q}}`+"\n",
				systems[i%len(systems)], i, at(i), i%3, i%5, i%100000, outcomes[i%len(outcomes)], commit(i, "in"), commit(i, "out"), commit(i, "why"))
		}
	case "access":
		// 1,000 analysts (their ids committed: personal data), 100,000
		// customer files, one record seen per event.
		systems := []string{"kyc-workflow", "patient-records", "support-desk", "payments-ops"}
		actions := []string{"read", "read", "query", "export"}
		purposes := []string{"kyc-review", "treatment", "support-case", "fraud-investigation"}
		for i := range *n {
			fmt.Fprintf(w, `{"system":%q,"event_id":"a-%09d","time":%q,"actor":{"type":"person","id":%q},"action":%q,"resource":{"type":"customer-file","id":"file-%06d"},"records":[%q],"purpose":%q,"legal_basis":"GDPR Art. 6(1)(c)","labels":{"region":"eu"}}`+"\n",
				systems[i%len(systems)], i, at(i), commit(i%1000, "analyst"), actions[i%len(actions)], (i*7919)%100000, commit(i, "record"), purposes[i%len(purposes)])
		}
	default:
		fmt.Fprintf(os.Stderr, "gendecisions: -kind %q: want decision or access\n", *kind)
		os.Exit(2)
	}
}
