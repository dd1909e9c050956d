// Command gendecisions writes N synthetic decision records as NDJSON, for
// load tests of tlog decide (scripts/bench-decide). Records are
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
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	systems := []string{"support-bot", "kyc-screening", "triage-recommender", "payments-fraud"}
	outcomes := []string{"approved", "declined", "escalated", "answered"}
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	commit := func(i int, what string) string {
		sum := sha256.Sum256([]byte(*seed + "/" + strconv.Itoa(i) + "/" + what))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	for i := range *n {
		fmt.Fprintf(w, `{"system":%q,"decision_id":"d-%09d","time":%q,"model":{"name":"acme/decider-%d","version":"2.%d.0"},"actor":"user-%06d","outcome":%q,"labels":{"region":"eu","channel":"web"},"commitments":{"input":%q,"output":%q,"rationale":%q}}`+"\n",
			systems[i%len(systems)], i, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano),
			i%3, i%5, i%100000, outcomes[i%len(outcomes)], commit(i, "in"), commit(i, "out"), commit(i, "why"))
	}
}
