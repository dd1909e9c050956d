package witness

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrashAfterAnswer: the witness runs on Pebble's crash-simulating
// filesystem; right after each 200 the filesystem is cloned as a crash at
// that instant would leave it (only synced data, or synced data plus a
// random part of the rest). A witness opened on the clone must know a size
// at least the one it cosigned: never an older state, never a state it
// could cosign an older tree from. Fork evidence survives the same way.
func TestCrashAfterAnswer(t *testing.T) {
	const steps = 12
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 5*steps, "main")
	fork := newXLog(t, lk, 5*steps, "fork")
	fs := vfs.NewCrashableMem()
	w := newTW(t, wk, []logKey{lk}, twOpts{fs: fs})
	rng := rand.New(rand.NewPCG(1, 2))

	reopen := func(clone vfs.FS) *Witness {
		t.Helper()
		w2, err := Open(Config{Dir: "/witness", FS: clone, Signer: wk.cosigner, Logs: []LogKey{{Verifier: lk.verifier}},
			Logger: testLogger(t), Now: func() time.Time { return fixedNow }})
		if err != nil {
			t.Fatalf("open after crash: %v", err)
		}
		return w2
	}
	old := 0
	for i := 1; i <= steps; i++ {
		size := 5 * i
		var proof [][]byte
		if old > 0 {
			proof = x.proof(t, old, size)
		}
		r := w.post(t, reqBody(old, proof, x.checkpoint(t, size)))
		if r.code != 200 {
			t.Fatalf("size %d: %v", size, r)
		}
		// The crash: right after the answer, before anything else runs
		// on the witness.
		cfgs := []vfs.CrashCloneCfg{{}, {UnsyncedDataPercent: 50, RNG: rng}}
		for _, cfg := range cfgs {
			clone := fs.CrashClone(cfg)
			w2 := reopen(clone)
			got, root, err := w2.State(testOrigin)
			if err != nil {
				t.Fatal(err)
			}
			if got < uint64(size) {
				t.Fatalf("after a crash right after cosigning %d, the store has size %d (unsynced %d%%)", size, got, cfg.UnsyncedDataPercent)
			}
			if root != x.root(t, int(got)) {
				t.Fatalf("after a crash, root %x for size %d, want %x", root, got, x.root(t, int(got)))
			}
			// The recovered witness refuses to go back: a push from an
			// older size conflicts, and the served checkpoint is this one.
			if old > 0 {
				if _, err := w2.AddCheckpoint(t.Context(), reqBody(old, x.proof(t, old, size), x.checkpoint(t, size))); err == nil {
					t.Fatalf("recovered witness accepted old size %d after cosigning %d", old, size)
				}
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
		}
		old = size
	}

	// Fork evidence is synced before the answer too.
	if r := w.post(t, reqBody(old, nil, fork.checkpoint(t, old))); r.code != 409 {
		t.Fatalf("fork: %v", r)
	}
	w2 := reopen(fs.CrashClone(vfs.CrashCloneCfg{}))
	defer w2.Close()
	if n := w2.ForkCount(); n != 1 {
		t.Fatalf("after a crash right after a fork answer, %d evidence records, want 1", n)
	}
}
