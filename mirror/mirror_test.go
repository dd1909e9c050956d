package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// source is an in-process tlog serve: a log on an in-memory FS behind
// api.New, on 127.0.0.1, whose handler a test can swap (a fork at the
// same URL) or wrap (tampering).
type source struct {
	t       testing.TB
	signer  *signer.Signer
	logs    []*log.Log
	handler atomic.Pointer[http.Handler]
	srv     *httptest.Server
	reqs    atomic.Int64
	log     *log.Log
}

func newKey(t testing.TB) *signer.Signer {
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/mirror-test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newSource(t testing.TB, s *signer.Signer) *source {
	src := &source{t: t, signer: s}
	src.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src.reqs.Add(1)
		(*src.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		src.srv.Close()
		for _, l := range src.logs {
			l.Close()
		}
	})
	src.swap()
	return src
}

// swap puts a new, empty log with the same key behind the URL.
func (src *source) swap() {
	l, err := log.Open(log.Config{Dir: "/log", FS: vfs.NewMem(), Signer: src.signer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		src.t.Fatal(err)
	}
	src.logs = append(src.logs, l)
	src.log = l
	var h http.Handler = api.New(api.Config{Log: l, Logger: slog.New(slog.DiscardHandler)})
	src.handler.Store(&h)
}

func (src *source) add(tag string, from, n int) {
	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = fmt.Appendf(nil, "%s entry %d", tag, from+i)
	}
	logtest.AddAll(src.t, src.log, entries)
}

func (src *source) URL() string { return src.srv.URL }

func (src *source) opener() func([]byte) (signer.Checkpoint, *signer.Note, error) {
	v := src.signer.Verifier()
	return func(n []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(n, v) }
}

func openMirror(t *testing.T, src *source, dir string) *Mirror {
	t.Helper()
	f, err := client.NewTileFetcher(src.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(Config{Source: f, Open: src.opener(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	b, err := tryGet(url)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tryGet GETs url and returns the body of a 200 answer.
func tryGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b, nil
}

// allTiles lists every hash tile and bundle path of the tree of size,
// partial ones included.
func allTiles(size uint64) []string {
	var paths []string
	for level := uint8(0); levelSize(level, size) > 0; level++ {
		n := levelSize(level, size)
		for k := uint64(0); k*proofs.TileWidth < n; k++ {
			t := proofs.Tile{Level: level, Index: k, Width: uint16(min(proofs.TileWidth, n-k*proofs.TileWidth))}
			paths = append(paths, t.Path())
			if level == 0 {
				paths = append(paths, t.EntriesPath())
			}
		}
	}
	return paths
}

// checkSame checks that the mirror at murl serves the source's checkpoint
// and every tile and bundle of it byte for byte, that the checkpoint
// verifies with x/mod's note package, and that the mirror's proofs verify
// with x/mod's tlog package.
func checkSame(t *testing.T, src *source, murl string) tlog.Tree {
	t.Helper()
	cpNote := get(t, murl+"/checkpoint")
	if want := get(t, src.URL()+"/checkpoint"); !bytes.Equal(cpNote, want) {
		t.Fatalf("mirror checkpoint\n%s\nsource\n%s", cpNote, want)
	}
	v, err := note.NewVerifier(src.signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cpNote, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + n.Text[strings.Index(n.Text, "\n")+1:]))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range allTiles(uint64(tree.N)) {
		if got, want := get(t, murl+"/"+p), get(t, src.URL()+"/"+p); !bytes.Equal(got, want) {
			t.Fatalf("%s: mirror serves %d bytes that differ from the source's %d", p, len(got), len(want))
		}
	}
	for _, i := range []int64{0, 255, 256, tree.N / 2, tree.N - 1} {
		var p wire.InclusionProof
		if err := json.Unmarshal(get(t, fmt.Sprintf("%s/api/v1/proofs/inclusion?index=%d", murl, i)), &p); err != nil {
			t.Fatal(err)
		}
		var leaf, proof = tlog.Hash(p.LeafHash), make(tlog.RecordProof, len(p.Hashes))
		for k, h := range p.Hashes {
			proof[k] = tlog.Hash(h)
		}
		if leaf != tlog.RecordHash(fmt.Appendf(nil, "%s", entryAt(t, src, i))) {
			t.Fatalf("leaf hash of %d is not the entry's", i)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, i, leaf); err != nil {
			t.Fatalf("inclusion of %d: %v", i, err)
		}
		tp := get(t, fmt.Sprintf("%s/api/v1/entries/%d/tlog-proof", murl, i))
		if !bytes.Contains(tp, cpNote) {
			t.Fatalf("tlog-proof of %d does not carry the checkpoint", i)
		}
	}
	return tree
}

// entryAt reads entry i from the source's bundle.
func entryAt(t *testing.T, src *source, i int64) []byte {
	f, _ := client.NewTileFetcher(src.URL(), nil)
	cp, _, err := src.opener()(get(t, src.URL()+"/checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	k := uint64(i) / proofs.TileWidth
	es, err := f.EntryBundle(context.Background(), proofs.Tile{Index: k, Width: uint16(min(proofs.TileWidth, cp.Size-k*proofs.TileWidth))})
	if err != nil {
		t.Fatal(err)
	}
	return es[uint64(i)%proofs.TileWidth]
}

func checkConsistency(t *testing.T, murl string, old, new tlog.Tree) {
	t.Helper()
	var p wire.ConsistencyProof
	if err := json.Unmarshal(get(t, fmt.Sprintf("%s/api/v1/proofs/consistency?old=%d", murl, old.N)), &p); err != nil {
		t.Fatal(err)
	}
	proof := make(tlog.TreeProof, len(p.Hashes))
	for k, h := range p.Hashes {
		proof[k] = tlog.Hash(h)
	}
	if err := tlog.CheckTree(proof, new.N, new.Hash, old.N, old.Hash); err != nil {
		t.Fatalf("consistency %d → %d: %v", old.N, new.N, err)
	}
}

func TestCatchUpFollowRestart(t *testing.T) {
	ctx := context.Background()
	src := newSource(t, newKey(t))
	src.add("a", 0, 3000) // 11 full tiles + 0/011.p/184, 1/000.p/11
	dir := t.TempDir()
	m := openMirror(t, src, dir)
	var progress bytes.Buffer
	m.cfg.Progress = &progress
	start := time.Now()
	size, err := m.Sync(ctx)
	if err != nil || size != 3000 {
		t.Fatalf("Sync: %d, %v", size, err)
	}
	t.Logf("caught up 3,000 entries in %v", time.Since(start))
	if !strings.Contains(progress.String(), "mirror: 3000/3000 entries") {
		t.Fatalf("progress: %q", progress.String())
	}
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	old := checkSame(t, src, ms.URL)

	// A partial tile of an older size is still served, cut from the wider one.
	src.add("a", 3000, 700)
	if size, err := m.Sync(ctx); err != nil || size != 3700 {
		t.Fatalf("Sync: %d, %v", size, err)
	}
	grown := checkSame(t, src, ms.URL)
	checkConsistency(t, ms.URL, old, grown)
	if got, want := get(t, ms.URL+"/tile/0/011.p/184"), get(t, src.URL()+"/tile/0/011"); !bytes.Equal(got, want[:184*32]) {
		t.Fatal("the old partial tile is not the prefix of the full one")
	}
	ms.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart resumes: the next sync reads only the new right edge and
	// what authenticates it, not the 15 full tiles and bundles again.
	src.add("a", 3700, 10)
	m = openMirror(t, src, dir)
	defer m.Close()
	if cp, _, ok := m.Checkpoint(); !ok || cp.Size != 3700 {
		t.Fatalf("reopened at %d, %v", cp.Size, ok)
	}
	before := src.reqs.Load()
	if size, err := m.Sync(ctx); err != nil || size != 3710 {
		t.Fatalf("Sync: %d, %v", size, err)
	}
	if n := src.reqs.Load() - before; n > 8 {
		t.Errorf("resuming took %d requests to the source, want at most 8", n)
	}
	ms2 := httptest.NewServer(m.Handler())
	defer ms2.Close()
	checkSame(t, src, ms2.URL)
	// An unchanged source costs one request.
	before = src.reqs.Load()
	if _, err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := src.reqs.Load() - before; n != 1 {
		t.Errorf("a sync with nothing new took %d requests", n)
	}
}

// dump returns every key and value of the mirror's store.
func dump(t *testing.T, m *Mirror) map[string]string {
	t.Helper()
	it, err := m.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	return out
}

func TestForkStopsWithEvidence(t *testing.T) {
	ctx := context.Background()
	src := newSource(t, newKey(t))
	src.add("a", 0, 1000)
	dir := t.TempDir()
	m := openMirror(t, src, dir)
	defer m.Close()
	if _, err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, keptNote, _ := m.Checkpoint()
	stored := dump(t, m)

	// Same key, another history, same URL.
	src.swap()
	src.add("b", 0, 1200)
	forkedNote := get(t, src.URL()+"/checkpoint")
	err := m.Run(ctx, time.Hour)
	var fe *ForkError
	if !errors.As(err, &fe) {
		t.Fatalf("Run: %v, want a ForkError", err)
	}
	if !bytes.Equal(fe.Kept, keptNote) || !bytes.Equal(fe.Source, forkedNote) {
		t.Fatal("the ForkError does not carry both checkpoints")
	}
	ev, rerr := os.ReadFile(filepath.Join(dir, "evidence-1.txt"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Contains(ev, keptNote) || !bytes.Contains(ev, forkedNote) {
		t.Fatalf("evidence lacks a checkpoint:\n%s", ev)
	}
	if _, n, _ := m.Checkpoint(); !bytes.Equal(n, keptNote) {
		t.Fatal("the kept checkpoint changed")
	}
	if after := dump(t, m); len(after) != len(stored) {
		t.Fatalf("store has %d keys after the fork, %d before", len(after), len(stored))
	} else {
		for k, v := range stored {
			if after[k] != v {
				t.Fatalf("%s changed", k)
			}
		}
	}
	// A second fork gets its own file.
	if err := m.Run(ctx, time.Hour); !errors.As(err, &fe) {
		t.Fatalf("second Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "evidence-2.txt")); err != nil {
		t.Fatal(err)
	}
	// A forked history of the same size is a fork too, and so is a smaller
	// one, which the mirror checks against its own tiles.
	for _, n := range []int{1000, 700} {
		src.swap()
		src.add("c", 0, n)
		if _, err := m.Sync(ctx); !errors.As(err, &fe) {
			t.Fatalf("size %d, other history: %v", n, err)
		}
	}
	// The same history behind (a lagging source) is not.
	src.swap()
	src.add("a", 0, 700)
	if size, err := m.Sync(ctx); err != nil || size != 1000 {
		t.Fatalf("a source behind: %d, %v", size, err)
	}
}

// tamper wraps the source's handler so that the answer for path has one
// byte flipped.
func tamper(src *source, path string) {
	inner := *src.handler.Load()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		r.Header.Del("Accept-Encoding")
		inner.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		b[len(b)-1] ^= 1
		w.Write(b)
	})
	src.handler.Store(&h)
}

func TestTamperedTileRefused(t *testing.T) {
	for _, path := range []string{"/tile/0/001", "/tile/0/002.p/88", "/tile/1/000.p/2", "/tile/entries/000", "/tile/entries/002.p/88"} {
		t.Run(path, func(t *testing.T) {
			src := newSource(t, newKey(t))
			src.add("a", 0, 600)
			tamper(src, path)
			m := openMirror(t, src, t.TempDir())
			defer m.Close()
			_, err := m.Sync(context.Background())
			var fe *ForkError
			if !errors.As(err, &fe) {
				t.Fatalf("Sync: %v, want a ForkError", err)
			}
			t.Log(fe)
			if _, _, ok := m.Checkpoint(); ok {
				t.Fatal("the mirror kept a checkpoint")
			}
			if d := dump(t, m); len(d) != 0 {
				t.Fatalf("the store has %d keys", len(d))
			}
		})
	}
}

func TestUnreachableKeepsServing(t *testing.T) {
	src := newSource(t, newKey(t))
	src.add("a", 0, 300)
	m := openMirror(t, src, t.TempDir())
	defer m.Close()
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	want := get(t, ms.URL+"/checkpoint")
	src.srv.Close()

	if _, err := m.Sync(context.Background()); err == nil || errors.As(err, new(*ForkError)) {
		t.Fatalf("Sync of a closed source: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = m.Run(ctx, 10*time.Millisecond) })
	time.Sleep(100 * time.Millisecond)
	if got := get(t, ms.URL+"/checkpoint"); !bytes.Equal(got, want) {
		t.Fatal("the checkpoint changed")
	}
	get(t, ms.URL+"/tile/entries/001.p/44")
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
}

func TestOpenReverifies(t *testing.T) {
	src := newSource(t, newKey(t))
	src.add("a", 0, 300)
	dir := t.TempDir()
	m := openMirror(t, src, dir)
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	// Another key: the stored checkpoint no longer verifies.
	other := newKey(t)
	f, _ := client.NewTileFetcher(src.URL(), nil)
	v := other.Verifier()
	if _, err := Open(Config{Source: f, Open: func(n []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(n, v) }, Dir: dir}); err == nil {
		t.Fatal("Open accepted a checkpoint of another key")
	}
	m = openMirror(t, src, dir)
	defer m.Close()
	if cp, _, ok := m.Checkpoint(); !ok || cp.Size != 300 {
		t.Fatalf("reopened at %d", cp.Size)
	}
}

// BenchmarkCatchUp measures a new mirror catching up with a source of
// 100,000 entries over HTTP on 127.0.0.1.
func BenchmarkCatchUp(b *testing.B) {
	src := newSource(b, newKey(b))
	entries := make([][]byte, 100_000)
	for i := range entries {
		entries[i] = fmt.Appendf(nil, "benchmark entry %d with some padding to look like a record", i)
	}
	logtest.AddAll(b, src.log, entries)
	f, err := client.NewTileFetcher(src.URL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m, err := Open(Config{Source: f, Open: src.opener(), Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if size, err := m.Sync(context.Background()); err != nil || size != uint64(len(entries)) {
			b.Fatalf("Sync: %d, %v", size, err)
		}
		m.Close()
	}
	b.ReportMetric(float64(len(entries)*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// With a witness policy, a checkpoint without the quorum is refused (and
// retried, not a fork), and a cosigned one is mirrored and served with its
// cosignature.
func TestWitnessPolicy(t *testing.T) {
	src := newSource(t, newKey(t))
	src.add("a", 0, 300)
	wkey, wvkey, err := signer.GenerateWitnessKey(rand.Reader, "example.com/witness")
	if err != nil {
		t.Fatal(err)
	}
	cosigner, err := signer.NewCosigner(wkey, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := signer.ParsePolicy([]byte("log " + src.signer.VerifierKey() + "\nwitness w " + wvkey + "\nquorum w\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := client.NewTileFetcher(src.URL(), nil)
	m, err := Open(Config{Source: f, Open: policy.Check, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Sync(context.Background()); err == nil || errors.As(err, new(*ForkError)) {
		t.Fatalf("Sync without a cosignature: %v", err)
	}
	inner := *src.handler.Load()
	var cosigned []byte
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/checkpoint" {
			inner.ServeHTTP(w, r)
			return
		}
		cp, _, err := signer.OpenCheckpoint(src.log.Checkpoint(), src.signer.Verifier())
		if err != nil {
			t.Error(err)
		}
		if cosigned, err = signer.SignNote(cp.Text(), src.signer, cosigner); err != nil {
			t.Error(err)
		}
		w.Write(cosigned)
	})
	src.handler.Store(&h)
	if size, err := m.Sync(context.Background()); err != nil || size != 300 {
		t.Fatalf("Sync: %d, %v", size, err)
	}
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	if got := get(t, ms.URL+"/checkpoint"); !bytes.Equal(got, cosigned) || !bytes.Contains(got, []byte("— example.com/witness ")) {
		t.Fatalf("mirror serves\n%s\nwant\n%s", got, cosigned)
	}
}

// Requests served while the mirror syncs a growing source all succeed,
// and every bundle matches the source's.
func TestServeWhileSyncing(t *testing.T) {
	src := newSource(t, newKey(t))
	src.add("a", 0, 500)
	m := openMirror(t, src, t.TempDir())
	defer m.Close()
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				note, err := tryGet(ms.URL + "/checkpoint")
				if err != nil {
					t.Error(err)
					return
				}
				cp, _, err := src.opener()(note)
				if err != nil {
					t.Error(err)
					return
				}
				last := proofs.Tile{Index: (cp.Size - 1) / proofs.TileWidth, Width: uint16(cp.Size - (cp.Size-1)/proofs.TileWidth*proofs.TileWidth)}
				got, err := tryGet(ms.URL + "/" + last.EntriesPath())
				if err != nil {
					t.Error(err)
					return
				}
				if want, err := tryGet(src.URL() + "/" + last.EntriesPath()); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s differs from the source's (%v)", last.EntriesPath(), err)
					return
				}
				served.Add(1)
			}
		})
	}
	for i := range 10 {
		src.add("b", i*37, 37)
		if _, err := m.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if served.Load() == 0 {
		t.Fatal("nothing was served")
	}
}

// A signed empty tree whose root is not the empty root is refused.
func TestBogusEmptyTree(t *testing.T) {
	src := newSource(t, newKey(t))
	bogus, err := signer.SignCheckpoint(signer.Checkpoint{Origin: src.signer.Name(), Size: 0, Hash: proofs.HashLeaf([]byte("x"))}, src.signer)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bogus) })
	src.handler.Store(&h)
	m := openMirror(t, src, t.TempDir())
	defer m.Close()
	if _, err := m.Sync(context.Background()); !errors.As(err, new(*ForkError)) {
		t.Fatalf("Sync: %v, want a ForkError", err)
	}
	if _, _, ok := m.Checkpoint(); ok {
		t.Fatal("kept a bogus checkpoint")
	}
}
