package log

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/tlogai/tlog/proofs"
)

// BenchmarkAdd measures Add throughput on a real directory (fsync per
// batch) with many concurrent writers, as under HTTP load. Each op is one
// acknowledged entry.
func BenchmarkAdd(b *testing.B) {
	for _, writers := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			cfg := Config{Dir: b.TempDir(), Signer: testSigner(b)}
			l := mustOpen(b, cfg)
			defer l.Close()
			var n atomic.Uint64
			b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				e := make([]byte, 100)
				for pb.Next() {
					binary.BigEndian.PutUint64(e, n.Add(1))
					if _, err := l.Add(append([]byte(nil), e...)).Wait(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkReadTile measures tile and bundle reads on a tree of 65,636
// entries of 100 bytes.
func BenchmarkReadTile(b *testing.B) {
	cfg := Config{Dir: b.TempDir(), Signer: testSigner(b), TileCacheSize: 16}
	l := mustOpen(b, cfg)
	defer l.Close()
	const size = 65536 + 100
	es := make([][]byte, size)
	for i := range es {
		es[i] = make([]byte, 100)
		binary.BigEndian.PutUint64(es[i], uint64(i))
	}
	addAll(b, l, es)
	ctx := context.Background()
	run := func(name string, read func(i int) error) {
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := read(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("full-cached", func(int) error {
		_, err := l.ReadTile(ctx, proofs.Tile{Level: 0, Index: 7, Width: 256})
		return err
	})
	run("full-uncached", func(i int) error { // 256 tiles cycle through a 16-tile cache
		_, err := l.ReadTile(ctx, proofs.Tile{Level: 0, Index: uint64(i % 256), Width: 256})
		return err
	})
	run("partial", func(int) error {
		_, err := l.ReadTile(ctx, proofs.Tile{Level: 0, Index: 256, Width: 100})
		return err
	})
	run("bundle-uncached", func(i int) error {
		_, err := l.ReadEntryBundle(ctx, proofs.Tile{Level: 0, Index: uint64(i % 256), Width: 256})
		return err
	})
	run("bundle-partial", func(int) error {
		_, err := l.ReadEntryBundle(ctx, proofs.Tile{Level: 0, Index: 256, Width: 100})
		return err
	})
}

// BenchmarkProofs measures inclusion and consistency proofs built from the
// store of a 10^6-entry log, with the node cache warm (as on a busy server)
// and disabled (every node read from Pebble).
func BenchmarkProofs(b *testing.B) {
	const size = 1_000_000
	dir := b.TempDir()
	s := testSigner(b)
	l := mustOpen(b, Config{Dir: dir, Signer: s})
	es := make([][]byte, size)
	for i := range es {
		es[i] = make([]byte, 64)
		binary.BigEndian.PutUint64(es[i], uint64(i))
	}
	addAll(b, l, es)
	l.Close()
	for _, cache := range []int{DefaultNodeCacheSize, -1} {
		l := mustOpen(b, Config{Dir: dir, Signer: s, NodeCacheSize: cache})
		name := map[bool]string{true: "cache", false: "nocache"}[cache > 0]
		rng := rand.New(rand.NewPCG(1, 2))
		b.Run("inclusion/"+name, func(b *testing.B) {
			for b.Loop() {
				if _, err := proofs.ProveInclusion(rng.Uint64N(size), size, l); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
		b.Run("consistency/"+name, func(b *testing.B) {
			for b.Loop() {
				if _, err := proofs.ProveConsistency(1+rng.Uint64N(size-1), size, l); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
		l.Close()
	}
}
