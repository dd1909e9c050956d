package vectors

import (
	"encoding/hex"
	"fmt"

	"github.com/tlogai/tlog/proofs"
)

// treeSize is the size of the vectors' tree.
const treeSize = 37

// tree is a Merkle tree of fixed entries held in memory: every perfect
// subtree's hash, level by level, read through proofs.HashReader so that
// proofs and roots come from the proofs package.
type tree struct {
	entries [][]byte
	levels  [][]proofs.Hash
}

// treeEntry is the entry at index i of the vectors' tree.
func treeEntry(i int) []byte {
	return fmt.Appendf(nil, "tlog test vector entry %d\n", i)
}

func newTree(n int) (*tree, error) {
	t := &tree{}
	leaves := make([]proofs.Hash, n)
	for i := range n {
		e := treeEntry(i)
		t.entries = append(t.entries, e)
		leaves[i] = proofs.HashLeaf(e)
	}
	t.levels = append(t.levels, leaves)
	for l := t.levels[0]; len(l) >= 2; l = t.levels[len(t.levels)-1] {
		up := make([]proofs.Hash, len(l)/2)
		for i := range up {
			up[i] = proofs.HashChildren(l[2*i], l[2*i+1])
		}
		t.levels = append(t.levels, up)
	}
	return t, nil
}

// ReadHashes implements proofs.HashReader.
func (t *tree) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("%w: %d/%d", proofs.ErrMissingHash, id.Level, id.Index)
		}
		h := t.levels[id.Level][id.Index]
		out[i] = h[:]
	}
	return out, nil
}

func (t *tree) root(size uint64) (proofs.Hash, error) { return proofs.TreeHash(size, t) }

func hexes(p [][]byte) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// flip returns a copy of p with bit 0 of byte 0 of hash i flipped.
func flip(p [][]byte, i int) [][]byte {
	out := make([][]byte, len(p))
	for j, h := range p {
		out[j] = append([]byte(nil), h...)
	}
	out[i][0] ^= 1
	return out
}

// Inclusion is a vector of inclusion.json.
type Inclusion struct {
	Name     string   `json:"name"`
	Index    uint64   `json:"index"`
	Size     uint64   `json:"size"`
	LeafHash string   `json:"leaf_hash_hex"`
	Root     string   `json:"root_hex"`
	Proof    []string `json:"proof_hex"`
	Valid    bool     `json:"valid"`
}

func inclusion(t *tree) ([]Inclusion, error) {
	var out []Inclusion
	add := func(name string, index, size uint64, leaf, root proofs.Hash, p [][]byte) {
		out = append(out, Inclusion{
			Name: name, Index: index, Size: size,
			LeafHash: hex.EncodeToString(leaf[:]), Root: hex.EncodeToString(root[:]),
			Proof: hexes(p),
			Valid: proofs.CheckInclusion(p, index, size, leaf, root) == nil,
		})
	}
	type good struct {
		index, size uint64
		p           [][]byte
		leaf, root  proofs.Hash
	}
	prove := func(index, size uint64) (good, error) {
		p, err := proofs.ProveInclusion(index, size, t)
		if err != nil {
			return good{}, err
		}
		root, err := t.root(size)
		if err != nil {
			return good{}, err
		}
		return good{index, size, p, t.levels[0][index], root}, nil
	}
	for _, c := range [][2]uint64{{0, 1}, {0, 2}, {1, 2}, {2, 3}, {0, 37}, {1, 37}, {7, 37}, {17, 37}, {31, 37}, {32, 37}, {35, 37}, {36, 37}, {5, 8}, {19, 20}, {15, 32}} {
		g, err := prove(c[0], c[1])
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("index-%d-size-%d", c[0], c[1]), g.index, g.size, g.leaf, g.root, g.p)
	}
	g, err := prove(17, 37)
	if err != nil {
		return nil, err
	}
	other, _ := prove(18, 37)
	root20, err := t.root(20)
	if err != nil {
		return nil, err
	}
	add("tampered-flipped-bit-first-hash", g.index, g.size, g.leaf, g.root, flip(g.p, 0))
	add("tampered-flipped-bit-last-hash", g.index, g.size, g.leaf, g.root, flip(g.p, len(g.p)-1))
	add("tampered-wrong-leaf", g.index, g.size, other.leaf, g.root, g.p)
	add("tampered-wrong-index", 18, g.size, g.leaf, g.root, g.p)
	// Index 17's proof has the same shape in trees of 33…48 entries (five
	// siblings in [0, 32), then the subtree hash of the rest), so it
	// verifies for size 36 too: a proof binds the index and the root, and
	// the size only as far as the shape goes.
	add("same-shape-other-size-verifies", g.index, 36, g.leaf, g.root, g.p)
	add("tampered-wrong-size", g.index, 31, g.leaf, g.root, g.p)
	add("tampered-wrong-root", g.index, g.size, g.leaf, root20, g.p)
	add("tampered-missing-hash", g.index, g.size, g.leaf, g.root, g.p[:len(g.p)-1])
	add("tampered-extra-hash", g.index, g.size, g.leaf, g.root, append(append([][]byte(nil), g.p...), g.p[0]))
	add("tampered-hashes-swapped", g.index, g.size, g.leaf, g.root, append([][]byte{g.p[1], g.p[0]}, g.p[2:]...))
	add("tampered-leaf-is-root", g.index, g.size, g.root, g.root, nil)
	add("index-equals-size", 37, 37, g.leaf, g.root, g.p)
	add("size-0", 0, 0, g.leaf, proofs.EmptyRoot, nil)
	one, err := prove(0, 1)
	if err != nil {
		return nil, err
	}
	add("size-1-with-a-hash", 0, 1, one.leaf, one.root, [][]byte{one.leaf[:]})
	return out, nil
}

// Consistency is a vector of consistency.json.
type Consistency struct {
	Name    string   `json:"name"`
	OldSize uint64   `json:"old_size"`
	NewSize uint64   `json:"new_size"`
	OldRoot string   `json:"old_root_hex"`
	NewRoot string   `json:"new_root_hex"`
	Proof   []string `json:"proof_hex"`
	Valid   bool     `json:"valid"`
}

func consistency(t *tree) ([]Consistency, error) {
	var out []Consistency
	add := func(name string, oldSize, newSize uint64, oldRoot, newRoot proofs.Hash, p [][]byte) {
		out = append(out, Consistency{
			Name: name, OldSize: oldSize, NewSize: newSize,
			OldRoot: hex.EncodeToString(oldRoot[:]), NewRoot: hex.EncodeToString(newRoot[:]),
			Proof: hexes(p),
			Valid: proofs.CheckConsistency(p, oldSize, newSize, oldRoot, newRoot) == nil,
		})
	}
	roots := make([]proofs.Hash, treeSize+1)
	for s := uint64(0); s <= treeSize; s++ {
		r, err := t.root(s)
		if err != nil {
			return nil, err
		}
		roots[s] = r
	}
	prove := func(o, n uint64) ([][]byte, error) { return proofs.ProveConsistency(o, n, t) }
	for _, c := range [][2]uint64{{1, 1}, {1, 2}, {1, 37}, {2, 37}, {3, 5}, {4, 8}, {7, 37}, {8, 37}, {16, 37}, {20, 37}, {32, 37}, {36, 37}, {37, 37}, {6, 7}, {13, 29}} {
		p, err := prove(c[0], c[1])
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("old-%d-new-%d", c[0], c[1]), c[0], c[1], roots[c[0]], roots[c[1]], p)
	}
	p, err := prove(20, 37)
	if err != nil {
		return nil, err
	}
	add("tampered-flipped-bit-first-hash", 20, 37, roots[20], roots[37], flip(p, 0))
	add("tampered-flipped-bit-last-hash", 20, 37, roots[20], roots[37], flip(p, len(p)-1))
	add("tampered-wrong-old-root", 20, 37, roots[21], roots[37], p)
	add("tampered-wrong-new-root", 20, 37, roots[20], roots[36], p)
	add("tampered-wrong-old-size", 21, 37, roots[20], roots[37], p)
	// As for inclusion, the proof from 20 has the same shape for every new
	// size in 33…48: it verifies with new size 36 and the root of 37.
	add("same-shape-other-new-size-verifies", 20, 36, roots[20], roots[37], p)
	add("tampered-wrong-new-size", 20, 31, roots[20], roots[37], p)
	add("tampered-missing-hash", 20, 37, roots[20], roots[37], p[:len(p)-1])
	add("tampered-extra-hash", 20, 37, roots[20], roots[37], append(append([][]byte(nil), p...), p[0]))
	add("tampered-roots-swapped", 20, 37, roots[37], roots[20], p)
	add("old-greater-than-new", 37, 20, roots[37], roots[20], p)
	add("old-size-0", 0, 37, proofs.EmptyRoot, roots[37], nil)
	add("equal-sizes-different-roots", 37, 37, roots[36], roots[37], nil)
	add("equal-sizes-nonempty-proof", 37, 37, roots[37], roots[37], [][]byte{roots[37][:]})
	p8, err := prove(8, 37)
	if err != nil {
		return nil, err
	}
	// A power-of-two old size: the old root is not repeated in the proof.
	add("power-of-two-old-root-prepended", 8, 37, roots[8], roots[37], append([][]byte{roots[8][:]}, p8...))
	return out, nil
}
