package api

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

// BenchmarkDecisionsBulk posts NDJSON batches of 10,000 decision records
// (compact receipts) to the handler over a log on the real disk: parsing,
// validation, canonical encoding, the sequencer and fsync. b.N counts
// records.
func BenchmarkDecisionsBulk(b *testing.B) {
	benchRecordsBulk(b, "/api/v1/decisions", func(buf *bytes.Buffer, round, i int, c string) {
		fmt.Fprintf(buf, `{"system":"support-bot","decision_id":"d-%d-%d","time":"2026-11-27T08:00:00.123Z","model":{"name":"acme/chat","version":"1.2"},"actor":"user-1","outcome":"answered","labels":{"region":"eu"},"commitments":{"input":%q,"output":%q,"rationale":%q}}`+"\n", round, i, c, c, c)
	})
}

// BenchmarkAccessBulk is BenchmarkDecisionsBulk for access records of
// about the same size (a committed actor and resource, one record seen).
func BenchmarkAccessBulk(b *testing.B) {
	benchRecordsBulk(b, "/api/v1/access", func(buf *bytes.Buffer, round, i int, c string) {
		fmt.Fprintf(buf, `{"system":"kyc-workflow","event_id":"a-%d-%d","time":"2026-11-27T08:00:00.123Z","actor":{"type":"person","id":%q},"action":"read","resource":{"type":"customer-file","id":%q},"records":[%q],"purpose":"kyc-review","legal_basis":"GDPR Art. 6(1)(c)","labels":{"region":"eu"}}`+"\n", round, i, c, c, c)
	})
}

// benchRecordsBulk posts b.N records of line's making, 10,000 a request,
// four requests in flight. line writes record i of a round, c being a
// commitment unique to it.
func benchRecordsBulk(b *testing.B, path string, line func(buf *bytes.Buffer, round, i int, c string)) {
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/bench")
	if err != nil {
		b.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	l, err := log.Open(log.Config{Dir: b.TempDir(), Signer: s})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h := New(Config{Log: l})
	const batch = 10000
	body := func(round int) []byte {
		var buf bytes.Buffer
		for i := range batch {
			line(&buf, round, i, fmt.Sprintf("sha256:%064x", round*batch+i))
		}
		return buf.Bytes()
	}
	rounds := (b.N + batch - 1) / batch
	bodies := make([][]byte, rounds)
	for i := range bodies {
		bodies[i] = body(i)
	}
	post := func(bd []byte) {
		req := httptest.NewRequest(http.MethodPost, path+"?receipts=compact", bytes.NewReader(bd))
		req.Header.Set("Content-Type", "application/x-ndjson")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Errorf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	// Four requests in flight, as tlog decide sends them.
	var wg sync.WaitGroup
	next := make(chan []byte)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bd := range next {
				post(bd)
			}
		}()
	}
	for _, bd := range bodies {
		next <- bd
	}
	if os.Getenv("BENCH_DUPLICATES") != "" {
		// Resubmit everything: the resumed run of tlog decide.
		for _, bd := range bodies {
			next <- bd
		}
	}
	close(next)
	wg.Wait()
}
