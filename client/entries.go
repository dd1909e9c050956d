package client

import (
	"context"
	"fmt"
	"iter"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// LoggedEntry is an entry read from the log's tiles, authenticated.
type LoggedEntry struct {
	Index uint64
	Data  []byte
}

// Entries iterates over every entry from index from up to the tree size of
// the log's latest checkpoint, verified (and proven consistent with the
// kept one) when the iteration starts. Entries are read from the entry
// bundles and each bundle is authenticated before any of its entries is
// yielded: its leaf hashes, as a level-0 tile, must hash up through the
// log's hash tiles to the checkpoint's root. The first error ends the
// iteration (yielded with a zero entry): ErrNotFound or a transport error
// for a log that could not be read, proofs.ErrTileMismatch for one whose
// data does not match its own signed checkpoint.
//
// Call it again from the next index to follow a growing log.
func (c *Client) Entries(ctx context.Context, from uint64) iter.Seq2[LoggedEntry, error] {
	return func(yield func(LoggedEntry, error) bool) {
		cp, err := c.Latest(ctx)
		if err != nil {
			yield(LoggedEntry{}, err)
			return
		}
		for e, err := range c.EntriesIn(ctx, cp, from) {
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// EntriesIn is Entries up to the tree of cp, which the caller has
// verified (VerifyCheckpoint).
func (c *Client) EntriesIn(ctx context.Context, cp signer.Checkpoint, from uint64) iter.Seq2[LoggedEntry, error] {
	return func(yield func(LoggedEntry, error) bool) {
		if from > cp.Size {
			yield(LoggedEntry{}, fmt.Errorf("index %d is beyond the tree size %d", from, cp.Size))
			return
		}
		// Tiles of one tree size never change, partial ones included:
		// cache all of them for this walk.
		r := &walkReader{f: c.tiles, ctx: ctx, tiles: map[proofs.Tile][]byte{}}
		root := cp.Hash
		for n := from / proofs.TileWidth; n*proofs.TileWidth < cp.Size; n++ {
			width := uint16(min(proofs.TileWidth, cp.Size-n*proofs.TileWidth))
			t := proofs.Tile{Level: 0, Index: n, Width: width}
			entries, err := c.tiles.EntryBundle(ctx, t)
			if err != nil {
				yield(LoggedEntry{}, err)
				return
			}
			leaves := make([]byte, 0, int(width)*proofs.HashSize)
			for _, e := range entries {
				h := proofs.HashLeaf(e)
				leaves = append(leaves, h[:]...)
			}
			r.level0 = map[proofs.Tile][]byte{t: leaves}
			th := proofs.TileHashes{Size: cp.Size, Root: &root, Reader: r}
			if _, err := th.ReadHashes([]proofs.NodeID{{Level: 0, Index: n * proofs.TileWidth}}); err != nil {
				yield(LoggedEntry{}, fmt.Errorf("entries %d…%d: %w", n*proofs.TileWidth, n*proofs.TileWidth+uint64(width)-1, err))
				return
			}
			for i, e := range entries {
				idx := n*proofs.TileWidth + uint64(i)
				if idx < from {
					continue
				}
				if !yield(LoggedEntry{Index: idx, Data: e}, nil) {
					return
				}
			}
		}
	}
}

// walkReader serves the level-0 tile of the bundle being authenticated
// from its own leaf hashes and every other tile from the log, cached for
// one tree size.
type walkReader struct {
	f      *TileFetcher
	ctx    context.Context
	level0 map[proofs.Tile][]byte
	tiles  map[proofs.Tile][]byte
}

// maxWalkTiles bounds walkReader's cache; level-1 and higher tiles are one
// per 65,536 entries, so this is plenty.
const maxWalkTiles = 1024

func (r *walkReader) ReadTiles(tiles []proofs.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if b, ok := r.level0[t]; ok {
			out[i] = b
			continue
		}
		if b, ok := r.tiles[t]; ok {
			out[i] = b
			continue
		}
		b, err := r.f.Tile(r.ctx, t)
		if err != nil {
			return nil, err
		}
		if len(r.tiles) >= maxWalkTiles {
			clear(r.tiles)
		}
		r.tiles[t] = b
		out[i] = b
	}
	return out, nil
}
