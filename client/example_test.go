package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/signer"
)

// A serving loop logs one decision record per interaction through a
// DecisionLogger, and at shutdown learns exactly which were confirmed.
func ExampleDecisionLogger() {
	vkey, err := os.ReadFile("log.pub")
	if err != nil {
		log.Fatal(err)
	}
	v, err := signer.NewVerifier(string(vkey))
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New("http://127.0.0.1:8080", client.WithLogKey(v),
		client.WithStateFile("tlog.state"), client.WithToken(os.Getenv("TLOG_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	receipts, err := os.Create("receipts.ndjson")
	if err != nil {
		log.Fatal(err)
	}
	defer receipts.Close()
	dl := c.NewDecisionLogger(client.LoggerConfig{Receipts: receipts})
	ctx := context.Background()
	for i := range 3 {
		record := fmt.Sprintf(`{"system":"support-bot","decision_id":"chat-%d","time":%q,`+
			`"model":{"name":"acme/chat","version":"1.4.2"},`+
			`"commitments":{"input":"sha256:%064x","output":"sha256:%064x"}}`, i, time.Now().UTC().Format(time.RFC3339), i, i+1)
		if _, err := dl.Log(ctx, []byte(record)); err != nil {
			log.Printf("not logged: %v", err) // an invalid record: never queued
		}
	}
	shutdown, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	report, err := dl.Close(shutdown)
	fmt.Printf("%d confirmed, %d refused, %d unconfirmed\n", report.Confirmed, len(report.Failed), len(report.Pending))
	if err != nil {
		log.Print(err)
	}
}

// A monitor reads every entry of the log from its tiles, each one
// authenticated against a verified checkpoint, and resumes from where it
// stopped.
func ExampleClient_Entries() {
	vkey, _ := os.ReadFile("log.pub")
	v, err := signer.NewVerifier(string(vkey))
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New("http://127.0.0.1:8080", client.WithLogKey(v), client.WithStateFile("monitor.state"))
	if err != nil {
		log.Fatal(err)
	}
	var next uint64 // saved by the monitor between runs
	for e, err := range c.Entries(context.Background(), next) {
		if err != nil {
			log.Fatal(err) // errors.Is(err, client.ErrInconsistent): the log forked
		}
		fmt.Printf("%d: %d bytes\n", e.Index, len(e.Data))
		next = e.Index + 1
	}
}
