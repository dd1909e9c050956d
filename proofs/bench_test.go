package proofs_test

import (
	"math/rand/v2"
	"testing"

	"github.com/tlogai/tlog/proofs"
)

// The benchmarks run over the 10^6-entry tree of prove_test.go (bigStore),
// read through sizedReader, which copies each hash as storage would. Each
// reports proofs (or verifications) per second.

// benchPair is an (index or old size, size) pair in the big tree.
type benchPair struct{ a, size uint64 }

// benchPairs returns n random pairs with a < size ≤ 10^6 (inclusion) or,
// with consistency, 0 < a ≤ size.
func benchPairs(n int, consistency bool) []benchPair {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := make([]benchPair, n)
	for i := range ps {
		size := 1 + rng.Uint64N(bigSize)
		a := rng.Uint64N(size)
		if consistency {
			a++
		}
		ps[i] = benchPair{a, size}
	}
	return ps
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func BenchmarkProveInclusion(b *testing.B) {
	s := bigStore()
	ps := benchPairs(4096, false)
	i := 0
	for b.Loop() {
		p := ps[i%len(ps)]
		i++
		if _, err := proofs.ProveInclusion(p.a, p.size, sizedReader{s, p.size}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "proofs/s")
}

func BenchmarkProveConsistency(b *testing.B) {
	s := bigStore()
	ps := benchPairs(4096, true)
	i := 0
	for b.Loop() {
		p := ps[i%len(ps)]
		i++
		if _, err := proofs.ProveConsistency(p.a, p.size, sizedReader{s, p.size}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "proofs/s")
}

func BenchmarkCheckInclusion(b *testing.B) {
	l := bigRefLog()
	type check struct {
		p           [][]byte
		index, size uint64
		leaf, root  [32]byte
	}
	var cs []check
	for _, p := range benchPairs(1024, false) {
		hashes, err := proofs.ProveInclusion(p.a, p.size, l.nodes(p.size))
		if err != nil {
			b.Fatal(err)
		}
		root, err := l.root(p.size)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, check{hashes, p.a, p.size, l.leaves[p.a], root})
	}
	i := 0
	for b.Loop() {
		c := cs[i%len(cs)]
		i++
		if err := proofs.CheckInclusion(c.p, c.index, c.size, c.leaf, c.root); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "proofs/s")
}

func BenchmarkVerifyTlogProof(b *testing.B) {
	s, _ := mustKey(b, proofLogName, proofKeyLabel)
	l := newSignedLog(bigSize, s)
	cp := l.checkpoint(b, bigSize)
	type file struct {
		b     []byte
		entry []byte
	}
	var fs []file
	rng := rand.New(rand.NewPCG(3, 4))
	for range 256 {
		index := rng.Uint64N(bigSize)
		hashes, err := proofs.ProveInclusion(index, bigSize, sizedReader{l.store, bigSize})
		if err != nil {
			b.Fatal(err)
		}
		p := proofs.TlogProof{Index: index, Hashes: hashes, Checkpoint: cp}
		fs = append(fs, file{p.Format(), releaseEntry(index)})
	}
	v := s.Verifier()
	i := 0
	for b.Loop() {
		f := fs[i%len(fs)]
		i++
		if _, err := proofs.VerifyTlogProof(f.b, f.entry, v); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "proofs/s")
}
