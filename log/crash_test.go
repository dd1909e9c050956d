package log

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/signer"
)

// Crashes on Pebble's crash-simulating filesystem: while writers run, take
// clones of the filesystem that keep only synced data (and a random share
// of unsynced data), open each clone as a log, and check that every entry
// acknowledged before the clone is there and that the recovered tree is
// consistent with every checkpoint published before the clone.
func TestCrashCloneKeepsAcknowledged(t *testing.T) {
	s := testSigner(t)
	fs := vfs.NewCrashableMem()
	cfg := Config{Dir: "/log", FS: fs, Signer: s, Logger: testLogger(t), BatchMaxAge: -1}
	l := mustOpen(t, cfg)

	var (
		acked    acks
		stop     atomic.Bool
		wg       sync.WaitGroup
		cpMu     sync.Mutex
		cps      []signer.Checkpoint // published checkpoints, observed
		writerID atomic.Int64
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := writerID.Add(1)
			for i := 0; !stop.Load(); i++ {
				e := []byte(fmt.Sprintf("writer %d entry %d %s", id, i, make([]byte, rand.IntN(500))))
				r, err := l.Add(e).Wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				acked.add(r.Index, e)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			p := l.Published()
			cpMu.Lock()
			cps = append(cps, p.Checkpoint)
			cpMu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 8; round++ {
		time.Sleep(time.Duration(10+rng.IntN(60)) * time.Millisecond)
		// What was acknowledged or published before the crash must survive.
		before := acked.snapshot()
		cpMu.Lock()
		seen := append([]signer.Checkpoint(nil), cps...)
		cpMu.Unlock()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(uint64(round), 7))})

		ccfg := cfg
		ccfg.FS = clone
		rl, err := Open(ccfg)
		if err != nil {
			t.Fatalf("round %d: reopening the crashed store: %v", round, err)
		}
		p := rl.Published()
		for i, e := range before {
			got, err := rl.ReadEntry(context.Background(), i)
			if err != nil || string(got) != string(e) {
				t.Fatalf("round %d: acknowledged entry %d lost: %q, %v", round, i, got, err)
			}
		}
		th, err := tlog.TreeHash(int64(p.Size), storedHashes{rl})
		if err != nil || th != tlog.Hash(p.Hash) {
			t.Fatalf("round %d: recovered root: %x, %v", round, th, err)
		}
		// Check the largest published checkpoint and a sample of the others.
		rng.Shuffle(len(seen), func(i, j int) { seen[i], seen[j] = seen[j], seen[i] })
		largest := slices.MaxFunc(seen, func(a, b signer.Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
		seen = append(seen[:min(len(seen), 20)], largest)
		for _, old := range seen {
			if old.Size > p.Size {
				t.Fatalf("round %d: recovered size %d is below published size %d", round, p.Size, old.Size)
			}
			if old.Size == 0 {
				continue
			}
			proof, err := tlog.ProveTree(int64(p.Size), int64(old.Size), storedHashes{rl})
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(proof, int64(p.Size), tlog.Hash(p.Hash), int64(old.Size), tlog.Hash(old.Hash)); err != nil {
				t.Fatalf("round %d: recovered tree (%d) inconsistent with published (%d): %v", round, p.Size, old.Size, err)
			}
		}
		t.Logf("round %d: %d acknowledged before the crash, recovered size %d", round, len(before), p.Size)
		rl.Close()
	}
	stop.Store(true)
	wg.Wait()
	l.Close()
}
