package proofs

import (
	"errors"
	"fmt"
)

// TileReader reads hash tiles of a c2sp.org/tlog-tiles log. ReadTiles
// returns the bytes of each tile, in order; a full tile is 8,192 bytes, a
// partial one Width·32.
type TileReader interface {
	ReadTiles(tiles []Tile) ([][]byte, error)
}

// ErrTileMismatch is returned (wrapped) when tiles do not hash to the root
// they are checked against: the server's data is wrong, which is not by
// itself evidence against the log's signed checkpoints.
var ErrTileMismatch = errors.New("tiles do not match the tree's root")

// TileHashes is a HashReader over the tiles of the tree of one size, as a
// log serves them: it is how a client that only has tiles (a witness in
// pull mode, a monitor) builds proofs. The node (ℓ, i) is the Merkle hash
// of 2^(ℓ-8L) consecutive hashes of the tile at level L = ⌊ℓ/8⌋.
//
// With Root set, every tile is authenticated before use, as x/mod's
// TileHashReader does: the partial tiles of the right edge must give Root,
// and each full tile must hash to its entry in the tile above, up to an
// authenticated one. A tile that fails is ErrTileMismatch, so that a proof
// built from authenticated tiles that does not verify is evidence about
// the log, not about its server. Without Root, tiles are taken as served.
type TileHashes struct {
	Size   uint64
	Root   *Hash
	Reader TileReader
}

// ReadHashes implements HashReader for nodes of the tree of t.Size.
func (t TileHashes) ReadHashes(ids []NodeID) ([][]byte, error) {
	type span struct {
		tile       Tile
		first, end uint64 // hashes [first, end) of the tile
	}
	spans := make([]span, len(ids))
	var tiles []Tile
	at := map[Tile]int{}
	need := func(tile Tile) {
		if _, ok := at[tile]; !ok {
			at[tile] = len(tiles)
			tiles = append(tiles, tile)
		}
	}
	for i, id := range ids {
		if id.Level >= 64 || id.Index >= t.Size>>id.Level {
			return nil, fmt.Errorf("%w: node %d/%d is not in the tree of size %d", ErrMissingHash, id.Level, id.Index, t.Size)
		}
		level := uint8(id.Level / TileHeight)
		k := id.Level - uint(level)*TileHeight // levels inside the tile
		first := id.Index << k                 // at tree level 8·L
		tile := t.tileAt(level, first/TileWidth)
		spans[i] = span{tile, first % TileWidth, first%TileWidth + 1<<k}
		need(tile)
	}
	if t.Root != nil {
		// Everything authentication reads: the right edge's partial
		// tiles, and the tiles above each full one.
		for level := uint8(0); level < 8 && levelSize(level, t.Size) > 0; level++ {
			if w := PartialWidth(level, t.Size); w > 0 {
				need(Tile{Level: level, Index: levelSize(level, t.Size) / TileWidth, Width: w})
			}
		}
		for i := 0; i < len(tiles); i++ { // tiles grows as parents are added
			if tiles[i].Full() {
				need(t.tileAt(tiles[i].Level+1, tiles[i].Index/TileWidth))
			}
		}
	}
	data, err := t.Reader.ReadTiles(tiles)
	if err != nil {
		return nil, err
	}
	if len(data) != len(tiles) {
		return nil, fmt.Errorf("tile reader returned %d tiles for %d", len(data), len(tiles))
	}
	for i, tile := range tiles {
		if len(data[i]) != int(tile.Width)*HashSize {
			return nil, fmt.Errorf("%s is %d bytes, want %d", tile.Path(), len(data[i]), int(tile.Width)*HashSize)
		}
	}
	if t.Root != nil {
		if err := t.authenticate(tiles, data, at); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, len(ids))
	for i, s := range spans {
		b := data[at[s.tile]]
		h := subtreeHash(b[s.first*HashSize : s.end*HashSize])
		out[i] = h[:]
	}
	return out, nil
}

// tileAt is tile N of level L in the tree of t.Size, full or partial.
func (t TileHashes) tileAt(level uint8, n uint64) Tile {
	return Tile{Level: level, Index: n, Width: uint16(min(TileWidth, levelSize(level, t.Size)-n*TileWidth))}
}

// authenticate checks the fetched tiles against t.Root.
func (t TileHashes) authenticate(tiles []Tile, data [][]byte, at map[Tile]int) error {
	// The right edge: the partial tiles, from the top level down, hold the
	// compact range [0, Size) — each tile's width in binary is the run of
	// perfect subtrees it contributes.
	var edge [][]byte
	for level := 7; level >= 0; level-- {
		w := PartialWidth(uint8(level), t.Size)
		if w == 0 {
			continue
		}
		b := data[at[Tile{Level: uint8(level), Index: levelSize(uint8(level), t.Size) / TileWidth, Width: w}]]
		for start, k := uint64(0), 7; k >= 0; k-- {
			if w&(1<<k) != 0 {
				h := subtreeHash(b[start*HashSize : (start+1<<k)*HashSize])
				edge = append(edge, h[:])
				start += 1 << k
			}
		}
	}
	rng, err := Factory.NewRange(0, t.Size, edge)
	if err != nil {
		return fmt.Errorf("bad math: right edge of size %d: %w", t.Size, err)
	}
	root, err := RootOf(rng)
	if err != nil {
		return err
	}
	if root != *t.Root {
		return fmt.Errorf("%w: the right edge of size %d gives %x, not %x", ErrTileMismatch, t.Size, root, *t.Root)
	}
	// Each full tile hashes to its entry in the tile above, which is
	// either partial (authenticated just now) or full (checked in turn:
	// every full tile's parent is in tiles).
	for i, tile := range tiles {
		if !tile.Full() {
			continue
		}
		h := subtreeHash(data[i])
		parent := t.tileAt(tile.Level+1, tile.Index/TileWidth)
		e := tile.Index % TileWidth
		pb := data[at[parent]]
		if string(pb[e*HashSize:(e+1)*HashSize]) != string(h[:]) {
			return fmt.Errorf("%w: %s does not hash to entry %d of %s", ErrTileMismatch, tile.Path(), e, parent.Path())
		}
	}
	return nil
}

// subtreeHash is the Merkle hash of a power-of-two run of hashes.
func subtreeHash(b []byte) Hash {
	n := len(b) / HashSize
	hs := make([]Hash, n)
	for i := range hs {
		copy(hs[i][:], b[i*HashSize:])
	}
	for ; n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			hs[i] = HashChildren(hs[2*i], hs[2*i+1])
		}
	}
	return hs[0]
}
