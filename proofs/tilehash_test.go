package proofs

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/oracle"
)

// oracleTiles serves C2SP tiles of a tree of one size from x/mod's tile
// layout (height 8 holds the same bytes), counting reads.
type oracleTiles struct {
	tree  *oracle.Tree
	size  int64
	reads int
}

func (o *oracleTiles) ReadTiles(tiles []Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		xt := tlog.Tile{H: 8, L: int(t.Level), N: int64(t.Index), W: int(t.Width)}
		if !TileInTree(t, uint64(o.size)) {
			return nil, fmt.Errorf("%s is not in the tree of size %d", t.Path(), o.size)
		}
		b, err := tlog.ReadTileData(xt, o.tree)
		if err != nil {
			return nil, err
		}
		out[i] = b
		o.reads++
	}
	return out, nil
}

// Node hashes computed from tiles equal x/mod's stored hashes, and proofs
// built from tiles equal x/mod's proofs, across tile boundaries.
func TestTileHashesMatchXMod(t *testing.T) {
	var tree oracle.Tree
	sizes := []int64{1, 2, 3, 255, 256, 257, 511, 512, 1000, 65535, 65536, 65537, 70000}
	for _, size := range sizes {
		for tree.Size() < size {
			if err := tree.Add([]byte(fmt.Sprintf("tile hash entry %d", tree.Size()))); err != nil {
				t.Fatal(err)
			}
		}
		th := TileHashes{Size: uint64(size), Reader: &oracleTiles{tree: &tree, size: size}}
		root, err := TreeHash(uint64(size), th)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		want, err := tlog.TreeHash(size, &tree)
		if err != nil {
			t.Fatal(err)
		}
		if root != Hash(want) {
			t.Fatalf("size %d: root from tiles %x, x/mod %x", size, root, want)
		}
		for _, old := range []int64{1, size / 3, size / 2, size - 1} {
			if old < 1 || old > size {
				continue
			}
			got, err := ProveConsistency(uint64(old), uint64(size), th)
			if err != nil {
				t.Fatalf("consistency %d → %d: %v", old, size, err)
			}
			want, err := tlog.ProveTree(size, old, &tree)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("consistency %d → %d: %d hashes, x/mod %d", old, size, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i][:]) {
					t.Fatalf("consistency %d → %d: hash %d differs from x/mod", old, size, i)
				}
			}
		}
	}
	// A node beyond the tree is refused, not read.
	th := TileHashes{Size: 10, Reader: &oracleTiles{tree: &tree, size: 10}}
	if _, err := th.ReadHashes([]NodeID{{Level: 0, Index: 10}}); err == nil {
		t.Fatal("read a leaf beyond the tree")
	}
	// A short tile is an error, not a panic.
	short := TileHashes{Size: 300, Reader: shortTiles{}}
	if _, err := short.ReadHashes([]NodeID{{Level: 0, Index: 5}}); err == nil {
		t.Fatal("accepted a short tile")
	}
}

type shortTiles struct{}

func (shortTiles) ReadTiles(tiles []Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i := range out {
		out[i] = make([]byte, 31)
	}
	return out, nil
}

// corruptTiles flips one byte of one tile.
type corruptTiles struct {
	*oracleTiles
	bad Tile
}

func (c corruptTiles) ReadTiles(tiles []Tile) ([][]byte, error) {
	out, err := c.oracleTiles.ReadTiles(tiles)
	for i, t := range tiles {
		if err == nil && t == c.bad {
			out[i] = bytes.Clone(out[i])
			out[i][len(out[i])/2] ^= 1
		}
	}
	return out, err
}

// With Root set, every tile used is authenticated: honest tiles give
// x/mod's proofs, and one flipped byte anywhere a proof reads — a full
// tile deep in the tree or a partial tile of the right edge — is
// ErrTileMismatch, whether or not the root itself depends on that tile.
func TestTileHashesAuthenticated(t *testing.T) {
	var tree oracle.Tree
	const size = 70000 // full tiles at levels 0 and 1, partials at 0, 1, 2
	for tree.Size() < size {
		if err := tree.Add([]byte(fmt.Sprintf("auth entry %d", tree.Size()))); err != nil {
			t.Fatal(err)
		}
	}
	xroot, err := tlog.TreeHash(size, &tree)
	if err != nil {
		t.Fatal(err)
	}
	root := Hash(xroot)
	honest := TileHashes{Size: size, Root: &root, Reader: &oracleTiles{tree: &tree, size: size}}
	for _, old := range []uint64{1, 300, 65536, 69999} {
		got, err := ProveConsistency(old, size, honest)
		if err != nil {
			t.Fatalf("honest tiles, %d → %d: %v", old, size, err)
		}
		want, _ := tlog.ProveTree(size, int64(old), &tree)
		if len(got) != len(want) {
			t.Fatalf("%d → %d: %d hashes, x/mod %d", old, size, len(got), len(want))
		}
	}
	wrong := root
	wrong[0] ^= 1
	if _, err := ProveConsistency(300, size, TileHashes{Size: size, Root: &wrong, Reader: &oracleTiles{tree: &tree, size: size}}); !errors.Is(err, ErrTileMismatch) {
		t.Fatalf("tiles against another root: %v, want ErrTileMismatch", err)
	}
	for _, bad := range []Tile{
		{Level: 0, Index: 1, Width: 256},   // used by the proof 300 → size, not by the root
		{Level: 0, Index: 273, Width: 112}, // the right edge at level 0
		{Level: 1, Index: 0, Width: 256},   // a full tile one level up
		{Level: 1, Index: 1, Width: 17},    // the right edge at level 1
	} {
		r := corruptTiles{&oracleTiles{tree: &tree, size: size}, bad}
		if _, err := ProveConsistency(300, size, TileHashes{Size: size, Root: &root, Reader: r}); !errors.Is(err, ErrTileMismatch) {
			t.Errorf("corrupt %s: %v, want ErrTileMismatch", bad.Path(), err)
		}
	}
}
