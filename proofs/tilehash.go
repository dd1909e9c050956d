package proofs

import (
	"fmt"
)

// TileReader reads hash tiles of a c2sp.org/tlog-tiles log. ReadTiles
// returns the bytes of each tile, in order; a full tile is 8,192 bytes, a
// partial one Width·32.
type TileReader interface {
	ReadTiles(tiles []Tile) ([][]byte, error)
}

// TileHashes is a HashReader over the tiles of the tree of one size, as a
// log serves them: it is how a client that only has tiles (a witness in
// pull mode, a monitor) builds proofs. The node (ℓ, i) is the Merkle hash
// of 2^(ℓ-8L) consecutive hashes of the tile at level L = ⌊ℓ/8⌋.
//
// Tiles are not authenticated here: a proof built from them must be checked
// against signed roots (CheckConsistency, CheckInclusion) before it is
// believed.
type TileHashes struct {
	Size   uint64
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
	for i, id := range ids {
		if id.Level >= 64 || id.Index >= t.Size>>id.Level {
			return nil, fmt.Errorf("%w: node %d/%d is not in the tree of size %d", ErrMissingHash, id.Level, id.Index, t.Size)
		}
		level := uint8(id.Level / TileHeight)
		k := id.Level - uint(level)*TileHeight // levels inside the tile
		first := id.Index << k                 // at tree level 8·L
		n := levelSize(level, t.Size)          // hashes at tree level 8·L
		tile := Tile{Level: level, Index: first / TileWidth}
		tile.Width = uint16(min(TileWidth, n-tile.Index*TileWidth))
		spans[i] = span{tile, first % TileWidth, first%TileWidth + 1<<k}
		if _, ok := at[tile]; !ok {
			at[tile] = len(tiles)
			tiles = append(tiles, tile)
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
	out := make([][]byte, len(ids))
	for i, s := range spans {
		b := data[at[s.tile]]
		if s.end > uint64(s.tile.Width) {
			return nil, fmt.Errorf("bad math: node %d/%d past the end of %s", ids[i].Level, ids[i].Index, s.tile.Path())
		}
		h := subtreeHash(b[s.first*HashSize : s.end*HashSize])
		out[i] = h[:]
	}
	return out, nil
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
