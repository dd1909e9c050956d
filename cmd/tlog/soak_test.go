package main

// TestSoak: a mixed, bounded load against one "tlog serve" on 127.0.0.1
// for TLOG_SOAK_DURATION (default 3s, so that make test runs it briefly;
// make soak DURATION=10m runs it for real). A fixed number of client
// goroutines send, back to back:
//   - entries through POST /add,
//   - decision batches through POST /api/v1/decisions (NDJSON,
//     ?receipts=compact), each receipt line checked,
//   - reads: GET /checkpoint (verified with the log key), hash tiles and
//     entry bundles, inclusion proofs of entries the test added and
//     consistency proofs between checkpoints it saw, checked with x/mod.
//
// No error is allowed: any answer but 200 is one, except 503 or 429 with
// Retry-After (pushback, which the client honours); a proof that does not
// verify is one too. Every 10 s the server's RSS (VmRSS of
// /proc/PID/status) is printed with the running totals; at the end, peak
// RSS, totals and p99 latencies.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/wire"
)

const (
	soakDefaultDuration = 3 * time.Second
	soakClients         = 8
	soakSampleEvery     = 10 * time.Second
	soakMaxEntry        = 512
	soakMaxBatch        = 64
	soakMaxRetryWait    = 2 * time.Second
)

// soakOp is a kind of request of the soak load.
type soakOp int

const (
	opAdd soakOp = iota
	opDecisions
	opCheckpoint
	opTile
	opInclusion
	opConsistency
	numSoakOps
)

var soakOpNames = [numSoakOps]string{"add", "decisions", "checkpoint", "tile", "inclusion", "consistency"}

// latencyHist is a log-scale histogram of latencies: buckets 2% wide from
// 1 µs, so that memory stays fixed however long the soak runs.
type latencyHist struct {
	counts [1200]int64
	n      int64
	max    time.Duration
}

const histBase = 1.02

func (h *latencyHist) add(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / math.Log(histBase))
	}
	i = min(max(i, 0), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(time.Duration(math.Pow(histBase, float64(i+1))*float64(time.Microsecond)), h.max)
		}
	}
	return h.max
}

// soakState is what the clients share: totals, recent checkpoints and a
// sample of the entries added, for proofs.
type soakState struct {
	s    *server
	vkey string

	adds, records, batches, reads, pushbacks, errs atomic.Int64

	mu      sync.Mutex
	errMsgs []string
	latest  checkpoint
	recent  []checkpoint // a ring of checkpoints seen
	sample  []soakEntry  // a ring of (index, entry) added
	next    int          // ring positions
	nextCp  int
	hists   [numSoakOps]latencyHist
}

type soakEntry struct {
	index int64
	data  []byte
}

func (st *soakState) fail(format string, args ...any) {
	st.errs.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.errMsgs) < 20 {
		st.errMsgs = append(st.errMsgs, fmt.Sprintf(format, args...))
	}
}

func (st *soakState) sawCheckpoint(c checkpoint) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c.size < st.latest.size {
		return // an older answer overtaken by a newer one
	}
	if c.size == st.latest.size {
		if c.root != st.latest.root && c.size > 0 {
			st.errMsgs = append(st.errMsgs, fmt.Sprintf("fork: two checkpoints of size %d", c.size))
			st.errs.Add(1)
		}
		return
	}
	st.latest = c
	if len(st.recent) < 64 {
		st.recent = append(st.recent, c)
	} else {
		st.recent[st.nextCp] = c
		st.nextCp = (st.nextCp + 1) % len(st.recent)
	}
}

func (st *soakState) added(i int64, e []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sample) < 4096 {
		st.sample = append(st.sample, soakEntry{i, e})
	} else {
		st.sample[st.next] = soakEntry{i, e}
		st.next = (st.next + 1) % len(st.sample)
	}
}

// do sends a request and classifies the answer: ok (200), pushback (503 or
// 429 with Retry-After, after waiting as asked) or an error (recorded).
func (st *soakState) do(h *latencyHist, req *http.Request) ([]byte, bool) {
	start := time.Now()
	resp, err := st.s.client.Do(req)
	if err != nil {
		st.fail("%s %s: %v", req.Method, req.URL.Path, err)
		return nil, false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.add(time.Since(start))
	if err != nil {
		st.fail("%s %s: reading the answer: %v", req.Method, req.URL.Path, err)
		return nil, false
	}
	switch ra := resp.Header.Get("Retry-After"); {
	case resp.StatusCode == http.StatusOK:
		return body, true
	case (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && ra != "":
		st.pushbacks.Add(1)
		wait := soakMaxRetryWait
		if sec, err := strconv.Atoi(ra); err == nil && sec >= 0 {
			wait = min(wait, time.Duration(sec)*time.Second)
		}
		time.Sleep(wait)
		return nil, false
	default:
		st.fail("%s %s: %s (Retry-After %q): %q", req.Method, req.URL.String(), resp.Status, ra, body)
		return nil, false
	}
}

func (st *soakState) get(h *latencyHist, path string) ([]byte, bool) {
	req, err := http.NewRequest(http.MethodGet, st.s.url(path), nil)
	if err != nil {
		panic(err)
	}
	return st.do(h, req)
}

var soakDecisionID atomic.Int64

// client runs requests back to back until the deadline, with latencies in
// its own histograms (merged at the end).
func (st *soakState) client(deadline time.Time, hists *[numSoakOps]latencyHist) {
	for time.Now().Before(deadline) {
		switch r := mrand.N(100); {
		case r < 35:
			st.opAdd(&hists[opAdd])
		case r < 45:
			st.opDecisions(&hists[opDecisions])
		case r < 60:
			st.opCheckpoint(&hists[opCheckpoint])
		case r < 75:
			st.opTile(&hists[opTile])
		case r < 88:
			st.opInclusion(&hists[opInclusion])
		default:
			st.opConsistency(&hists[opConsistency])
		}
	}
}

func (st *soakState) opAdd(h *latencyHist) {
	e := make([]byte, 1+mrand.N(soakMaxEntry))
	rand.Read(e)
	req, _ := http.NewRequest(http.MethodPost, st.s.url("/add"), bytes.NewReader(e))
	body, ok := st.do(h, req)
	if !ok {
		return
	}
	first, _, _ := strings.Cut(string(body), "\n")
	i, err := strconv.ParseInt(first, 10, 64)
	if err != nil || i < 0 {
		st.fail("POST /add: 200 answer %q without an index", body)
		return
	}
	st.adds.Add(1)
	st.added(i, e)
}

func (st *soakState) opDecisions(h *latencyHist) {
	n := 1 + mrand.N(soakMaxBatch)
	var b bytes.Buffer
	for range n {
		id := int(soakDecisionID.Add(1))
		b.WriteString(soakDecisionRecord("soak", id))
		b.WriteByte('\n')
	}
	req, _ := http.NewRequest(http.MethodPost, st.s.url("/api/v1/decisions?receipts=compact"), &b)
	req.Header.Set("Content-Type", "application/x-ndjson")
	body, ok := st.do(h, req)
	if !ok {
		return
	}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var rc struct {
			Index     *uint64 `json:"index"`
			LeafHash  []byte  `json:"leaf_hash"`
			Duplicate bool    `json:"duplicate"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rc); err != nil || rc.Index == nil || len(rc.LeafHash) != tlog.HashSize || rc.Duplicate {
			st.fail("POST /api/v1/decisions: receipt line %q is not a compact receipt of a new record (%v)", sc.Bytes(), err)
			return
		}
		lines++
	}
	if lines != n {
		st.fail("POST /api/v1/decisions: %d receipts for %d records", lines, n)
		return
	}
	st.batches.Add(1)
	st.records.Add(int64(n))
}

// soakDecisionRecord is a valid decision record (as api's decisionRecord
// in ai_helpers_test.go), unique per id.
func soakDecisionRecord(system string, id int) string {
	return fmt.Sprintf(`{"system":%q,"decision_id":"soak-%d","time":"2026-11-27T08:00:%02d.123Z","model":{"name":"acme/chat-%s","version":"1.2"},"outcome":"answered","labels":{"region":"eu"},"commitments":{"input":"sha256:%064x","output":"sha256:%064x"}}`,
		system, id, id%60, system, 2*id, 2*id+1)
}

func (st *soakState) opCheckpoint(h *latencyHist) {
	body, ok := st.get(h, "/checkpoint")
	if !ok {
		return
	}
	c, err := openCheckpoint(body, st.vkey)
	if err != nil {
		st.fail("GET /checkpoint: %v", err)
		return
	}
	st.reads.Add(1)
	st.sawCheckpoint(c)
}

func (st *soakState) opTile(h *latencyHist) {
	st.mu.Lock()
	size := st.latest.size
	st.mu.Unlock()
	if size == 0 {
		st.opCheckpoint(h)
		return
	}
	n := mrand.Int64N((size + 255) / 256)
	t := tlog.Tile{H: 8, L: 0, N: n, W: int(min(256, size-n*256))}
	entries := mrand.N(2) == 0
	if entries {
		t.L = -1
	}
	body, ok := st.get(h, c2spTilePath(t))
	if !ok {
		return
	}
	if entries {
		bundle, err := parseBundle(body)
		if err != nil || len(bundle) != t.W {
			st.fail("GET %s: %d entries (%v), want %d", c2spTilePath(t), len(bundle), err, t.W)
			return
		}
	} else if len(body) != t.W*tlog.HashSize {
		st.fail("GET %s: %d bytes, want %d", c2spTilePath(t), len(body), t.W*tlog.HashSize)
		return
	}
	st.reads.Add(1)
}

func (st *soakState) opInclusion(h *latencyHist) {
	st.mu.Lock()
	cp := st.latest
	var e soakEntry
	if len(st.sample) > 0 {
		e = st.sample[mrand.N(len(st.sample))]
	}
	st.mu.Unlock()
	if e.data == nil || e.index >= cp.size {
		st.opCheckpoint(h)
		return
	}
	q := url.Values{"index": {strconv.FormatInt(e.index, 10)}, "size": {strconv.FormatInt(cp.size, 10)}}
	body, ok := st.get(h, "/api/v1/proofs/inclusion?"+q.Encode())
	if !ok {
		return
	}
	var p wire.InclusionProof
	if err := json.Unmarshal(body, &p); err != nil {
		st.fail("inclusion proof of %d in %d: %v", e.index, cp.size, err)
		return
	}
	var rp tlog.RecordProof
	for _, x := range p.Hashes {
		rp = append(rp, tlog.Hash(x))
	}
	if err := tlog.CheckRecord(rp, cp.size, cp.root, e.index, tlog.RecordHash(e.data)); err != nil {
		st.fail("inclusion proof of %d in %d: x/mod rejects it: %v", e.index, cp.size, err)
		return
	}
	st.reads.Add(1)
}

func (st *soakState) opConsistency(h *latencyHist) {
	st.mu.Lock()
	cur := st.latest
	var old checkpoint
	if len(st.recent) > 0 {
		old = st.recent[mrand.N(len(st.recent))]
	}
	st.mu.Unlock()
	if old.size == 0 || old.size > cur.size {
		st.opCheckpoint(h)
		return
	}
	q := url.Values{"old": {strconv.FormatInt(old.size, 10)}, "new": {strconv.FormatInt(cur.size, 10)}}
	body, ok := st.get(h, "/api/v1/proofs/consistency?"+q.Encode())
	if !ok {
		return
	}
	var p wire.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		st.fail("consistency proof %d → %d: %v", old.size, cur.size, err)
		return
	}
	var tp tlog.TreeProof
	for _, x := range p.Hashes {
		tp = append(tp, tlog.Hash(x))
	}
	if err := tlog.CheckTree(tp, cur.size, cur.root, old.size, old.root); err != nil {
		st.fail("consistency proof %d → %d: x/mod rejects it: %v", old.size, cur.size, err)
		return
	}
	st.reads.Add(1)
}

// procStatusKiB reads a "Name:   N kB" field of /proc/PID/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("TLOG_SOAK_DURATION")
	if v == "" {
		return soakDefaultDuration
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("TLOG_SOAK_DURATION=%q: want a positive duration such as 10m", v)
	}
	return d
}

func TestSoak(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: the soak samples the server's RSS from /proc/PID/status")
	}
	duration := soakDuration(t)
	quickRaceExit(t)
	keyFile, vkey := writeKey(t, "example.com/soak")
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, "soak", data, "--key", keyFile)
	pid := s.cmd.Process.Pid
	st := &soakState{s: s, vkey: vkey}
	st.opCheckpoint(&st.hists[opCheckpoint])

	var peak atomic.Int64
	sample := func(elapsed time.Duration) {
		kib, err := procStatusKiB(pid, "VmRSS")
		if err != nil {
			st.fail("sampling RSS: %v", err)
			return
		}
		if kib > peak.Load() {
			peak.Store(kib)
		}
		t.Logf("t=%ds rss=%.1fMiB writes=%d reads=%d (decision records %d, pushbacks %d, errors %d)",
			int(elapsed.Round(time.Second)/time.Second), float64(kib)/1024, st.adds.Load()+st.batches.Load(), st.reads.Load(),
			st.records.Load(), st.pushbacks.Load(), st.errs.Load())
	}

	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hists [numSoakOps]latencyHist
			st.client(deadline, &hists)
			st.mu.Lock()
			for i := range hists {
				st.hists[i].merge(&hists[i])
			}
			st.mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(soakSampleEvery)
	defer tick.Stop()
	sample(0)
wait:
	for {
		select {
		case <-tick.C:
			if s.exitedEarly() {
				break wait
			}
			sample(time.Since(start))
		case <-done:
			break wait
		}
	}
	<-done
	if s.exitedEarly() {
		t.Fatalf("the server exited under load: %v", s.state)
	}
	elapsed := time.Since(start)
	sample(elapsed)
	hwm, err := procStatusKiB(pid, "VmHWM")
	if err != nil {
		t.Errorf("reading VmHWM: %v", err)
	}
	final := s.mustCheckpoint(vkey)
	if code := s.stop(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	s.checkNoRace()

	var lat []string
	for i, h := range st.hists {
		lat = append(lat, fmt.Sprintf("%s=%v/%d", soakOpNames[i], h.quantile(0.99).Round(10*time.Microsecond), h.n))
	}
	t.Logf("soak summary: duration=%v clients=%d peak_rss=%.1fMiB (sampled; VmHWM %.1fMiB) adds=%d decision_batches=%d decision_records=%d reads=%d pushbacks=%d errors=%d final_size=%d",
		elapsed.Round(time.Second), soakClients, float64(peak.Load())/1024, float64(hwm)/1024,
		st.adds.Load(), st.batches.Load(), st.records.Load(), st.reads.Load(), st.pushbacks.Load(), st.errs.Load(), final.size)
	t.Logf("soak p99 latency/requests: %s", strings.Join(lat, " "))
	if n := st.errs.Load(); n > 0 {
		t.Errorf("%d errors under the soak load; the first ones:\n%s", n, strings.Join(st.errMsgs, "\n"))
	}
	if st.adds.Load() == 0 || st.batches.Load() == 0 || st.reads.Load() == 0 {
		t.Errorf("the load did not exercise every kind of request: %d adds, %d decision batches, %d reads", st.adds.Load(), st.batches.Load(), st.reads.Load())
	}
}
