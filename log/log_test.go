package log

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/internal/oracle"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Every size from 1 to 300, one entry at a time: the published checkpoint
// verifies with x/mod's note package, and its root equals the reference
// tree and x/mod tlog's tree hash over the stored nodes.
func TestTreeMatchesReference(t *testing.T) {
	s := testSigner(t)
	l := mustOpen(t, memConfig(t, s))
	defer l.Close()
	v, err := note.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	for i := 0; i < 300; i++ {
		e := entry(i)
		if r := mustAdd(t, l, e); r.Index != uint64(i) || r.Duplicate {
			t.Fatalf("entry %d: got %+v", i, r)
		}
		leaves = append(leaves, e)
		p := l.Published()
		want := oracle.MTH(leaves)
		if p.Size != uint64(len(leaves)) || p.Hash != want {
			t.Fatalf("size %d: published (%d, %x), reference root %x", len(leaves), p.Size, p.Hash, want)
		}
		n, err := note.Open(p.Note, note.VerifierList(v))
		if err != nil {
			t.Fatalf("size %d: x/mod note.Open: %v", len(leaves), err)
		}
		if n.Text != p.Checkpoint.Text() {
			t.Fatalf("size %d: note text %q", len(leaves), n.Text)
		}
		th, err := tlog.TreeHash(int64(p.Size), storedHashes{l})
		if err != nil {
			t.Fatalf("size %d: tlog.TreeHash: %v", len(leaves), err)
		}
		if th != tlog.Hash(want) {
			t.Fatalf("size %d: tlog.TreeHash %x, want %x", len(leaves), th, want)
		}
	}
}

// Batches of many sizes, including ones crossing tile boundaries.
func TestLargeTreesMatchReference(t *testing.T) {
	s := testSigner(t)
	l := mustOpen(t, memConfig(t, s))
	defer l.Close()
	var leaves [][]byte
	for _, target := range []int{255, 256, 257, 1000, 4096, 65535, 65536, 65537, 70000} {
		var batch [][]byte
		for len(leaves)+len(batch) < target {
			batch = append(batch, entry(len(leaves)+len(batch)))
		}
		for i, r := range addAll(t, l, batch) {
			if r.Index != uint64(len(leaves)+i) {
				t.Fatalf("entry %d got index %d", len(leaves)+i, r.Index)
			}
		}
		leaves = append(leaves, batch...)
		p := l.Published()
		if want := oracle.MTH(leaves); p.Size != uint64(target) || p.Hash != want {
			t.Fatalf("size %d: published (%d, %x), reference %x", target, p.Size, p.Hash, want)
		}
		th, err := tlog.TreeHash(int64(target), storedHashes{l})
		if err != nil || th != tlog.Hash(p.Hash) {
			t.Fatalf("size %d: tlog.TreeHash %x, %v", target, th, err)
		}
	}
}

// 1,000 concurrent submissions, 30% duplicates: equal bytes get equal
// indices, distinct bytes distinct ones, the tree holds each once, and all
// of it still holds after a restart.
func TestDedupConcurrent(t *testing.T) {
	s := testSigner(t)
	cfg := memConfig(t, s)
	l := mustOpen(t, cfg)
	const total, distinct = 1000, 700
	subs := make([][]byte, 0, total)
	for i := 0; i < distinct; i++ {
		subs = append(subs, entry(i))
	}
	for len(subs) < total {
		subs = append(subs, bytes.Clone(subs[rand.IntN(distinct)]))
	}
	rand.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })

	submit := func(l *Log) map[string]uint64 {
		idx := make(map[string]uint64)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, e := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := l.Add(e).Wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := idx[string(e)]; ok && prev != r.Index {
					t.Errorf("%q got indices %d and %d", e, prev, r.Index)
				}
				idx[string(e)] = r.Index
			}()
		}
		close(start)
		wg.Wait()
		return idx
	}
	check := func(l *Log, idx map[string]uint64) {
		t.Helper()
		if got := l.Published().Size; got != distinct {
			t.Fatalf("tree size %d, want %d", got, distinct)
		}
		seen := make(map[uint64]bool)
		for e, i := range idx {
			if seen[i] {
				t.Fatalf("index %d given to two different entries", i)
			}
			seen[i] = true
			got, err := l.ReadEntry(context.Background(), i)
			if err != nil || string(got) != e {
				t.Fatalf("entry %d is %q (%v), want %q", i, got, err, e)
			}
		}
	}
	first := submit(l)
	check(l, first)
	l.Close()

	l = mustOpen(t, cfg)
	defer l.Close()
	second := submit(l)
	check(l, second)
	for e, i := range first {
		if second[e] != i {
			t.Fatalf("after restart %q got index %d, first %d", e, second[e], i)
		}
	}
}

// Close integrates what is pooled; later adds fail with ErrClosed and a
// reopened log has every acknowledged entry.
func TestCloseDrainsAndReopens(t *testing.T) {
	s := testSigner(t)
	cfg := memConfig(t, s)
	cfg.BatchMaxAge = 50e6 // 50ms: entries wait in the pool when Close comes
	l := mustOpen(t, cfg)
	var fs []*Future
	for i := 0; i < 100; i++ {
		fs = append(fs, l.Add(entry(i)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		if r, err := f.Wait(context.Background()); err != nil || r.Index != uint64(i) {
			t.Fatalf("entry %d: %+v %v", i, r, err)
		}
	}
	if _, err := l.Add(entry(1000)).Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
	if err := l.Healthy(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Healthy after Close: %v", err)
	}
	l = mustOpen(t, cfg)
	defer l.Close()
	if p := l.Published(); p.Size != 100 {
		t.Fatalf("reopened size %d, want 100", p.Size)
	}
}

// Bad entries are refused before touching the tree.
func TestAddRejects(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	defer l.Close()
	for _, tc := range []struct {
		name  string
		entry []byte
		want  error
	}{
		{"empty", nil, ErrEmptyEntry},
		{"too large", make([]byte, MaxEntrySize+1), ErrEntryTooLarge},
	} {
		if _, err := l.Add(tc.entry).Wait(context.Background()); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if r := mustAdd(t, l, make([]byte, MaxEntrySize)); r.Index != 0 {
		t.Fatalf("largest entry got %+v", r)
	}
	if size := l.Published().Size; size != 1 {
		t.Fatalf("size %d, want 1", size)
	}
}

// A full pool answers ErrPushback and consumes no index; once the stuck
// commit goes through, the accepted entries get consecutive indices.
func TestPushbackConsumesNoIndex(t *testing.T) {
	s := testSigner(t)
	fs := faultfs.New(vfs.NewMem())
	cfg := Config{Dir: "/log", FS: fs, Signer: s, Logger: testLogger(t), PoolSize: 4, BatchMaxSize: 1, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer l.Close()
	defer fs.Resume() // before Close, should the test fail while stalled

	fs.Stall()
	first := l.Add(entry(0)) // the sequencer takes it and blocks in fsync
	waitStalledOn(t, fs, first)
	// The pipelined commit takes batches while the first waits for its
	// fsync: fill it, so that the pool itself fills next.
	fillers := fillPipeline(t, l, "no index")
	var accepted []*Future
	for i := 1; i <= cfg.PoolSize; i++ {
		accepted = append(accepted, l.Add(entry(i)))
	}
	for i := 0; i < 3; i++ {
		if _, err := l.Add(entry(100 + i)).Wait(context.Background()); !errors.Is(err, ErrPushback) {
			t.Fatalf("add to a full pool: %v, want ErrPushback", err)
		}
	}
	fs.Resume()
	if r, err := first.Wait(context.Background()); err != nil || r.Index != 0 {
		t.Fatalf("first: %+v %v", r, err)
	}
	for i, f := range fillers {
		if r, err := f.Wait(context.Background()); err != nil || r.Index != uint64(i+1) {
			t.Fatalf("filler %d: %+v %v", i, r, err)
		}
	}
	n := uint64(1 + len(fillers))
	for i, f := range accepted {
		if r, err := f.Wait(context.Background()); err != nil || r.Index != n+uint64(i) {
			t.Fatalf("accepted %d: %+v %v", i, r, err)
		}
	}
	n += uint64(cfg.PoolSize)
	if size := l.Published().Size; size != n {
		t.Fatalf("size %d, want %d: pushback consumed indices", size, n)
	}
	// The refused entries were never logged: adding one now gives the next index.
	if r := mustAdd(t, l, entry(100)); r.Index != n || r.Duplicate {
		t.Fatalf("refused entry now got %+v", r)
	}
}

// An acknowledged entry is covered by the checkpoint published when the
// acknowledgement arrives, and readers never see beyond it.
func TestAckCoveredByPublished(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	defer l.Close()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				r, err := l.Add(entry(w*1000 + i)).Wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if size := l.Published().Size; r.Index >= size {
					t.Errorf("index %d acknowledged but published size is %d", r.Index, size)
				}
			}
		}()
	}
	// Readers race the writers (run with -race).
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p := l.Published()
				if p.Size == 0 {
					continue
				}
				w := proofs.PartialWidth(0, p.Size)
				tile := proofs.Tile{Level: 0, Index: p.Size / 256, Width: w}
				if w == 0 {
					tile = proofs.Tile{Level: 0, Index: p.Size/256 - 1, Width: 256}
				}
				if _, err := l.ReadTile(context.Background(), tile); err != nil {
					t.Errorf("tile %s at size %d: %v", tile.Path(), p.Size, err)
				}
				if _, err := l.ReadEntryBundle(context.Background(), tile); err != nil {
					t.Errorf("bundle %s at size %d: %v", tile.EntriesPath(), p.Size, err)
				}
				beyond := proofs.Tile{Level: 0, Index: p.Size/256 + 1, Width: 1}
				if _, err := l.ReadTile(context.Background(), beyond); !errors.Is(err, ErrNotFound) {
					t.Errorf("tile beyond the tree: %v", err)
				}
			}
		}()
	}
	wg.Wait()
}

// Tiles and bundles hold exactly what x/mod's tile layout and the
// submitted bytes say, at the sizes around tile boundaries.
func TestTilesAndBundles(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	defer l.Close()
	ctx := context.Background()
	var (
		leaves [][]byte
		ref    oracle.Tree
		prev   int64
	)
	for _, size := range []int64{1, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537} {
		var batch [][]byte
		for int64(len(leaves)+len(batch)) < size {
			i := len(leaves) + len(batch)
			// Entries of varied lengths, some long.
			e := append(bytes.Repeat([]byte{byte(i)}, 1+i%300), entry(i)...)
			batch = append(batch, e)
			if err := ref.Add(e); err != nil {
				t.Fatal(err)
			}
		}
		addAll(t, l, batch)
		leaves = append(leaves, batch...)
		// Every tile x/mod says growing the tree to this size publishes.
		for _, xt := range tlog.NewTiles(8, prev, size) {
			want, err := tlog.ReadTileData(xt, &ref)
			if err != nil {
				t.Fatal(err)
			}
			tile := proofs.Tile{Level: uint8(xt.L), Index: uint64(xt.N), Width: uint16(xt.W)}
			got, err := l.ReadTile(ctx, tile)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("size %d: tile %s: %v, bytes equal %v", size, tile.Path(), err, bytes.Equal(got, want))
			}
			if tile.Level == 0 {
				b, err := l.ReadEntryBundle(ctx, tile)
				if err != nil {
					t.Fatalf("size %d: bundle %s: %v", size, tile.EntriesPath(), err)
				}
				checkBundle(t, b, leaves[tile.Index*256:tile.Index*256+uint64(tile.Width)])
			}
			// One wider than published is not there.
			if !tile.Full() {
				wider := tile
				wider.Width++
				if _, err := l.ReadTile(ctx, wider); !errors.Is(err, ErrNotFound) {
					t.Fatalf("size %d: wider tile %s: %v", size, wider.Path(), err)
				}
			}
		}
		prev = size
	}
	if _, err := l.ReadEntryBundle(ctx, proofs.Tile{Level: 1, Index: 0, Width: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bundle at level 1: %v", err)
	}
}

func checkBundle(t *testing.T, b []byte, want [][]byte) {
	t.Helper()
	for i, w := range want {
		if len(b) < 2 {
			t.Fatalf("bundle ends before entry %d", i)
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n || !bytes.Equal(b[2:2+n], w) {
			t.Fatalf("bundle entry %d differs", i)
		}
		b = b[2+n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes after the last entry", len(b))
	}
}

// storeSet writes one key of a closed log's store, for tampering.
func storeSet(t *testing.T, cfg Config, mutate func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(cfg.Dir, &pebble.Options{FS: cfg.FS, Logger: &quietPebbleLogger{l: testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	mutate(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, db *pebble.DB, key []byte, at int) {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("key %x: %v", key, err)
	}
	v = bytes.Clone(v)
	closer.Close()
	v[at%len(v)] ^= 0x01
	if err := db.Set(key, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// A store whose right edge, checkpoint, key or tail was tampered with
// refuses to open, with a message saying so; nothing is written.
func TestTamperedStoreRefused(t *testing.T) {
	s := testSigner(t)
	const size = 1000
	build := func() Config {
		cfg := memConfig(t, s)
		l := mustOpen(t, cfg)
		var es [][]byte
		for i := 0; i < size; i++ {
			es = append(es, entry(i))
		}
		addAll(t, l, es)
		l.Close()
		return cfg
	}
	edge := proofs.RightEdge(size)
	for _, tc := range []struct {
		name   string
		mutate func(db *pebble.DB)
		signer *signer.Signer
		want   string
	}{
		{"first right-edge node", func(db *pebble.DB) { flip(t, db, hashKey(nil, edge[0].Level, edge[0].Index), 0) }, s, "refusing to start"},
		{"last right-edge node", func(db *pebble.DB) {
			id := edge[len(edge)-1]
			flip(t, db, hashKey(nil, id.Level, id.Index), 31)
		}, s, "refusing to start"},
		{"missing right-edge node", func(db *pebble.DB) {
			if err := db.Delete(hashKey(nil, edge[0].Level, edge[0].Index), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, s, "missing node hash"},
		{"latest checkpoint signature", func(db *pebble.DB) { flip(t, db, keyLatest, 0) }, s, "does not verify"},
		{"entry beyond the checkpoint", func(db *pebble.DB) {
			if err := db.Set(entryKey(nil, size), []byte("smuggled"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, s, "latest checkpoint has size 1000"},
		{"another key", func(*pebble.DB) {}, testSigner(t), "refusing to sign with another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := build()
			storeSet(t, cfg, tc.mutate)
			cfg.Signer = tc.signer
			_, err := Open(cfg)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v; want ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}
}

// A second Open of the same directory fails while the first holds it.
func TestSecondOpenLocked(t *testing.T) {
	s := testSigner(t)
	cfg := Config{Dir: t.TempDir(), Signer: s, Logger: testLogger(t)}
	l := mustOpen(t, cfg)
	defer l.Close()
	if _, err := Open(cfg); err == nil {
		t.Fatal("second Open succeeded")
	}
	if _, err := Fsck(context.Background(), cfg, nil); err == nil {
		t.Fatal("Fsck of an open store succeeded")
	}
}

// Fsck passes a clean store and finds a flipped deep node, a flipped entry
// byte and a wrong dedup value at the right index.
func TestFsck(t *testing.T) {
	s := testSigner(t)
	cfg := memConfig(t, s)
	cfg.CheckpointHistoryInterval = -1 // keep every checkpoint
	l := mustOpen(t, cfg)
	var es [][]byte
	for i := 0; i < 1000; i++ {
		es = append(es, entry(i))
		if i%97 == 0 { // several batches, several kept checkpoints
			addAll(t, l, es)
			es = nil
		}
	}
	addAll(t, l, es)
	l.Close()

	ctx := context.Background()
	rep, err := Fsck(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("clean store: %v", err)
	}
	// A tree of n leaves has 2n - popcount(n) perfect-subtree nodes.
	if rep.Size != 1000 || rep.Checkpoints < 10 || rep.Nodes != 2*1000-uint64(bits.OnesCount(1000)) {
		t.Fatalf("report %+v", rep)
	}

	for _, tc := range []struct {
		name      string
		key       []byte
		wantIndex uint64
	}{
		{"deep node 3/17", hashKey(nil, 3, 17), 17 << 3},
		{"entry 500", entryKey(nil, 500), 500},
		{"leaf hash 999", hashKey(nil, 0, 999), 999},
		{"dedup value of entry 42", func() []byte { h := proofs.HashLeaf(entry(42)); return dedupKey(nil, &h) }(), 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeSet(t, cfg, func(db *pebble.DB) { flip(t, db, tc.key, 7) })
			defer storeSet(t, cfg, func(db *pebble.DB) { flip(t, db, tc.key, 7) })
			_, err := Fsck(ctx, cfg, nil)
			var fe *FsckError
			if !errors.As(err, &fe) || fe.Index != tc.wantIndex {
				t.Fatalf("Fsck: %v; want a mismatch at index %d", err, tc.wantIndex)
			}
			t.Log(err)
		})
	}
	if _, err := Fsck(ctx, cfg, nil); err != nil {
		t.Fatalf("restored store: %v", err)
	}
}
