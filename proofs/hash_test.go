package proofs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
)

// The oracles here are a transcription of RFC 6962 §2.1 (refLeaf, refNode,
// refMTH) and golang.org/x/mod/sumdb/tlog.

func refLeaf(entry []byte) [32]byte {
	return sha256.Sum256(append([]byte{0x00}, entry...))
}

func refNode(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{0x01}, l[:]...), r[:]...))
}

// refMTH is RFC 6962's MTH over leaf hashes: the empty tree hashes to
// SHA-256(""), one leaf to its leaf hash, and n > 1 leaves split at the
// largest power of two k < n.
func refMTH(leaves [][32]byte) [32]byte {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return refNode(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

func entry(i int) []byte { return []byte(fmt.Sprintf("entry %d", i)) }

// refTree holds the leaf hashes of a log and the hashes of all its perfect
// subtrees, computed with refMTH.
type refTree struct {
	leaves [][32]byte
	nodes  map[proofs.NodeID][32]byte
}

func newRefTree(n int) *refTree {
	t := &refTree{nodes: map[proofs.NodeID][32]byte{}}
	for i := 0; i < n; i++ {
		t.leaves = append(t.leaves, refLeaf(entry(i)))
	}
	for level := uint(0); 1<<level <= n; level++ {
		for i := uint64(0); (i+1)<<level <= uint64(n); i++ {
			t.nodes[proofs.NodeID{Level: level, Index: i}] = refMTH(t.leaves[i<<level : (i+1)<<level])
		}
	}
	return t
}

// memReader serves the node hashes of the tree of the given size from a
// refTree: nodes outside that tree, or listed in missing, are absent.
type memReader struct {
	tree    *refTree
	size    uint64
	missing map[proofs.NodeID]bool
	calls   int
}

func (r *memReader) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	r.calls++
	out := make([][]byte, 0, len(ids))
	for _, id := range ids {
		h, ok := r.tree.nodes[id]
		if !ok || r.missing[id] || id.Level >= 64 || (id.Index+1)<<id.Level > r.size {
			return nil, fmt.Errorf("node %d/%d of tree size %d: %w", id.Level, id.Index, r.size, proofs.ErrMissingHash)
		}
		out = append(out, h[:])
	}
	return out, nil
}

// xmodReader is the same store indexed the x/mod way.
func xmodReader(tree *refTree) tlog.HashReader {
	stored := map[int64]tlog.Hash{}
	for id, h := range tree.nodes {
		stored[tlog.StoredHashIndex(int(id.Level), int64(id.Index))] = h
	}
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		var out []tlog.Hash
		for _, i := range idx {
			h, ok := stored[i]
			if !ok {
				return nil, fmt.Errorf("x/mod stored hash %d missing", i)
			}
			out = append(out, h)
		}
		return out, nil
	})
}

// specRightEdge lists the perfect subtrees of the tree of size n, left to
// right: one per set bit of n, from the highest.
func specRightEdge(n uint64) []proofs.NodeID {
	var ids []proofs.NodeID
	var begin uint64
	for level := 63; level >= 0; level-- {
		if n&(1<<level) != 0 {
			ids = append(ids, proofs.NodeID{Level: uint(level), Index: begin >> level})
			begin += 1 << level
		}
	}
	return ids
}

func TestHashLeaf(t *testing.T) {
	entries := [][]byte{nil, {}, {0}, {1}, []byte("hello"), make([]byte, 1000), []byte("\x00\x01\xff")}
	for _, e := range entries {
		got := proofs.HashLeaf(e)
		if want := tlog.RecordHash(e); got != want {
			t.Errorf("HashLeaf(%q) = %x, x/mod RecordHash %x", e, got, want)
		}
		if want := refLeaf(e); got != want {
			t.Errorf("HashLeaf(%q) = %x, RFC 6962 %x", e, got, want)
		}
	}
	if proofs.HashLeaf([]byte("a")) == proofs.HashLeaf([]byte("b")) {
		t.Error("HashLeaf does not depend on its input")
	}
}

func TestHashChildren(t *testing.T) {
	a, b := refLeaf([]byte("a")), refLeaf([]byte("b"))
	for _, p := range [][2][32]byte{{a, b}, {b, a}, {a, a}, {{}, {}}} {
		got := proofs.HashChildren(p[0], p[1])
		if want := tlog.NodeHash(p[0], p[1]); got != want {
			t.Errorf("HashChildren(%x, %x) = %x, x/mod NodeHash %x", p[0], p[1], got, want)
		}
		if want := refNode(p[0], p[1]); got != want {
			t.Errorf("HashChildren(%x, %x) = %x, RFC 6962 %x", p[0], p[1], got, want)
		}
	}
	// A leaf hash and a node hash over the same bytes differ (domain separation).
	if proofs.HashChildren(a, b) == proofs.HashLeaf(append(a[:], b[:]...)) {
		t.Error("HashChildren equals HashLeaf of the concatenation")
	}
}

func TestEmptyRoot(t *testing.T) {
	if want := sha256.Sum256(nil); proofs.EmptyRoot != want {
		t.Errorf("EmptyRoot = %x, want SHA-256(\"\") = %x", proofs.EmptyRoot, want)
	}
	// The value quoted in SPECS.md §1 and RFC 6962.
	if got := hex.EncodeToString(proofs.EmptyRoot[:]); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("EmptyRoot = %s", got)
	}
	h, err := tlog.TreeHash(0, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, errors.New("no reads") }))
	if err != nil || h != proofs.EmptyRoot {
		t.Errorf("x/mod TreeHash(0) = %x, %v; EmptyRoot %x", h, err, proofs.EmptyRoot)
	}
}

func TestRightEdge(t *testing.T) {
	sizes := []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 255, 256, 257, 1000, 4097, 1<<40 + 5, 1<<63 + 1, 1<<64 - 1}
	for _, n := range sizes {
		if got, want := proofs.RightEdge(n), specRightEdge(n); !slices.Equal(got, want) {
			t.Errorf("RightEdge(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestTreeHash(t *testing.T) {
	const maxSize = 4097
	tree := newRefTree(maxSize)
	xr := xmodReader(tree)
	var sizes []int
	for n := 0; n <= 300; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 511, 512, 513, 1000, 1023, 1024, 1025, 4095, 4096, 4097)
	for _, n := range sizes {
		want := refMTH(tree.leaves[:n])
		r := &memReader{tree: tree, size: uint64(n)}
		got, err := proofs.TreeHash(uint64(n), r)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", n, err)
		}
		if got != want {
			t.Errorf("TreeHash(%d) = %x, RFC 6962 MTH %x", n, got, want)
		}
		xh, err := tlog.TreeHash(int64(n), xr)
		if err != nil {
			t.Fatalf("x/mod TreeHash(%d): %v", n, err)
		}
		if got != xh {
			t.Errorf("TreeHash(%d) = %x, x/mod TreeHash %x", n, got, xh)
		}
		if n > 0 && r.calls != 1 {
			t.Errorf("TreeHash(%d) called ReadHashes %d times, want once", n, r.calls)
		}

		rng, err := proofs.RangeAt(uint64(n), &memReader{tree: tree, size: uint64(n)})
		if err != nil {
			t.Fatalf("RangeAt(%d): %v", n, err)
		}
		if rng.Begin() != 0 || rng.End() != uint64(n) {
			t.Errorf("RangeAt(%d) = [%d, %d)", n, rng.Begin(), rng.End())
		}
		root, err := proofs.RootOf(rng)
		if err != nil || root != want {
			t.Errorf("RootOf(RangeAt(%d)) = %x, %v; want %x", n, root, err, want)
		}
	}
}

// Appending leaves one by one to a compact range from Factory gives the
// same roots as the reference.
func TestFactoryAppend(t *testing.T) {
	tree := newRefTree(600)
	rng := proofs.Factory.NewEmptyRange(0)
	for n := 0; n <= 600; n++ {
		got, err := proofs.RootOf(rng)
		if err != nil {
			t.Fatal(err)
		}
		if want := refMTH(tree.leaves[:n]); got != want {
			t.Fatalf("root after %d appends = %x, RFC 6962 %x", n, got, want)
		}
		if n < 600 {
			leaf := proofs.HashLeaf(entry(n))
			if err := rng.Append(leaf[:], nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestTreeHashMissingNode(t *testing.T) {
	tree := newRefTree(1100)
	for _, n := range []uint64{1, 2, 3, 5, 7, 255, 256, 257, 1000, 1099} {
		for _, id := range specRightEdge(n) {
			r := &memReader{tree: tree, size: n, missing: map[proofs.NodeID]bool{id: true}}
			h, err := proofs.TreeHash(n, r)
			if !errors.Is(err, proofs.ErrMissingHash) {
				t.Errorf("TreeHash(%d) without node %d/%d = %x, %v; want ErrMissingHash", n, id.Level, id.Index, h, err)
			}
			if _, err := proofs.RangeAt(n, r); !errors.Is(err, proofs.ErrMissingHash) {
				t.Errorf("RangeAt(%d) without node %d/%d: %v; want ErrMissingHash", n, id.Level, id.Index, err)
			}
		}
		// Removing a node that is not on the right edge changes nothing.
		r := &memReader{tree: tree, size: n, missing: map[proofs.NodeID]bool{{Level: 0, Index: 0}: true}}
		if n > 1 {
			if h, err := proofs.TreeHash(n, r); err != nil || h != refMTH(tree.leaves[:n]) {
				t.Errorf("TreeHash(%d) without leaf 0 = %x, %v", n, h, err)
			}
		}
	}
}

// badReader returns whatever it was told to, without an error.
type badReader struct{ hashes [][]byte }

func (b badReader) ReadHashes(ids []proofs.NodeID) ([][]byte, error) { return b.hashes, nil }

func TestTreeHashBadReader(t *testing.T) {
	h := make([]byte, 32)
	for _, tc := range []struct {
		desc   string
		size   uint64
		hashes [][]byte
	}{
		{"short hash", 1, [][]byte{h[:31]}},
		{"long hash", 1, [][]byte{append(h, 0)}},
		{"nil hash", 2, [][]byte{nil}},
		{"too few hashes", 3, [][]byte{h}},
		{"too many hashes", 4, [][]byte{h, h}},
		{"no hashes", 5, nil},
	} {
		got, err := proofs.TreeHash(tc.size, badReader{tc.hashes})
		if err == nil {
			t.Errorf("%s: TreeHash(%d) = %x, want error", tc.desc, tc.size, got)
		}
	}
	// Right lengths and count: the hashes are taken as given.
	got, err := proofs.TreeHash(3, badReader{[][]byte{h, h}})
	if err != nil || got != refNode([32]byte{}, [32]byte{}) {
		t.Errorf("TreeHash(3) over zero hashes = %x, %v; want %x", got, err, refNode([32]byte{}, [32]byte{}))
	}
}
