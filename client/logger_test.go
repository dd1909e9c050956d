package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
)

// receiptLog records what a DecisionLogger delivers: OnReceipt calls by
// seq, and the Receipts NDJSON.
type receiptLog struct {
	mu    sync.Mutex
	calls map[uint64]int
	recs  map[uint64][]byte
	buf   bytes.Buffer
	dups  int // receipts that said duplicate
	n     atomic.Int64
	// at, when set, is closed once n reaches atN.
	at  chan struct{}
	atN int64
}

func newReceiptLog() *receiptLog {
	return &receiptLog{calls: map[uint64]int{}, recs: map[uint64][]byte{}}
}

func (rl *receiptLog) onReceipt(c client.Confirmed) {
	rl.mu.Lock()
	if c.Receipt.Duplicate {
		rl.dups++
	}
	rl.calls[c.Seq]++
	rl.recs[c.Seq] = c.Record
	rl.mu.Unlock()
	if rl.n.Add(1) == rl.atN && rl.at != nil {
		close(rl.at)
	}
}

func (rl *receiptLog) Write(p []byte) (int, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.buf.Write(p)
}

// check requires exactly one OnReceipt call and one Receipts line for each
// seq of want (seq → record), each line's leaf hash that of the record.
func (rl *receiptLog) check(t *testing.T, want map[uint64][]byte) {
	t.Helper()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.calls) != len(want) {
		t.Fatalf("OnReceipt for %d records, want %d", len(rl.calls), len(want))
	}
	for seq, rec := range want {
		if rl.calls[seq] != 1 {
			t.Fatalf("OnReceipt called %d times for seq %d", rl.calls[seq], seq)
		}
		if !bytes.Equal(rl.recs[seq], rec) {
			t.Fatalf("OnReceipt of seq %d has record %s, want %s", seq, rl.recs[seq], rec)
		}
	}
	lines := 0
	seen := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(rl.buf.Bytes()))
	for sc.Scan() {
		lines++
		var r struct {
			Seq      uint64 `json:"seq"`
			Index    uint64 `json:"index"`
			LeafHash []byte `json:"leaf_hash"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("Receipts line %q: %v", sc.Bytes(), err)
		}
		rec, ok := want[r.Seq]
		if !ok || seen[r.Seq] {
			t.Fatalf("Receipts line of seq %d (known %v, seen %v)", r.Seq, ok, seen[r.Seq])
		}
		seen[r.Seq] = true
		if leaf := proofs.HashLeaf(entryOf(t, rec)); !bytes.Equal(r.LeafHash, leaf[:]) {
			t.Fatalf("Receipts line of seq %d: leaf hash %x", r.Seq, r.LeafHash)
		}
	}
	if lines != len(want) {
		t.Fatalf("Receipts has %d lines, want %d", lines, len(want))
	}
}

// countInLog reads the whole log through its tiles and returns how often
// each entry occurs, and the tree size.
func countInLog(t *testing.T, tl *testLog) (map[string]int, uint64) {
	t.Helper()
	c := tl.client(t, tl.URL())
	count := map[string]int{}
	var n uint64
	for e, err := range c.Entries(testCtx(t), 0) {
		if err != nil {
			t.Fatalf("reading the log back: %v", err)
		}
		if e.Index != n {
			t.Fatalf("entry %d read as %d", n, e.Index)
		}
		n++
		count[string(e.Data)]++
	}
	return count, n
}

// requireExactlyOnce requires every record's entry once in the log, and
// nothing else.
func requireExactlyOnce(t *testing.T, tl *testLog, recs map[uint64][]byte) {
	t.Helper()
	count, size := countInLog(t, tl)
	for seq, rec := range recs {
		if n := count[string(entryOf(t, rec))]; n != 1 {
			t.Fatalf("record of seq %d is in the log %d times", seq, n)
		}
	}
	if size != uint64(len(recs)) {
		t.Fatalf("log size %d, want %d", size, len(recs))
	}
}

func requireClean(t *testing.T, rep client.Report, from, to uint64, confirmed int) {
	t.Helper()
	if rep.From != from || rep.To != to || rep.Confirmed != confirmed || len(rep.Failed) != 0 || len(rep.Pending) != 0 || rep.Err() != nil {
		t.Fatalf("report (%d, %d]: %d confirmed, %d failed %v, %d pending; want (%d, %d], %d confirmed and nothing else",
			rep.From, rep.To, rep.Confirmed, len(rep.Failed), rep.Failed, len(rep.Pending), from, to, confirmed)
	}
}

var fastRetry = client.RetryPolicy{MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// 5,000 records through pushback: every one confirmed once, delivered
// once, and in the log once.
func TestDecisionLoggerPushback(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == decisionsPath && len(p.requests(http.MethodPost, decisionsPath)) <= 3 {
			apiError(w, http.StatusServiceUnavailable, "1", "the log is busy")
			return
		}
		p.forward(w, r, body, nil)
	})
	rl := newReceiptLog()
	l := tl.client(t, p.URL).NewDecisionLogger(client.LoggerConfig{OnReceipt: rl.onReceipt, Receipts: rl})
	const n = 5000
	recs := map[uint64][]byte{}
	for i := range n {
		rec := record("pushback", i)
		seq, err := l.Log(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("record %d got seq %d", i, seq)
		}
		recs[seq] = rec
	}
	rep, err := l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 0, n, n)
	rl.check(t, recs)
	requireExactlyOnce(t, tl, recs)
	reqs := p.requests(http.MethodPost, decisionsPath)
	if len(reqs) < 3+n/1000 {
		t.Fatalf("%d requests", len(reqs))
	}
	// No retry before the Retry-After: the first successful request came a
	// second or more after the first refusal.
	if gap := reqs[3].At.Sub(reqs[0].At); gap < time.Second {
		t.Fatalf("a refused batch was retried after %v, before its Retry-After", gap)
	}
}

// The log is killed mid-stream and restarted on the same directory and
// port: records sent before, during and after the outage are all
// confirmed, and each is in the log exactly once.
func TestDecisionLoggerLogRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	url := tl.URL()
	var killed atomic.Bool
	retriesAfterKill := make(chan error, 1<<12)
	retry := fastRetry
	retry.OnRetry = func(err error, d time.Duration) {
		if killed.Load() {
			select {
			case retriesAfterKill <- err:
			default:
			}
		}
	}
	rl := newReceiptLog()
	rl.at, rl.atN = make(chan struct{}), 300
	c := tl.client(t, url, client.WithHTTPClient(&http.Client{Timeout: 20 * time.Second}))
	l := c.NewDecisionLogger(client.LoggerConfig{MaxBatch: 50, MaxAge: 2 * time.Millisecond, Retry: retry, OnReceipt: rl.onReceipt, Receipts: rl})
	recs := map[uint64][]byte{}
	logN := func(from, n int) {
		for i := from; i < from+n; i++ {
			rec := record("restart", i)
			seq, err := l.Log(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			recs[seq] = rec
		}
	}
	logN(0, 1500)
	select { // some confirmed, the rest queued or in flight
	case <-rl.at:
	case <-ctx.Done():
		t.Fatal("nothing confirmed")
	}
	killed.Store(true)
	tl.kill()
	logN(1500, 1500) // during the outage
	for range 3 {
		select {
		case err := <-retriesAfterKill:
			if !client.Retryable(err) {
				t.Fatalf("retry after a non-retryable %v", err)
			}
		case <-ctx.Done():
			t.Fatal("no retries during the outage")
		}
	}
	tl.start()
	if tl.URL() != url {
		t.Fatalf("restarted on %s, not %s", tl.URL(), url)
	}
	logN(3000, 500) // after
	rep, err := l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 0, 3500, 3500)
	rl.check(t, recs)
	t.Logf("%d receipts said duplicate (records logged before the kill whose answer was lost)", rl.dups)
	requireExactlyOnce(t, tl, recs)
}

// A batch refused for some of its records: those fail, the rest of the
// batch is sent again and confirmed.
func TestDecisionLoggerRefusedLines(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == decisionsPath {
			type lineReason struct {
				Line   int    `json:"line"`
				Reason string `json:"reason"`
			}
			var lines []lineReason
			i := 0
			for line := range bytes.Lines(body) {
				i++
				if bytes.Contains(line, []byte(`"system":"refused"`)) {
					lines = append(lines, lineReason{i, fmt.Sprintf("line %d: not today", i)})
				}
			}
			if lines != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": "records refused", "lines": lines})
				return
			}
		}
		p.forward(w, r, body, nil)
	})
	rl := newReceiptLog()
	l := tl.client(t, p.URL).NewDecisionLogger(client.LoggerConfig{MaxBatch: 20, MaxAge: time.Hour, OnReceipt: rl.onReceipt, Receipts: rl})
	good := map[uint64][]byte{}
	var refused []uint64
	for i := range 100 {
		rec := record("accepted", i)
		if i%7 == 3 {
			rec = record("refused", i)
		}
		seq, err := l.Log(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			refused = append(refused, seq)
		} else {
			good[seq] = rec
		}
	}
	rep, err := l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() == nil || rep.Confirmed != len(good) || len(rep.Pending) != 0 || len(rep.Failed) != len(refused) {
		t.Fatalf("report: %d confirmed, %d failed, %d pending; want %d, %d, 0", rep.Confirmed, len(rep.Failed), len(rep.Pending), len(good), len(refused))
	}
	for i, f := range rep.Failed {
		if f.Seq != refused[i] || !bytes.Contains(f.Record, []byte(`"refused"`)) || !strings.Contains(f.Err.Error(), "not today") {
			t.Fatalf("failed %d: seq %d (want %d) %v", i, f.Seq, refused[i], f.Err)
		}
	}
	rl.check(t, good)
	requireExactlyOnce(t, tl, good)
}

// A writer scoped to some systems: a batch with a record of another
// system is refused whole (403); the other batches are logged.
func TestDecisionLoggerForbidden(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	token := strings.Repeat("t", 43)
	ws, err := api.ParseWriters([]byte("scoped " + token + " systems=good-*\n"))
	if err != nil {
		t.Fatal(err)
	}
	tl := newTestLog(t, func(c *api.Config) { c.Writers = ws })
	rl := newReceiptLog()
	c := tl.client(t, tl.URL(), client.WithToken(token))
	// Batches only on Flush.
	l := c.NewDecisionLogger(client.LoggerConfig{MaxAge: time.Hour, OnReceipt: rl.onReceipt, Receipts: rl})
	good := map[uint64][]byte{}
	logRec := func(rec []byte) uint64 {
		seq, err := l.Log(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for i := range 10 {
		rec := record("good-a", i)
		good[logRec(rec)] = rec
	}
	rep, err := l.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 0, 10, 10)

	var batch []uint64
	for i := range 5 {
		batch = append(batch, logRec(record("good-b", i)))
	}
	batch = append(batch, logRec(record("evil", 0)))
	rep, err = l.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.From != 10 || rep.To != 16 || rep.Confirmed != 0 || len(rep.Failed) != 6 || len(rep.Pending) != 0 {
		t.Fatalf("report of the refused batch: %+v", rep)
	}
	for i, f := range rep.Failed {
		var se *client.StatusError
		if f.Seq != batch[i] || !errors.As(f.Err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Reason, `"evil"`) {
			t.Fatalf("failed %d: seq %d %v", i, f.Seq, f.Err)
		}
	}

	for i := range 5 {
		rec := record("good-c", i)
		good[logRec(rec)] = rec
	}
	rep, err = l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 16, 21, 5)
	rl.check(t, good)
	requireExactlyOnce(t, tl, good)

	// Without the token: 401 for every batch.
	l2 := tl.client(t, tl.URL()).NewDecisionLogger(client.LoggerConfig{})
	if _, err := l2.Log(ctx, record("good-a", 100)); err != nil {
		t.Fatal(err)
	}
	rep, err = l2.Close(ctx)
	var se *client.StatusError
	if err != nil || len(rep.Failed) != 1 || !errors.As(rep.Failed[0].Err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %+v %v", rep, err)
	}
}

// Flush gives up when its context ends while the log refuses everything;
// the records stay queued, and are confirmed once the log recovers.
func TestDecisionLoggerFlushPending(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	var down atomic.Bool
	down.Store(true)
	refusals := make(chan struct{}, 1<<16)
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == decisionsPath && down.Load() {
			refusals <- struct{}{}
			apiError(w, http.StatusServiceUnavailable, "", "down")
			return
		}
		p.forward(w, r, body, nil)
	})
	rl := newReceiptLog()
	l := tl.client(t, p.URL).NewDecisionLogger(client.LoggerConfig{MaxAge: time.Hour, Retry: fastRetry, OnReceipt: rl.onReceipt, Receipts: rl})
	recs := map[uint64][]byte{}
	for i := range 10 {
		rec := record("pending", i)
		seq, err := l.Log(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		recs[seq] = rec
	}
	fctx, cancel := context.WithCancel(ctx)
	go func() {
		for range 3 {
			<-refusals
		}
		cancel()
	}()
	rep, err := l.Flush(fctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush: %v, want context.Canceled", err)
	}
	if rep.From != 0 || rep.To != 10 || rep.Confirmed != 0 || len(rep.Failed) != 0 || len(rep.Pending) != 10 || rep.Err() == nil {
		t.Fatalf("report: %+v", rep)
	}
	for i, pe := range rep.Pending {
		if pe.Seq != uint64(i+1) || !bytes.Equal(pe.Record, recs[pe.Seq]) {
			t.Fatalf("pending %d: seq %d", i, pe.Seq)
		}
	}
	// The log recovers: Close confirms them (delivered through OnReceipt
	// and Receipts; they were accounted for by the Flush's report).
	down.Store(false)
	rep, err = l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 10, 10, 0)
	rl.check(t, recs)
	requireExactlyOnce(t, tl, recs)

	// Close gives up too: every unconfirmed record is Pending, also those
	// a Flush reported before.
	down.Store(true)
	for len(refusals) > 0 {
		<-refusals
	}
	l = tl.client(t, p.URL).NewDecisionLogger(client.LoggerConfig{MaxAge: time.Hour, Retry: fastRetry})
	for i := range 5 {
		if _, err := l.Log(ctx, record("pending-2", i)); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel = context.WithCancel(ctx)
	go func() { <-refusals; cancel() }()
	if rep, err := l.Flush(fctx); err == nil || len(rep.Pending) != 5 {
		t.Fatalf("Flush: %+v %v", rep, err)
	}
	for i := range 3 {
		if _, err := l.Log(ctx, record("pending-2", 5+i)); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-refusals; <-refusals; cancel() }()
	rep, err = l.Close(cctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v", err)
	}
	if rep.From != 5 || rep.To != 8 || rep.Confirmed != 0 || len(rep.Failed) != 0 || len(rep.Pending) != 8 {
		t.Fatalf("Close report: %+v", rep)
	}
	for i, pe := range rep.Pending {
		if pe.Seq != uint64(i+1) {
			t.Fatalf("pending %d: seq %d", i, pe.Seq)
		}
	}
}

// The queue bounds what is accepted; a closed logger accepts nothing; an
// invalid record is refused without taking a number.
func TestDecisionLoggerQueue(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	release := make(chan struct{})
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == decisionsPath {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		p.forward(w, r, body, nil)
	})
	const queue = 4
	l := tl.client(t, p.URL).NewDecisionLogger(client.LoggerConfig{QueueSize: queue, InFlight: 1, MaxBatch: 1, MaxAge: time.Millisecond})

	// An invalid record: an error, no number taken.
	if _, err := l.TryLog([]byte(`{"system":"q"}`)); !errors.Is(err, attest.ErrInvalid) {
		t.Fatalf("TryLog of an invalid record: %v", err)
	}
	if _, err := l.Log(ctx, []byte("not json")); !errors.Is(err, attest.ErrInvalid) {
		t.Fatalf("Log of an invalid record: %v", err)
	}
	seq, err := l.TryLog(record("q", 0))
	if err != nil || seq != 1 {
		t.Fatalf("first record: seq %d %v, want 1", seq, err)
	}
	select { // its request hangs at the proxy
	case <-p.arrived:
	case <-ctx.Done():
		t.Fatal("no request")
	}
	// One record in flight, at most one held by the batcher waiting for
	// the sender, then the queue. TryLog may find the queue full a moment
	// before the batcher takes a record from it: a full queue is one on
	// which Log, too, blocks until its context ends.
	accepted := 1
	for {
		_, err := l.TryLog(record("q", accepted))
		if errors.Is(err, client.ErrQueueFull) {
			lctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
			_, err = l.Log(lctx, record("q", accepted))
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if accepted++; accepted > queue+2 {
			t.Fatalf("%d records accepted with a queue of %d and one request hanging", accepted, queue)
		}
	}
	if accepted < queue+1 {
		t.Fatalf("queue full after %d records, want %d", accepted, queue+2)
	}
	close(release)
	// The refused tries took no number.
	seq, err = l.Log(ctx, record("q", accepted))
	if err != nil || seq != uint64(accepted+1) {
		t.Fatalf("after the full queue: seq %d %v, want %d", seq, err, accepted+1)
	}
	rep, err := l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 0, uint64(accepted+1), accepted+1)

	// Closed.
	if _, err := l.Log(ctx, record("q", 1000)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Log after Close: %v", err)
	}
	if _, err := l.TryLog(record("q", 1000)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("TryLog after Close: %v", err)
	}
	if _, err := l.Close(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if rep, err := l.Flush(ctx); err != nil || rep.Confirmed != 0 {
		t.Fatalf("Flush after Close: %+v %v", rep, err)
	}
}

// Full receipts are checked against verified checkpoints; records logged
// from many goroutines are numbered once each.
func TestDecisionLoggerFullReceipts(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	var mu sync.Mutex
	var got []client.Confirmed
	c := tl.client(t, tl.URL())
	l := c.NewDecisionLogger(client.LoggerConfig{MaxBatch: 16, MaxAge: time.Millisecond, InFlight: 4, FullReceipts: true, OnReceipt: func(cf client.Confirmed) {
		mu.Lock()
		got = append(got, cf)
		mu.Unlock()
	}})
	var wg sync.WaitGroup
	var seqMu sync.Mutex
	recs := map[uint64][]byte{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				rec := record(fmt.Sprint("full-", g), i)
				seq, err := l.Log(ctx, rec)
				if err != nil {
					t.Error(err)
					return
				}
				seqMu.Lock()
				recs[seq] = rec
				seqMu.Unlock()
			}
		})
	}
	wg.Wait()
	rep, err := l.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 0, 200, 200)
	seqs := slices.Collect(func(yield func(uint64) bool) {
		for s := range recs {
			if !yield(s) {
				return
			}
		}
	})
	slices.Sort(seqs)
	if len(seqs) != 200 || seqs[0] != 1 || seqs[199] != 200 {
		t.Fatalf("seqs %v", seqs)
	}
	mu.Lock()
	for _, cf := range got {
		if !cf.Receipt.Proven || !cf.Receipt.Verified || !bytes.Equal(cf.Receipt.Entry, entryOf(t, recs[cf.Seq])) {
			t.Fatalf("receipt of seq %d: %+v", cf.Seq, cf.Receipt)
		}
	}
	n := len(got)
	mu.Unlock()
	if n != 200 {
		t.Fatalf("%d receipts", n)
	}
	// Nothing new: an empty report.
	if rep, err := l.Flush(ctx); err != nil || rep.From != 200 || rep.To != 200 || rep.Confirmed != 0 {
		t.Fatalf("empty Flush: %+v %v", rep, err)
	}
	rep, err = l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requireClean(t, rep, 200, 200, 0)
	requireExactlyOnce(t, tl, recs)
}
