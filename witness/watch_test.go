package witness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
)

var watchHTTP = &http.Client{Timeout: 10 * time.Second}

// TestForkedRealLog: two logs run in process with the same key K and
// different entries — a fork on purpose — are served over HTTP (api.New).
// Both the push path (add-checkpoint) and the pull path (Watcher) detect
// it, never cosign it and keep the evidence; the watcher follows the
// honest log as it grows, with proofs it builds from the log's tiles.
func TestForkedRealLog(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	honest := newRealLog(t, lk)
	forked := newRealLog(t, lk)
	honest.add(t, 1000, "honest")
	forked.add(t, 1000, "forked")
	fork1000 := forked.note()
	// Both are checkpoints genuinely signed by K (x/mod verifies).
	for _, n := range [][]byte{honest.note(), fork1000} {
		if _, err := note.Open(n, note.VerifierList(lk.xverifier)); err != nil {
			t.Fatal(err)
		}
	}

	// Pull mode: a watcher cosigns the honest log, then meets the fork at
	// the same size.
	pulled := newTW(t, newWitnessKey(t, "example.com/watcher"), []logKey{lk}, twOpts{})
	wt := &Watcher{W: pulled.w, LogURL: honest.srv.URL, HTTP: watchHTTP}
	ctx := t.Context()
	if size, err := wt.Step(ctx); err != nil || size != 1000 {
		t.Fatalf("Step on the honest log: %d, %v", size, err)
	}
	checkStored(t, pulled, honest)
	forkWatch := &Watcher{W: pulled.w, LogURL: forked.srv.URL, HTTP: watchHTTP}
	if _, err := forkWatch.Step(ctx); !errors.Is(err, ErrFork) {
		t.Fatalf("Step on the fork at the same size: %v, want ErrFork", err)
	}
	if n := pulled.w.ForkCount(); n != 1 {
		t.Fatalf("watcher: %d evidence records after the same-size fork, want 1", n)
	}

	// Push mode: the honest checkpoint, then the fork at the same size.
	pushed := newTW(t, wk, []logKey{lk}, twOpts{})
	if r := pushed.post(t, reqBody(0, nil, honest.note())); r.code != 200 {
		t.Fatal(r)
	} else {
		checkCosigned(t, honest.note(), r.body, lk, wk)
	}
	if r := pushed.post(t, reqBody(1000, nil, fork1000)); r.code != 409 || r.ctype != "text/x.tlog.size" || string(r.body) != "1000\n" {
		t.Fatalf("fork at the same size: %v, want 409 \"1000\\n\"", r)
	}

	// The fork grows; its checkpoint comes with a consistency proof from
	// the fork's own tree (x/mod's), which cannot match the honest root.
	// Pushed, the proof is only the sender's word: refused, counted as a
	// bad proof, not kept (anyone could send a junk one).
	forked.add(t, 500, "forked")
	proof := forked.x.proof(t, 1000, 1500)
	if r := pushed.post(t, reqBody(1000, proof, forked.note())); r.code != 422 {
		t.Fatalf("larger fork with its own proof: %v, want 422", r)
	}
	if n, bad := pushed.w.ForkCount(), pushed.w.BadProofCount(); n != 1 || bad != 1 {
		t.Fatalf("push: %d evidence records and %d bad proofs, want 1 and 1", n, bad)
	}
	recs := parseEvidence(t, pushed.get(t, "/forks").body)
	if len(recs) != 1 || recs[0].kind != "same-size-different-root" {
		t.Fatalf("GET /forks: %+v", recs)
	}
	for _, e := range recs {
		for _, n := range [][]byte{e.cosigned, e.submitted} {
			if _, err := note.Open(n, note.VerifierList(lk.xverifier)); err != nil {
				t.Errorf("evidence note does not verify under K: %v", err)
			}
		}
	}
	if size, root := pushed.state(t, testOrigin); size != 1000 || root != honest.x.root(t, 1000) {
		t.Fatalf("push witness state %d after the fork, want the honest 1000", size)
	}

	// Pull mode meets the larger fork: the watcher builds the proof from
	// the fork's tiles (consistent with the fork's checkpoint), which the
	// witness then refuses. That proof is the log's own data: evidence.
	if _, err := forkWatch.Step(ctx); !errors.Is(err, ErrBadProof) {
		t.Fatalf("Step on the larger fork: %v, want ErrBadProof", err)
	}
	if n := pulled.w.ForkCount(); n != 2 {
		t.Fatalf("watcher: %d evidence records, want 2", n)
	}
	recs = parseEvidence(t, pulled.get(t, "/forks").body)
	if len(recs) != 2 || recs[0].kind != "same-size-different-root" || recs[1].kind != "consistency-proof-fails" {
		t.Fatalf("watcher GET /forks: %+v", recs)
	}
	// Run stops on the fork with that error.
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := forkWatch.Run(runCtx, 10*time.Millisecond); !errors.Is(err, ErrBadProof) {
		t.Fatalf("Run on the fork: %v, want ErrBadProof", err)
	}
	checkStored(t, pulled, &realLog{x: honest.x}) // untouched: still 1000

	// The watcher follows the honest log, across tile boundaries, with
	// proofs built from tiles.
	for _, n := range []int{300, 5000, 1} {
		honest.add(t, n, "honest")
		before := honest.tiles.Load()
		size, err := wt.Step(ctx)
		if err != nil || size != honest.size() {
			t.Fatalf("Step after growth to %d: %d, %v", honest.size(), size, err)
		}
		if honest.tiles.Load() == before {
			t.Errorf("Step to %d read no tiles", size)
		}
		checkStored(t, pulled, honest)
	}
	// An unchanged log: Step is idempotent.
	if size, err := wt.Step(ctx); err != nil || size != honest.size() {
		t.Fatalf("Step on an unchanged log: %d, %v", size, err)
	}
}

// checkStored: the witness's state is the log's size with x/mod's root,
// and the served checkpoint opens with x/mod and torchwood.
func checkStored(t testing.TB, w *testWitness, l *realLog) {
	t.Helper()
	want := len(l.x.entries)
	size, root := w.state(t, testOrigin)
	if size != uint64(want) || root != l.x.root(t, want) {
		t.Fatalf("witness stored %d %x, want %d %x (x/mod)", size, root, want, l.x.root(t, want))
	}
	g := w.get(t, originPath(testOrigin))
	n, err := note.Open(g.body, note.VerifierList(l.x.key.xverifier, w.key.tw.Verifier()))
	if err != nil || len(n.Sigs) != 2 || n.Text != l.x.text(t, want) {
		t.Fatalf("served checkpoint: %v, %v", g, err)
	}
}

// TestWatcherKeepsUp: a log receiving well over 5,000 entries/s for about
// 3 s, added in process in large concurrent chunks, followed by
// Watcher.Run every 100 ms over HTTP: within 1 s of the load stopping the
// witness has cosigned the log's final size (with x/mod's root).
func TestWatcherKeepsUp(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	lg := newRealLog(t, lk)
	w := newTW(t, wk, []logKey{lk}, twOpts{})
	wt := &Watcher{W: w.w, LogURL: lg.srv.URL, HTTP: watchHTTP}

	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- wt.Run(ctx, 100*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-runDone; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()

	const (
		loadFor = 3 * time.Second
		// target paces the load at four times the rate the witness must
		// keep up with, so that the test stays bounded in memory and time.
		target  = 20_000 // entries/s
		workers = 4
		chunk   = 1000
	)
	var (
		mu      sync.Mutex
		entries [][]byte
		wg      sync.WaitGroup
		sizes   = map[uint64]bool{} // sizes the witness held during the load
		added   atomic.Int64
	)
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; time.Since(start) < loadFor; c++ {
				// Pacing the load generator, not sequencing the test.
				due := start.Add(time.Duration(added.Add(chunk)) * time.Second / target)
				time.Sleep(time.Until(due))
				batch := make([][]byte, chunk)
				for j := range batch {
					batch[j] = fmt.Appendf(nil, "load %d.%d.%d", i, c, j)
				}
				fs := make([]*log.Future, len(batch))
				for j, e := range batch {
					fs[j] = lg.l.Add(e)
				}
				for _, f := range fs {
					if _, err := f.Wait(context.Background()); err != nil {
						t.Errorf("add: %v", err)
						return
					}
				}
				mu.Lock()
				entries = append(entries, batch...)
				s, _, _ := w.w.State(testOrigin)
				sizes[s] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	final := lg.size()
	rate := float64(final) / elapsed.Seconds()

	stopped := time.Now()
	deadline := stopped.Add(time.Second)
	var size uint64
	for {
		size, _ = w.state(t, testOrigin)
		if size >= final || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling a deadline, not sequencing
	}
	lag := time.Since(stopped)
	t.Logf("log grew to %d entries in %v: %.0f entries/s; the witness cosigned %d distinct sizes during the load; caught up %v after the load stopped",
		final, elapsed.Round(time.Millisecond), rate, len(sizes), lag.Round(time.Millisecond))
	if rate < 5000 {
		if raceEnabled {
			t.Logf("under the race detector the load reached only %.0f entries/s", rate)
		} else {
			t.Errorf("the load was only %.0f entries/s, want ≥ 5,000", rate)
		}
	}
	if size != final {
		t.Fatalf("1 s after the load stopped the witness holds size %d, the log %d", size, final)
	}
	if len(sizes) < 3 {
		t.Errorf("the witness held only %d sizes during the load: it did not follow the log while it grew", len(sizes))
	}
	// The cosigned root is x/mod's over the entries in log order.
	ordered := make([][]byte, final)
	for _, e := range entries {
		idx, err := lg.l.LeafIndex(proofs.Hash(tlog.RecordHash(e)))
		if err != nil {
			t.Fatal(err)
		}
		ordered[idx] = e
	}
	xl := &xlog{key: lk, entries: ordered}
	for _, e := range ordered {
		if err := xl.tree.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	_, root := w.state(t, testOrigin)
	if root != xl.root(t, int(final)) {
		t.Fatalf("witness root %x, x/mod's %x", root, xl.root(t, int(final)))
	}
}

// tilesLog is a minimal c2sp.org/tlog-tiles log written for the test on
// x/mod's tiles (tlog.ReadTileData): it holds `size` entries but serves
// the checkpoint of `served` (as a cached checkpoint, or one fetched just
// before the log grew, would be), and — as SPECS §4 and tlog-tiles allow —
// answers 404 for a partial tile whose full tile now exists.
type tilesLog struct {
	x       *xlog
	size    int
	served  []byte
	corrupt map[string]bool // tile paths served with every byte flipped
	asked   []string        // tile paths requested, with their status
	mu      sync.Mutex
}

func (l *tilesLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/checkpoint" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(l.served)
		return
	}
	code := l.tile(w, r.URL.Path)
	l.mu.Lock()
	l.asked = append(l.asked, fmt.Sprintf("%s %d", r.URL.Path, code))
	l.mu.Unlock()
}

func (l *tilesLog) tile(w http.ResponseWriter, path string) int {
	t, err := tlog.ParseTilePath("tile/8/" + strings.TrimPrefix(path, "/tile/"))
	if err != nil || t.L < 0 {
		http.NotFound(w, nil)
		return 404
	}
	hashes := int64(l.size) >> (8 * t.L) // hashes at this tile level now
	full := (t.N+1)*256 <= hashes
	switch {
	case t.W < 256 && full, // a partial that has since become full
		!full && int64(t.W) > hashes-t.N*256: // beyond the tree
		http.NotFound(w, nil)
		return 404
	}
	b, err := tlog.ReadTileData(t, &l.x.tree)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return 500
	}
	if l.corrupt[path] {
		for i := range b {
			b[i] ^= 0xff
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
	return 200
}

// TestWatcherPartialTileBecameFull: the watcher follows a conforming
// tlog-tiles log whose checkpoint is a little behind its tiles: the
// partial tiles of that checkpoint's size are already full, and the log
// answers 404 for them. SPECS §4: "404 is the norm and clients then fetch
// the full tile" — the watcher must use the full tile's prefix and cosign.
func TestWatcherPartialTileBecameFull(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 1300, "main")
	tl := &tilesLog{x: x, size: 1300, served: x.checkpoint(t, 500)}
	srv := httptest.NewServer(tl)
	defer srv.Close()
	w := newTW(t, newWitnessKey(t, witnessName), []logKey{lk}, twOpts{})
	wt := &Watcher{W: w.w, LogURL: srv.URL, HTTP: watchHTTP}
	if size, err := wt.Step(t.Context()); err != nil || size != 500 {
		t.Fatalf("first Step: %d, %v", size, err)
	}
	// The log grew to 1300; the checkpoint served is the one of 1000,
	// whose level-0 partial tile 003.p/232 is now the full tile 003.
	tl.served = x.checkpoint(t, 1000)
	size, err := wt.Step(t.Context())
	t.Logf("tiles asked: %v", tl.asked)
	if err != nil || size != 1000 {
		t.Fatalf("Step with the partial tile gone: %d, %v; want size 1000 cosigned from the full tile", size, err)
	}
	if s, root := w.state(t, testOrigin); s != 1000 || root != x.root(t, 1000) {
		t.Fatalf("stored %d %x, want 1000 %x", s, root, x.root(t, 1000))
	}
}

// xTiles reads c2sp tiles over HTTP for x/mod's tlog.TileHashReader,
// which authenticates every tile against a signed tree hash.
type xTiles struct{ url string }

func (r xTiles) Height() int { return 8 }

func (r xTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.TrimPrefix(t.Path(), "tile/8/")
		resp, err := watchHTTP.Get(r.url + "/tile/" + p)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %d %v", p, resp.StatusCode, err)
		}
		out[i] = b
	}
	return out, nil
}

func (r xTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestWatcherCorruptTileIsNotAFork: a tile server (a broken cache, a
// network attacker) serves a corrupt hash tile that the checkpoint's
// right edge does not use but the consistency proof does. x/mod's
// authenticating tile reader shows the tile does not match the signed
// checkpoint. The log signed nothing inconsistent, so this is "tiles that
// do not match its own checkpoint" (Watcher.Step's contract: another
// error), not ErrBadProof: no evidence, no FORK, and Run keeps going.
func TestWatcherCorruptTileIsNotAFork(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 1000, "main")
	tl := &tilesLog{x: x, size: 1000, served: x.checkpoint(t, 500), corrupt: map[string]bool{"/tile/0/001": true}}
	srv := httptest.NewServer(tl)
	defer srv.Close()
	w := newTW(t, newWitnessKey(t, witnessName), []logKey{lk}, twOpts{})
	wt := &Watcher{W: w.w, LogURL: srv.URL, HTTP: watchHTTP}
	if size, err := wt.Step(t.Context()); err != nil || size != 500 {
		t.Fatalf("first Step: %d, %v", size, err)
	}
	tl.served = x.checkpoint(t, 1000)

	// The independent check: x/mod, reading the same tiles against the
	// signed root of 1000, refuses the corrupt tile while proving 500 → 1000.
	thr := tlog.TileHashReader(tlog.Tree{N: 1000, Hash: x.root(t, 1000)}, xTiles{srv.URL})
	if _, err := tlog.ProveTree(1000, 500, thr); err == nil {
		t.Fatal("x/mod accepted the corrupt tile: the test's premise is wrong")
	} else {
		t.Logf("x/mod: %v", err)
	}

	_, err := wt.Step(t.Context())
	t.Logf("Step: %v", err)
	if err == nil {
		t.Fatal("Step cosigned from a corrupt tile")
	}
	if errors.Is(err, ErrBadProof) || errors.Is(err, ErrFork) {
		t.Errorf("a corrupt tile was reported as log misbehaviour (%v); Run would stop following the log", err)
	}
	if n := w.w.ForkCount(); n != 0 {
		t.Errorf("%d fork evidence records for two consistent checkpoints signed by the log", n)
	}
	if s, root := w.state(t, testOrigin); s != 500 || root != x.root(t, 500) {
		t.Fatalf("state %d, want 500", s)
	}
	// Run must keep retrying (the cache may heal), not end as on a fork.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := wt.Run(ctx, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run against a corrupt tile ended with %v; want it still running at its deadline", err)
	}
}
