package log

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// testSigner makes a fresh log key.
func testSigner(t testing.TB) *signer.Signer {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/test-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLogger routes logs into t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}

// memConfig is a config on an in-memory filesystem.
func memConfig(t testing.TB, s *signer.Signer) Config {
	return Config{Dir: "/log", FS: vfs.NewMem(), Signer: s, Logger: testLogger(t)}
}

func mustOpen(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAdd(t testing.TB, l *Log, entry []byte) Result {
	t.Helper()
	r, err := l.Add(entry).Wait(context.Background())
	if err != nil {
		t.Fatalf("Add(%q): %v", entry, err)
	}
	return r
}

// addAll adds entries concurrently (so that they batch), in chunks that
// fit the pool, and returns the results in order.
func addAll(t testing.TB, l *Log, entries [][]byte) []Result {
	t.Helper()
	out := make([]Result, 0, len(entries))
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), 8192)]
		entries = entries[len(chunk):]
		futures := make([]*Future, len(chunk))
		for i, e := range chunk {
			futures[i] = l.Add(e)
		}
		for _, f := range futures {
			r, err := f.Wait(context.Background())
			if err != nil {
				t.Fatalf("entry %d: %v", len(out), err)
			}
			out = append(out, r)
		}
	}
	return out
}

// entry makes a distinct test entry.
func entry(i int) []byte { return []byte(fmt.Sprintf("entry %d of the test log", i)) }

// storedHashes adapts the log's stored nodes to x/mod's tlog.HashReader,
// which addresses every level of the tree, as the log stores it.
type storedHashes struct{ l *Log }

func (s storedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	ids := make([]proofs.NodeID, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		ids[i] = proofs.NodeID{Level: uint(level), Index: uint64(n)}
	}
	hs, err := s.l.ReadHashes(ids)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		copy(out[i][:], h)
	}
	return out, nil
}

// acks records acknowledged adds from many goroutines.
type acks struct {
	mu sync.Mutex
	m  map[uint64][]byte
}

func (a *acks) add(i uint64, e []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = make(map[uint64][]byte)
	}
	a.m[i] = e
}

func (a *acks) snapshot() map[uint64][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[uint64][]byte, len(a.m))
	for k, v := range a.m {
		out[k] = v
	}
	return out
}

func entryHash(i int) proofs.Hash { return proofs.HashLeaf(entry(i)) }

// batchesInFlight is the number of batches started and not yet resolved.
func batchesInFlight(l *Log) int {
	l.stall.mu.Lock()
	defer l.stall.mu.Unlock()
	return l.stall.inFlight
}

// fillPipeline is for tests that stall the committer's fsync and then need
// the pool to stop draining: it adds one-entry batches (Terms: terms) until
// commitQueue+2 batches are in flight, the most the sequencer takes before
// it blocks. Call it once the first batch is stuck; it returns the
// fillers' futures, which resolve in order after that batch.
func fillPipeline(t *testing.T, l *Log, name string, terms ...[]byte) []*Future {
	t.Helper()
	var out []*Future
	for i := 0; batchesInFlight(l) < commitQueue+2; i++ {
		if i > commitQueue+2 {
			t.Fatalf("%d batches in flight after %d fillers", batchesInFlight(l), i)
		}
		before := batchesInFlight(l)
		out = append(out, l.AddEntry(Entry{Data: []byte(fmt.Sprintf("%s filler %d", name, i)), Terms: terms}))
		deadline := time.Now().Add(5 * time.Second)
		for batchesInFlight(l) == before {
			if time.Now().After(deadline) {
				t.Fatal("the sequencer did not take the filler")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return out
}
