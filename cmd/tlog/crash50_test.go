package main

// TestCrashRounds: many kill -9 of a witnessed log under load. One real
// "witness serve" follows the log for the whole test and is never killed;
// the log runs with --witness-policy, so witnessing rounds run while it is
// killed. After each restart the log must come up (a log whose state
// forked from what the witness cosigned refuses to start: that fails the
// test), serve every acknowledged entry byte for byte through its entry
// bundles, and every checkpoint seen (polled from GET /checkpoint,
// verified with the log key, plus the witness's latest) must be consistent
// with the next one in size order, by a consistency proof from
// GET /api/v1/proofs/consistency checked with x/mod's tlog.CheckTree. At
// the end tlog fsck must pass.
//
// TLOG_CRASH_ROUNDS sets the number of kills (default 3, so that make test
// runs it briefly); make crash-test runs 50.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/wire"
)

const (
	crashDefaultRounds = 3
	crashWriters       = 8
	crashPollEvery     = 5 * time.Millisecond
	crashReadEvery     = 10 * time.Millisecond
	crashMaxEntry      = 512
	// crashMinLoad, crashMaxLoad: the random moment of the kill, as the
	// time of load before it.
	crashMinLoad = 50 * time.Millisecond
	crashMaxLoad = 500 * time.Millisecond
)

// crashBook is what the test saw the log promise over all rounds. Safe for
// concurrent use.
type crashBook struct {
	t    *testing.T
	vkey string

	mu      sync.Mutex
	acked   map[int64][]byte    // index → entry, from 200 answers
	maxAck  int64               // largest index acknowledged, -1 if none
	cps     map[int64]tlog.Hash // size → root of every checkpoint seen
	proven  map[[2]int64]bool   // consistency between these sizes checked
	maxSize int64               // largest checkpoint size seen

	fetches atomic.Int64 // checkpoints fetched and verified with the log key
	proofs  atomic.Int64 // consistency proofs checked with tlog.CheckTree
	reads   atomic.Int64 // entry bundle reads compared byte for byte
}

func newCrashBook(t *testing.T, vkey string) *crashBook {
	return &crashBook{t: t, vkey: vkey, acked: map[int64][]byte{}, maxAck: -1, cps: map[int64]tlog.Hash{}, proven: map[[2]int64]bool{}}
}

func (b *crashBook) ack(i int64, e []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.acked[i]; ok && !bytes.Equal(old, e) {
		b.t.Errorf("index %d acknowledged for two different entries", i)
		return
	}
	b.acked[i] = e
	b.maxAck = max(b.maxAck, i)
}

// seen records a checkpoint; two roots for one size is a fork.
func (b *crashBook) seen(c checkpoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if root, ok := b.cps[c.size]; ok && root != c.root {
		b.t.Errorf("fork: two checkpoints of size %d with roots %v and %v", c.size, root, c.root)
		return
	}
	b.cps[c.size] = c.root
	b.maxSize = max(b.maxSize, c.size)
}

// pickAcked returns a random acknowledged entry below size.
func (b *crashBook) pickAcked(size int64) (int64, []byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if size <= 0 || len(b.acked) == 0 {
		return 0, nil, false
	}
	for range 8 {
		i := mrand.Int64N(size)
		if e, ok := b.acked[i]; ok {
			return i, e, true
		}
	}
	return 0, nil, false
}

// fetchConsistency GETs the consistency proof old → new and checks it with
// x/mod between the two roots.
func fetchConsistency(s *server, oldSize int64, oldRoot tlog.Hash, newSize int64, newRoot tlog.Hash) error {
	q := url.Values{"old": {strconv.FormatInt(oldSize, 10)}, "new": {strconv.FormatInt(newSize, 10)}}
	code, body, _, err := s.get("/api/v1/proofs/consistency?" + q.Encode())
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET consistency proof %d → %d: %d %q", oldSize, newSize, code, body)
	}
	var p wire.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("consistency proof %d → %d: %v", oldSize, newSize, err)
	}
	var tp tlog.TreeProof
	for _, h := range p.Hashes {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("consistency proof %d → %d: a hash of %d bytes", oldSize, newSize, len(h))
		}
		tp = append(tp, tlog.Hash(h))
	}
	if err := tlog.CheckTree(tp, newSize, newRoot, oldSize, oldRoot); err != nil {
		return fmt.Errorf("consistency proof %d (%v) → %d (%v): x/mod rejects it: %v", oldSize, oldRoot, newSize, newRoot, err)
	}
	return nil
}

// crashLoad is writers, a checkpoint poller and a reader against one log
// process until it is killed.
type crashLoad struct {
	s      *server
	b      *crashBook
	ending atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	acks      atomic.Int64
	pushbacks atomic.Int64
	mu        sync.Mutex
	errs      []error // failures while the log should have been up

	// the latest two distinct checkpoints the poller saw, for the reader
	lastMu     sync.Mutex
	prev, last checkpoint
}

func startCrashLoad(s *server, b *crashBook, from checkpoint) *crashLoad {
	ld := &crashLoad{s: s, b: b, stop: make(chan struct{}), last: from}
	for range crashWriters {
		ld.wg.Add(1)
		go ld.writer()
	}
	ld.wg.Add(2)
	go ld.poller()
	go ld.reader()
	return ld
}

func (ld *crashLoad) stopped() bool {
	select {
	case <-ld.stop:
		return true
	default:
		return false
	}
}

// fail records err unless the log is being killed, and says whether the
// goroutine should give up.
func (ld *crashLoad) fail(err error) bool {
	if ld.ending.Load() {
		return true
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.errs = append(ld.errs, err)
	return len(ld.errs) > 10
}

func (ld *crashLoad) writer() {
	defer ld.wg.Done()
	for !ld.stopped() {
		e := make([]byte, 1+mrand.N(crashMaxEntry))
		rand.Read(e)
		i, err := ld.s.add(context.Background(), e)
		if err != nil {
			// A 503 of the pool (with Retry-After) is pushback, not a
			// failure; server.add does not give the headers, so the
			// status in the message tells.
			if errors.Is(err, errNotAcked) && (strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "429")) && !ld.ending.Load() {
				ld.pushbacks.Add(1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if ld.fail(fmt.Errorf("POST /add: %w", err)) {
				return
			}
			continue
		}
		ld.b.ack(i, e)
		ld.acks.Add(1)
	}
}

func (ld *crashLoad) poller() {
	defer ld.wg.Done()
	tick := time.NewTicker(crashPollEvery)
	defer tick.Stop()
	last := int64(-1)
	for !ld.stopped() {
		c, err := ld.s.fetchCheckpoint(ld.b.vkey)
		if err != nil {
			if ld.fail(err) {
				return
			}
		} else {
			ld.b.fetches.Add(1)
			if c.size < last {
				ld.b.t.Errorf("%s: tree size went down from %d to %d between two polls", ld.s.name, last, c.size)
			}
			last = c.size
			ld.b.seen(c)
			ld.lastMu.Lock()
			if c.size != ld.last.size {
				ld.prev, ld.last = ld.last, c
			}
			ld.lastMu.Unlock()
		}
		select {
		case <-tick.C:
		case <-ld.stop:
		}
	}
}

// reader checks, while the writers run, the consistency of the latest two
// checkpoints polled and reads back random acknowledged entries through
// their entry bundles.
func (ld *crashLoad) reader() {
	defer ld.wg.Done()
	tick := time.NewTicker(crashReadEvery)
	defer tick.Stop()
	var proved [2]int64
	for !ld.stopped() {
		ld.lastMu.Lock()
		prev, last := ld.prev, ld.last
		ld.lastMu.Unlock()
		if prev.size > 0 && last.size > prev.size && proved != [2]int64{prev.size, last.size} {
			if err := fetchConsistency(ld.s, prev.size, prev.root, last.size, last.root); err != nil {
				if !ld.ending.Load() {
					ld.b.t.Errorf("%s: while up: %v", ld.s.name, err)
				}
			} else {
				proved = [2]int64{prev.size, last.size}
				ld.b.proofs.Add(1)
				ld.b.mu.Lock()
				ld.b.proven[proved] = true
				ld.b.mu.Unlock()
			}
		}
		if i, e, ok := ld.b.pickAcked(last.size); ok {
			n := i / 256
			w := int(min(256, last.size-n*256))
			b, err := newHTTPTiles(ld.s).readTile(tlog.Tile{H: 8, L: -1, N: n, W: w}, 0)
			if err == nil {
				var bundle [][]byte
				if bundle, err = parseBundle(b); err == nil && len(bundle) != w {
					err = fmt.Errorf("%d entries in the bundle, want %d", len(bundle), w)
				}
				if err == nil && !bytes.Equal(bundle[i%256], e) {
					ld.b.t.Errorf("%s: index %d reads back %d bytes, not the %d-byte entry acknowledged", ld.s.name, i, len(bundle[i%256]), len(e))
				}
			}
			if err != nil {
				if ld.fail(fmt.Errorf("reading entry %d: %w", i, err)) {
					return
				}
			} else {
				ld.b.reads.Add(1)
			}
		}
		select {
		case <-tick.C:
		case <-ld.stop:
		}
	}
}

func (ld *crashLoad) end(t *testing.T) {
	t.Helper()
	close(ld.stop)
	ld.wg.Wait()
	for _, err := range ld.errs {
		t.Errorf("%s: request failed while the log was up: %v", ld.s.name, err)
	}
}

// waitReady adds a first entry, retrying the 503 a witnessed log answers
// until its witness has confirmed its state.
func waitReady(t *testing.T, s *server, b *crashBook) {
	t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for {
		e := make([]byte, 1+mrand.N(crashMaxEntry))
		rand.Read(e)
		i, err := s.add(context.Background(), e)
		if err == nil {
			b.ack(i, e)
			return
		}
		if s.exitedEarly() {
			t.Fatalf("%s: the log exited (%v) after start instead of agreeing with its witness:\n%s", s.name, s.state, s.stderr.String())
		}
		if !strings.Contains(err.Error(), "503") || time.Now().After(deadline) {
			t.Fatalf("%s: POST /add after restart: %v\n%s", s.name, err, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyRestart checks a restarted log against the book: its witnessed
// checkpoint covers every acknowledged entry, each of which reads back byte
// for byte; the entries hash to the signed root; the witness's latest
// cosigned checkpoint is not ahead of the log; and every checkpoint ever
// seen is consistent with the next larger one. It returns the log's
// checkpoint and how many acknowledged entries were lost.
func verifyRestart(t *testing.T, s *server, b *crashBook, w *witnessNode, origin string) (checkpoint, int) {
	t.Helper()
	// The witness first: the log's witnessed checkpoint can only be newer.
	var wcp checkpoint
	if note := w.latest(origin); note != nil {
		wcp = openCosigned(t, note, b.vkey, []witnessKey{w.key}, 1).checkpoint
		b.seen(wcp)
	}
	b.mu.Lock()
	need := b.maxAck + 1
	b.mu.Unlock()
	var cp checkpoint
	deadline := time.Now().Add(witnessTimeout)
	for {
		var err error
		cp, err = s.fetchCheckpoint(b.vkey)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		b.fetches.Add(1)
		if cp.size >= need {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: the witnessed checkpoint stays at size %d; entries were acknowledged up to index %d", s.name, cp.size, need-1)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cp.size < wcp.size {
		t.Errorf("%s: serves size %d, but its witness cosigned %d", s.name, cp.size, wcp.size)
	}
	b.mu.Lock()
	maxSeen := b.maxSize
	b.mu.Unlock()
	if cp.size < maxSeen {
		t.Errorf("%s: tree size %d after restart, but a checkpoint of size %d was seen before", s.name, cp.size, maxSeen)
	}
	b.seen(cp)

	entries, err := readEntries(s, cp.size)
	if err != nil {
		t.Fatalf("%s: reading the entry bundles: %v", s.name, err)
	}
	b.reads.Add(int64(len(entries)))
	lost := 0
	b.mu.Lock()
	for i, e := range b.acked {
		if i >= int64(len(entries)) || !bytes.Equal(entries[i], e) {
			if lost++; lost <= 10 {
				t.Errorf("%s: the entry acknowledged at index %d is not there (tree size %d)", s.name, i, len(entries))
			}
		}
	}
	b.mu.Unlock()
	leaves := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		leaves[i] = tlog.RecordHash(e)
	}
	if root := merkleRoot(leaves); root != cp.root {
		t.Errorf("%s: the served entries hash to %v, the checkpoint of size %d says %v", s.name, root, cp.size, cp.root)
	}

	// Every checkpoint seen, consistent with the next larger one: a chain
	// of proofs from the smallest to the current one.
	b.mu.Lock()
	sizes := make([]int64, 0, len(b.cps))
	for n := range b.cps {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	type pair struct {
		a, b   int64
		ra, rb tlog.Hash
	}
	var todo []pair
	for k := 1; k < len(sizes); k++ {
		x, y := sizes[k-1], sizes[k]
		if x == 0 || y > cp.size || b.proven[[2]int64{x, y}] {
			continue
		}
		todo = append(todo, pair{x, y, b.cps[x], b.cps[y]})
	}
	if root, ok := b.cps[0]; ok && root != merkleRoot(nil) {
		t.Errorf("a checkpoint of size 0 with root %v, not the empty tree's", root)
	}
	b.mu.Unlock()
	for _, p := range todo {
		if err := fetchConsistency(s, p.a, p.ra, p.b, p.rb); err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		b.proofs.Add(1)
		b.mu.Lock()
		b.proven[[2]int64{p.a, p.b}] = true
		b.mu.Unlock()
	}
	return cp, lost
}

func crashRounds(t *testing.T) int {
	v := os.Getenv("TLOG_CRASH_ROUNDS")
	if v == "" {
		return crashDefaultRounds
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("TLOG_CRASH_ROUNDS=%q: want a positive number of rounds", v)
	}
	return n
}

func TestCrashRounds(t *testing.T) {
	rounds := crashRounds(t)
	quickRaceExit(t)
	dir := t.TempDir()
	origin := "example.com/crash-rounds"
	keyFile, _, vkey := runKeygen(t, dir, origin, "log")
	w := newWitnessNode(t, dir, "W1", "witness1.example/crash-rounds", vkey)
	w.start("127.0.0.1:0")
	policy := fmt.Sprintf("log %s\nwitness W1 %s %s\ngroup g 1 W1\nquorum g\n", vkey, w.key.vkey, w.url())
	policyFile := filepath.Join(dir, "policy.txt")
	if err := os.WriteFile(policyFile, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// Every checkpoint kept in the history, so that fsck checks each root.
	flags := []string{"--key", keyFile, "--witness-policy", policyFile, "--witness-interval", witnessInterval, "--checkpoint-history", "0"}
	b := newCrashBook(t, vkey)

	start := time.Now()
	totalLost := 0
	witnessSizes := map[int64]bool{}
	var cp checkpoint
	for round := 0; ; round++ {
		name := fmt.Sprintf("log, start %d", round)
		if round == rounds {
			name = "log after the last kill"
		}
		s, err := tryStartServer(t, name, data, flags...)
		if err != nil {
			t.Fatalf("%s: the log did not come up (a log that forked from its witness refuses to start): %v", name, err)
		}
		if s.vkey != vkey {
			t.Fatalf("%s: vkey %q, want %q", name, s.vkey, vkey)
		}
		waitReady(t, s, b)
		var lost int
		cp, lost = verifyRestart(t, s, b, w, origin)
		totalLost += lost
		if ws := w.latestSize(vkey, origin); ws >= 0 {
			witnessSizes[ws] = true
		}
		if t.Failed() {
			t.FailNow()
		}
		if round == rounds {
			if code := s.stop(); code != 0 {
				t.Errorf("%s: exit %d after SIGTERM", s.name, code)
			}
			s.checkNoRace()
			break
		}

		ld := startCrashLoad(s, b, cp)
		delay := crashMinLoad + mrand.N(crashMaxLoad-crashMinLoad+1)
		time.Sleep(delay) // the fault injection: kill at a random moment
		ld.ending.Store(true)
		if s.exitedEarly() {
			ld.end(t)
			t.Fatalf("%s: the log exited on its own under load: %v", s.name, s.state)
		}
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.waitExit(exitTimeout); !ok {
			t.Fatalf("%s: still running %v after SIGKILL", s.name, exitTimeout)
		}
		ld.end(t)
		s.checkNoRace()
		b.mu.Lock()
		acked, cps := len(b.acked), len(b.cps)
		b.mu.Unlock()
		t.Logf("round %d: started at size %d, killed after %v of load (%d acks, %d pushbacks); so far %d acknowledged, %d checkpoints",
			round+1, cp.size, delay.Round(time.Millisecond), ld.acks.Load(), ld.pushbacks.Load(), acked, cps)
		if t.Failed() {
			t.FailNow()
		}
		s.quiet = true // its output is only of interest if this round failed
	}
	w.s.checkNoRace()

	r := runTlogFor(t, 5*time.Minute, nil, "fsck", "--data", data)
	if r.code != 0 {
		logResult(t, "fsck after the crashes", r)
		t.Errorf("tlog fsck after %d kills: exit %d", rounds, r.code)
	}
	b.mu.Lock()
	acked, cps := len(b.acked), len(b.cps)
	b.mu.Unlock()
	if len(witnessSizes) < 2 {
		t.Errorf("the witness cosigned only sizes %v over the rounds: witnessing did not run", witnessSizes)
	}
	t.Logf("crash summary: rounds=%d acknowledged=%d lost=%d checkpoints_checked=%d (distinct sizes; %d fetches verified with the log key) consistency_proofs_checked=%d final_size=%d witness_sizes=%d fsck=%s elapsed=%v",
		rounds, acked, totalLost, cps, b.fetches.Load(), b.proofs.Load(), cp.size, len(witnessSizes), map[bool]string{true: "ok", false: "FAILED"}[r.code == 0], time.Since(start).Round(time.Second))
}
