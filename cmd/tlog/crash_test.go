package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Bounds of the load a round puts on the server.
const (
	loadWriters     = 16
	loadMaxPerRound = 400 // requests per writer and round
	loadPollers     = 2
	loadMaxPolls    = 2000 // checkpoint fetches per poller and round
	// pollInterval paces the checkpoint pollers so that they do not starve
	// the writers and the server of CPU.
	pollInterval = 2 * time.Millisecond
	// dedupOneIn: a writer re-POSTs an acknowledged entry once in this
	// many requests, from the second start on.
	dedupOneIn = 16
)

// ledger is what the tests saw the log promise: every acknowledged
// (index, entry) and every checkpoint served. Safe for concurrent use.
type ledger struct {
	t     *testing.T
	vkey  string
	mu    sync.Mutex
	sent  map[string]bool     // every entry generated, acknowledged or not
	acked map[int64][]byte    // index → entry, from 200 answers
	index map[string]int64    // entry → index, from 200 answers
	order []int64             // the keys of acked, for random picks
	cps   map[int64]tlog.Hash // size → root of every checkpoint seen
	max   int64               // the largest tree size seen
	dups  int                 // re-POSTs of acknowledged entries answered 200
}

func newLedger(t *testing.T, vkey string) *ledger {
	return &ledger{
		t:     t,
		vkey:  vkey,
		sent:  make(map[string]bool),
		acked: make(map[int64][]byte),
		index: make(map[string]int64),
		cps:   make(map[int64]tlog.Hash),
	}
}

// newEntry returns random bytes of random length 1…2000, never generated
// before.
func (l *ledger) newEntry() []byte {
	for {
		e := make([]byte, 1+mrand.N(2000))
		rand.Read(e)
		l.mu.Lock()
		fresh := !l.sent[string(e)]
		l.sent[string(e)] = true
		l.mu.Unlock()
		if fresh {
			return e
		}
	}
}

// ack records a 200 answer to POST /add.
func (l *ledger) ack(index int64, e []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.acked[index]; ok && !bytes.Equal(old, e) {
		l.t.Errorf("index %d acknowledged for two different entries (%d and %d bytes)", index, len(old), len(e))
		return
	}
	if old, ok := l.index[string(e)]; ok && old != index {
		l.t.Errorf("an entry acknowledged at index %d was acknowledged again at index %d", old, index)
		return
	}
	if _, ok := l.acked[index]; !ok {
		l.order = append(l.order, index)
	}
	l.acked[index] = e
	l.index[string(e)] = index
}

// pickAcked returns a random acknowledged entry and its index.
func (l *ledger) pickAcked() ([]byte, int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.order) == 0 {
		return nil, 0, false
	}
	i := l.order[mrand.N(len(l.order))]
	return l.acked[i], i, true
}

// checkpoint records a checkpoint seen: two roots for one size is a fork.
func (l *ledger) checkpoint(c checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if root, ok := l.cps[c.size]; ok && root != c.root {
		l.t.Errorf("fork: two checkpoints of size %d with roots %v and %v", c.size, root, c.root)
		return
	}
	l.cps[c.size] = c.root
	l.max = max(l.max, c.size)
}

func (l *ledger) counts() (acked, cps, dups int, maxSize int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), len(l.cps), l.dups, l.max
}

// load is writers and checkpoint pollers running against one server until
// stopped.
type load struct {
	s    *server
	l    *ledger
	dups bool // re-POST acknowledged entries too

	// ending is set just before the test signals the server: from then
	// on, failed requests are expected.
	ending atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
	// late counts entries acknowledged after ending was set: requests
	// that were in flight when the server was signalled.
	late atomic.Int64

	mu         sync.Mutex
	unexpected []error // failures while the server should have been up
}

func startLoad(s *server, l *ledger, dups bool) *load {
	ld := &load{s: s, l: l, dups: dups, stop: make(chan struct{})}
	for range loadWriters {
		ld.wg.Add(1)
		go ld.writer()
	}
	for range loadPollers {
		ld.wg.Add(1)
		go ld.poller()
	}
	return ld
}

func (ld *load) stopped() bool {
	select {
	case <-ld.stop:
		return true
	default:
		return false
	}
}

// failed records an error unless the server is being stopped, and says
// whether the goroutine should give up. With 16 writers and a pool of
// thousands, even pushback (503) is unexpected.
func (ld *load) failed(err error) bool {
	if ld.ending.Load() {
		return true
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.unexpected = append(ld.unexpected, err)
	return len(ld.unexpected) > 10
}

func (ld *load) writer() {
	defer ld.wg.Done()
	ctx := context.Background()
	for n := 0; n < loadMaxPerRound && !ld.stopped(); n++ {
		if ld.dups && mrand.N(dedupOneIn) == 0 {
			if e, want, ok := ld.l.pickAcked(); ok {
				got, err := ld.s.add(ctx, e)
				if err != nil {
					if ld.failed(err) {
						return
					}
					continue
				}
				if got != want {
					ld.l.t.Errorf("re-POST of the entry acknowledged at %d got index %d", want, got)
				}
				ld.l.mu.Lock()
				ld.l.dups++
				ld.l.mu.Unlock()
				continue
			}
		}
		e := ld.l.newEntry()
		i, err := ld.s.add(ctx, e)
		if err != nil {
			if ld.failed(err) {
				return
			}
			continue
		}
		if ld.ending.Load() {
			ld.late.Add(1)
		}
		ld.l.ack(i, e)
	}
}

func (ld *load) poller() {
	defer ld.wg.Done()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	last := int64(-1)
	for n := 0; n < loadMaxPolls && !ld.stopped(); n++ {
		c, err := ld.s.fetchCheckpoint(ld.l.vkey)
		if err != nil {
			if ld.failed(err) {
				return
			}
		} else {
			if c.size < last {
				ld.l.t.Errorf("tree size went down from %d to %d between two polls", last, c.size)
			}
			last = c.size
			ld.l.checkpoint(c)
		}
		select {
		case <-tick.C:
		case <-ld.stop:
		}
	}
}

// end stops the load after the server was signalled and checks that no
// request failed while the server was meant to be up.
func (ld *load) end(t *testing.T) {
	t.Helper()
	close(ld.stop)
	ld.wg.Wait()
	for _, err := range ld.unexpected {
		t.Errorf("%s: request failed while the server was up: %v", ld.s.name, err)
	}
}

// verifyLog checks a freshly started server against everything the ledger
// recorded: (a) every acknowledged entry is at its index, (b) the served
// checkpoint is consistent with every checkpoint seen before (x/mod's
// ProveTree/CheckTree over tiles fetched over HTTP), (c) the tree size did
// not go down. It returns the served checkpoint.
func verifyLog(t *testing.T, s *server, l *ledger) checkpoint {
	t.Helper()
	cp := s.mustCheckpoint(l.vkey)
	l.mu.Lock()
	defer l.mu.Unlock()

	// (c) The tree never shrinks, and two checkpoints of one size agree.
	if cp.size < l.max {
		t.Errorf("%s: tree size %d after restart, but a checkpoint of size %d was served before", s.name, cp.size, l.max)
	}
	if root, ok := l.cps[cp.size]; ok && root != cp.root {
		t.Errorf("%s: fork: checkpoint of size %d has root %v, an earlier one had %v", s.name, cp.size, cp.root, root)
	}

	// (a) Every acknowledged entry is in the entry bundles at its index,
	// and the bundles hash to the signed root.
	entries, err := readEntries(s, cp.size)
	if err != nil {
		t.Fatalf("%s: reading the entry bundles: %v", s.name, err)
	}
	missing := 0
	for i, e := range l.acked {
		switch {
		case i >= cp.size:
			t.Errorf("%s: entry acknowledged at index %d, beyond the tree size %d after restart", s.name, i, cp.size)
		case !bytes.Equal(entries[i], e):
			t.Errorf("%s: index %d holds %d bytes, not the %d-byte entry acknowledged there", s.name, i, len(entries[i]), len(e))
		default:
			continue
		}
		if missing++; missing > 10 {
			t.Fatalf("%s: too many lost entries", s.name)
		}
	}
	leaves := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		leaves[i] = tlog.RecordHash(e)
	}
	if root := merkleRoot(leaves); root != cp.root {
		t.Errorf("%s: the served entries hash to %v, the checkpoint of size %d says %v", s.name, root, cp.size, cp.root)
	}

	// (b) Consistency with every checkpoint seen, by x/mod over the
	// served hash tiles.
	hr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, newHTTPTiles(s))
	if th, err := tlog.TreeHash(cp.size, hr); err != nil || th != cp.root {
		t.Errorf("%s: x/mod TreeHash(%d) over the served tiles: %v, %v; the checkpoint says %v", s.name, cp.size, th, err, cp.root)
	}
	sizes := make([]int64, 0, len(l.cps))
	for n := range l.cps {
		sizes = append(sizes, n)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	bad := 0
	for _, n := range sizes {
		old := l.cps[n]
		var err error
		switch {
		case n > cp.size:
			continue // reported above
		case n == 0:
			if old != merkleRoot(nil) {
				err = fmt.Errorf("root %v is not the empty tree's", old)
			}
		default:
			var p tlog.TreeProof
			if p, err = tlog.ProveTree(cp.size, n, hr); err == nil {
				err = tlog.CheckTree(p, cp.size, cp.root, n, old)
			}
		}
		if err != nil {
			t.Errorf("%s: checkpoint %d (%v) seen before is not consistent with the new checkpoint %d (%v): %v", s.name, n, old, cp.size, cp.root, err)
			if bad++; bad > 10 {
				t.FailNow()
			}
		}
	}
	l.cps[cp.size] = cp.root
	l.max = max(l.max, cp.size)
	return cp
}

// checkDedup re-POSTs up to n acknowledged entries one by one: each must
// get its original index.
func checkDedup(t *testing.T, s *server, l *ledger, n int) {
	t.Helper()
	for range n {
		e, want, ok := l.pickAcked()
		if !ok {
			return
		}
		if got := s.mustAdd(e); got != want {
			t.Errorf("%s: re-POST of the entry acknowledged at %d got index %d", s.name, want, got)
		}
	}
}

// writeKey writes a log key made by x/mod's note package and returns its
// path and verifier key.
func writeKey(t *testing.T, origin string) (string, string) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, vkey
}

func TestCrashKill9(t *testing.T) {
	const rounds = 6
	keyFile, vkey := writeKey(t, "example.com/crash")
	data := filepath.Join(t.TempDir(), "data")
	l := newLedger(t, vkey)
	// Keep every checkpoint in the history, so that the final fsck checks
	// each signed root.
	flags := []string{"--key", keyFile, "--checkpoint-history", "0"}

	for round := range rounds {
		s := startServer(t, fmt.Sprintf("round %d", round), data, flags...)
		if s.vkey != vkey {
			t.Fatalf("%s: listening with vkey %q, want %q", s.name, s.vkey, vkey)
		}
		cp := verifyLog(t, s, l)
		checkDedup(t, s, l, 10)

		ld := startLoad(s, l, round > 0)
		delay := 50*time.Millisecond + mrand.N(650*time.Millisecond)
		time.Sleep(delay) // the fault injection: kill at a random moment
		ld.ending.Store(true)
		if s.exitedEarly() {
			ld.end(t)
			t.Fatalf("%s: the server exited on its own under load: %v", s.name, s.state)
		}
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.waitExit(exitTimeout); !ok {
			t.Fatalf("%s: still running %v after SIGKILL", s.name, exitTimeout)
		}
		ld.end(t)
		s.checkNoRace()
		acked, cps, dups, maxSize := l.counts()
		t.Logf("round %d: started at size %d, killed after %v; so far %d entries acknowledged, %d checkpoints seen (largest %d), %d duplicates answered",
			round, cp.size, delay, acked, cps, maxSize, dups)
		if t.Failed() {
			return
		}
	}

	s := startServer(t, "after the last kill", data, flags...)
	cp := verifyLog(t, s, l)
	checkDedup(t, s, l, 10)
	acked, cps, dups, _ := l.counts()
	if acked == 0 || cps < rounds || dups == 0 {
		t.Errorf("the load was too light to show anything: %d entries acknowledged, %d checkpoints, %d duplicates", acked, cps, dups)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("%s: exit %d after SIGTERM", s.name, code)
	}
	s.checkNoRace()
	if r := runTlog(t, "fsck", "--data", data); r.code != 0 {
		logResult(t, "fsck after the crashes", r)
		t.Errorf("fsck after %d crashes: exit %d", rounds, r.code)
	}
	t.Logf("final tree size %d", cp.size)
}

func TestGracefulShutdown(t *testing.T) {
	keyFile, vkey := writeKey(t, "example.com/graceful")
	data := filepath.Join(t.TempDir(), "data")
	l := newLedger(t, vkey)

	// Batches wait up to 50 ms for more entries, so that at any moment
	// most writers have a request in flight: the signal is sure to catch
	// some, however fast commits are.
	s := startServer(t, "first", data, "--key", keyFile, "--batch-age", "50ms")
	ld := startLoad(s, l, true)
	// Signal once the writers are well under way.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _, _, _ := l.counts(); n >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the ledger, not synchronising with the server
	}
	// Acknowledgements come in bursts, one per batch: right after one,
	// the writers' next requests may not have reached the server yet.
	// Signal once some are waiting in the pool for the next batch.
	for time.Now().Before(deadline.Add(2 * time.Second)) {
		if pendingEntries(s) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ld.ending.Store(true)
	if s.exitedEarly() {
		ld.end(t)
		t.Fatalf("%s: the server exited on its own under load: %v", s.name, s.state)
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, ok := s.waitExit(5 * time.Second)
	if !ok {
		s.kill()
		ld.end(t)
		t.Fatalf("still running 5s after SIGTERM")
	}
	took := time.Since(start)
	ld.end(t)
	if code != 0 {
		t.Errorf("exit %d after SIGTERM with writers active, want 0", code)
	}
	stopped := s.logRecord("stopped")
	if stopped == nil {
		t.Errorf("no \"stopped\" log line")
	}
	s.checkNoRace()
	acked, _, _, maxSize := l.counts()
	t.Logf("SIGTERM with %d entries acknowledged; %d requests in flight then were answered 200; exited in %v; %v", acked, ld.late.Load(), took, stopped)
	if ld.late.Load() == 0 {
		t.Errorf("no request in flight at SIGTERM was answered: the shutdown did not let them finish (or the load was idle)")
	}

	s = startServer(t, "restart", data, "--key", keyFile)
	cp := verifyLog(t, s, l)
	if stopped != nil && stopped["size"] != fmt.Sprint(cp.size) {
		t.Errorf("the stopped line says size=%s, the restarted log serves size %d", stopped["size"], cp.size)
	}
	if cp.size < maxSize {
		t.Errorf("restarted at size %d < %d seen before", cp.size, maxSize)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("restart: exit %d after SIGTERM", code)
	}
	s.checkNoRace()
}

// pendingEntries reads tlog_pending_entries from the server's /metrics
// (-1 when it cannot).
func pendingEntries(s *server) int64 {
	code, body, _, err := s.get("/metrics")
	if err != nil || code != http.StatusOK {
		return -1
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "tlog_pending_entries "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
