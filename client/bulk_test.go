package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tlogai/tlog/client"
)

// ndjsonOf joins records into an NDJSON input, with blank lines after
// every record in blanks (so input lines and record numbers differ).
func ndjsonOf(recs [][]byte, blanks map[int]bool) []byte {
	var b bytes.Buffer
	for i, r := range recs {
		b.Write(r)
		b.WriteByte('\n')
		if blanks[i] {
			b.WriteString("\n  \n")
		}
	}
	return b.Bytes()
}

// TestUploadDecisions: every record logged once, in batches of the size
// asked, resumable (the second run is all duplicates), receipts checked
// against the entries built from the input.
func TestUploadDecisions(t *testing.T) {
	tl := newTestLog(t, nil)
	p := newProxy(t, tl.URL(), nil)
	c := tl.client(t, p.URL)
	recs := records("bulk", 0, 2500)
	in := ndjsonOf(recs, map[int]bool{10: true, 2000: true})
	var mu sync.Mutex
	seen := map[uint64][]byte{}
	opts := client.BulkOptions{Batch: 1000, Parallel: 3, OnBatch: func(b client.BulkBatch) error {
		mu.Lock()
		defer mu.Unlock()
		if len(b.Lines) != len(b.Receipts) {
			t.Errorf("a batch of %d lines has %d receipts", len(b.Lines), len(b.Receipts))
		}
		for i, r := range b.Receipts {
			rec := strings.TrimSpace(string(in[lineOffset(in, b.Lines[i]):]))
			rec, _, _ = strings.Cut(rec, "\n")
			if _, err := c.CheckReceipt(testCtx(t), &r, entryOf(t, []byte(rec))); err != nil {
				t.Errorf("line %d: %v", b.Lines[i], err)
			}
			seen[r.Index] = []byte(rec)
		}
		return nil
	}}
	res, err := c.UploadDecisions(testCtx(t), bytes.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 2500 || res.Duplicates != 0 || res.Unanswered != 0 || len(seen) != 2500 {
		t.Fatalf("first run: %+v, %d distinct indices; want 2500 new", res, len(seen))
	}
	if n := p.count(http.MethodPost, decisionsPath); n != 3 {
		t.Errorf("2,500 records in batches of 1,000 took %d requests, want 3", n)
	}
	res, err = c.UploadDecisions(testCtx(t), bytes.NewReader(in), client.BulkOptions{})
	if err != nil || res.Records != 2500 || res.Duplicates != 2500 {
		t.Fatalf("resumed run: %+v, %v; want 2500 duplicates", res, err)
	}
	if size := tl.Log().Published().Size; size != 2500 {
		t.Errorf("tree size %d after two runs, want 2500", size)
	}
}

// lineOffset is the byte offset of line n (from 1) of b.
func lineOffset(b []byte, n int) int {
	off := 0
	for range n - 1 {
		off += bytes.IndexByte(b[off:], '\n') + 1
	}
	return off
}

// TestUploadDecisionsRefusedLines: the log refuses a batch for its bad
// records; the error names them by input line (blank lines counted), and
// nothing of that batch is logged.
func TestUploadDecisionsRefusedLines(t *testing.T) {
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	recs := records("refused", 0, 30)
	recs[4] = []byte(`{"system":"x"}`)                                              // input line 5
	recs[20] = bytes.Replace(recs[20], []byte(`"time":"`), []byte(`"time":"19`), 1) // input line 23 (2 blank lines after record 10)
	in := ndjsonOf(recs, map[int]bool{10: true})
	_, err := c.UploadDecisions(testCtx(t), bytes.NewReader(in), client.BulkOptions{Batch: 100, Parallel: 1})
	var re *client.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("UploadDecisions = %v, want a *RefusedError", err)
	}
	var lines []int
	for _, l := range re.Lines {
		lines = append(lines, l.Line)
	}
	if len(lines) != 2 || lines[0] != 5 || lines[1] != 23 || re.FirstLine != 1 || re.Status.Code != http.StatusBadRequest {
		t.Errorf("refused lines %v (first %d, status %d), want [5 23] from line 1, 400", lines, re.FirstLine, re.Status.Code)
	}
	for _, want := range []string{"line 5: ", "line 23: ", "nothing of it was logged"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if size := tl.Log().Published().Size; size != 0 {
		t.Errorf("tree size %d after a refused batch, want 0", size)
	}
}

// TestUploadDecisionsUnanswered: a request that never gets an answer is
// counted as unanswered (it may be logged), not as refused; a 503 that
// clears is ridden out.
func TestUploadDecisionsUnanswered(t *testing.T) {
	tl := newTestLog(t, nil)
	var mu sync.Mutex
	calls := 0
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != decisionsPath {
			p.forward(w, r, body, nil)
			return
		}
		mu.Lock()
		calls++
		k := calls
		mu.Unlock()
		switch {
		case k == 1:
			apiError(w, http.StatusServiceUnavailable, "", "pushback") // no Retry-After: backoff
		default:
			hijackClose(w) // no answer, ever
		}
	})
	c := tl.client(t, p.URL)
	_, err := c.UploadDecisions(testCtx(t), bytes.NewReader(ndjsonOf(records("lost", 0, 40), nil)),
		client.BulkOptions{Batch: 40, Parallel: 1, Retry: client.RetryPolicy{Attempts: 3, MinBackoff: 1, MaxBackoff: 2}})
	var re *client.RefusedError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "giving up on records from line 1") {
		t.Fatalf("UploadDecisions = %v, want giving up (not refused)", err)
	}
	res, _ := c.UploadDecisions(testCtx(t), bytes.NewReader(ndjsonOf(records("lost", 0, 40), nil)),
		client.BulkOptions{Batch: 40, Parallel: 1, Retry: client.RetryPolicy{Attempts: 1}})
	if res.Unanswered != 40 || res.Records != 0 {
		t.Errorf("result %+v, want 40 unanswered", res)
	}
}
