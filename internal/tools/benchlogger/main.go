// Command benchlogger measures records/s through the Go client's
// DecisionLogger against a running log: it logs -n synthetic decision
// records one Log call at a time, as a serving loop would, closes the
// logger and prints how many were confirmed and how fast. A bounded run:
// -n records, and -timeout for the whole of it.
//
//	go run ./internal/tools/benchlogger -log http://127.0.0.1:8080 -key log.pub -n 100000
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/signer"
)

func main() {
	logURL := flag.String("log", "http://127.0.0.1:8080", "log URL")
	keyFile := flag.String("key", "", "log verifier key file (optional: receipts are compact either way)")
	n := flag.Int("n", 100000, "records")
	batch := flag.Int("batch", 1000, "LoggerConfig.MaxBatch")
	inflight := flag.Int("inflight", 2, "LoggerConfig.InFlight")
	seed := flag.String("seed", strconv.FormatInt(time.Now().UnixNano(), 36), "seed of the records (a new one per run: no duplicates)")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound of the whole run")
	flag.Parse()
	var opts []client.Option
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		check(err)
		v, err := signer.NewVerifier(string(b))
		check(err)
		opts = append(opts, client.WithLogKey(v))
	}
	opts = append(opts, client.WithToken(os.Getenv("TLOG_TOKEN")))
	c, err := client.New(*logURL, opts...)
	check(err)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var confirmed, dups int
	l := c.NewDecisionLogger(client.LoggerConfig{MaxBatch: *batch, InFlight: *inflight, OnReceipt: func(r client.Confirmed) {
		confirmed++
		if r.Receipt.Duplicate {
			dups++
		}
	}})
	start := time.Now()
	for i := range *n {
		sum := sha256.Sum256([]byte(*seed + "/" + strconv.Itoa(i)))
		h := hex.EncodeToString(sum[:])
		rec := fmt.Sprintf(`{"system":"bench","decision_id":"%s-%d","time":"2026-12-02T10:00:00Z","model":{"name":"acme/chat","version":"1.0"},"commitments":{"input":"sha256:%s","output":"sha256:%s"}}`, *seed, i, h, h)
		if _, err := l.Log(ctx, []byte(rec)); err != nil {
			check(err)
		}
	}
	queued := time.Since(start)
	rep, err := l.Close(ctx)
	took := time.Since(start)
	fmt.Printf("%d records: queued in %v, all confirmed in %v: %.0f records/s (confirmed %d, duplicates %d, refused %d, unconfirmed %d)\n",
		*n, queued.Round(time.Millisecond), took.Round(time.Millisecond), float64(rep.Confirmed)/took.Seconds(), confirmed, dups, len(rep.Failed), len(rep.Pending))
	check(err)
	check(rep.Err())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchlogger:", err)
		os.Exit(1)
	}
}
