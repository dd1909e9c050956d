// Package oracle holds the independent Merkle trees tests compare the log
// with: a transcription of RFC 6962's Merkle Tree Hash, and x/mod's own
// incremental tree (golang.org/x/mod/sumdb/tlog). Neither shares code with
// the log. For tests only.
package oracle

import (
	"crypto/sha256"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// MTH is the Merkle Tree Hash of RFC 6962 §2.1, written as the RFC states
// it: the tree splits at the largest power of two smaller than n.
func MTH(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := MTH(leaves[:k]), MTH(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// Tree is x/mod's incremental tree kept in memory: every stored hash of
// tlog.StoredHashes. It implements tlog.HashReader, so tlog.TreeHash,
// tlog.ReadTileData and the proof functions run on it.
type Tree struct {
	hashes []tlog.Hash
	n      int64
}

// Size returns the number of entries.
func (x *Tree) Size() int64 { return x.n }

// Add appends an entry.
func (x *Tree) Add(entry []byte) error {
	hs, err := tlog.StoredHashes(x.n, entry, x)
	if err != nil {
		return err
	}
	x.hashes = append(x.hashes, hs...)
	x.n++
	return nil
}

// ReadHashes implements tlog.HashReader.
func (x *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(x.hashes)) {
			return nil, fmt.Errorf("oracle: no stored hash %d", idx)
		}
		out[i] = x.hashes[idx]
	}
	return out, nil
}
