// Package proofs is the Merkle tree math of the log: RFC 6962 hashing, the
// addressing of c2sp.org/tlog-tiles tiles, and tree hashes computed from
// stored node hashes.
//
// Everything here is pure: no I/O, no context, no logging. Storage comes in
// through the small HashReader interface, as in golang.org/x/mod/sumdb/tlog.
package proofs

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every hash in the tree (SHA-256).
const HashSize = 32

// Hash is a node or leaf hash.
type Hash = [HashSize]byte

// hasher is RFC 6962 over SHA-256, from transparency-dev/merkle.
var hasher = rfc6962.DefaultHasher

// Factory makes compact ranges that hash with RFC 6962.
var Factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// EmptyRoot is the root hash of the empty tree, SHA-256("").
var EmptyRoot = func() (h Hash) { copy(h[:], hasher.EmptyRoot()); return }()

// HashLeaf returns the RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry).
func HashLeaf(entry []byte) (h Hash) {
	copy(h[:], hasher.HashLeaf(entry))
	return h
}

// HashChildren returns the RFC 6962 interior node hash: SHA-256(0x01 || l || r).
func HashChildren(l, r Hash) (h Hash) {
	copy(h[:], hasher.HashChildren(l[:], r[:]))
	return h
}

// NodeID names a perfect subtree: the node at Level (0 = leaves) and Index
// (counted from the left at that level). It covers leaves
// [Index<<Level, (Index+1)<<Level).
type NodeID = compact.NodeID

// HashReader reads stored node hashes. ReadHashes returns one 32-byte hash per
// id, in order, or an error if any is missing. Implementations may be called
// concurrently by several readers.
type HashReader interface {
	ReadHashes(ids []NodeID) ([][]byte, error)
}

// ErrMissingHash is returned (wrapped) by a HashReader when a node is absent.
var ErrMissingHash = errors.New("missing node hash")

// RightEdge returns the ids of the perfect subtrees whose hashes make up the
// tree of the given size, left to right: the compact range [0, size).
func RightEdge(size uint64) []NodeID {
	return compact.RangeNodes(0, size, nil)
}

// TreeHash returns the root hash of the tree of the given size, computed
// from the hashes of its right edge (see RightEdge) read from r.
func TreeHash(size uint64, r HashReader) (Hash, error) {
	rng, err := RangeAt(size, r)
	if err != nil {
		return Hash{}, err
	}
	return RootOf(rng)
}

// RangeAt returns the compact range [0, size) with its hashes read from r.
func RangeAt(size uint64, r HashReader) (*compact.Range, error) {
	ids := RightEdge(size)
	hashes, err := r.ReadHashes(ids)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the right edge of tree size %d: %w", size, err)
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("node %d/%d: hash is %d bytes, want %d", ids[i].Level, ids[i].Index, len(h), HashSize)
		}
	}
	return Factory.NewRange(0, size, hashes)
}

// RootOf returns the root hash of a compact range starting at 0; the empty
// range has EmptyRoot.
func RootOf(rng *compact.Range) (Hash, error) {
	if rng.End() == 0 {
		return EmptyRoot, nil
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return Hash{}, err
	}
	var h Hash
	copy(h[:], root)
	return h, nil
}
