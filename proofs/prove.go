package proofs

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

// Errors of proof construction and checking, returned wrapped.
var (
	// ErrBadRange: the index or sizes do not make a proof (index ≥ size,
	// old > new, old = 0).
	ErrBadRange = errors.New("no such proof")
	// ErrProofInvalid: a proof does not verify.
	ErrProofInvalid = errors.New("proof does not verify")
)

// ProveInclusion returns the inclusion proof of the leaf at index in the
// tree of the given size, leaf sibling first (RFC 6962 §2.1.1), built from
// the stored perfect-subtree hashes r holds. It requires index < size.
func ProveInclusion(index, size uint64, r HashReader) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrBadRange, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRange, err)
	}
	return rehash(nodes, r)
}

// CheckInclusion checks that proof proves the leaf hash at index in the tree
// of the given size and root.
func CheckInclusion(p [][]byte, index, size uint64, leaf, root Hash) error {
	if err := proof.VerifyInclusion(hasher, index, size, leaf[:], p, root[:]); err != nil {
		return fmt.Errorf("%w: inclusion of index %d in tree size %d: %s", ErrProofInvalid, index, size, oneLine(err))
	}
	return nil
}

// ProveConsistency returns the consistency proof between the trees of sizes
// oldSize and newSize (RFC 6962 §2.1.2). It requires 0 < oldSize ≤ newSize:
// there is no proof from the empty tree, and the proof between equal sizes
// is empty.
func ProveConsistency(oldSize, newSize uint64, r HashReader) ([][]byte, error) {
	if oldSize == 0 || oldSize > newSize {
		return nil, fmt.Errorf("%w: consistency needs 0 < old ≤ new, got old %d, new %d", ErrBadRange, oldSize, newSize)
	}
	nodes, err := proof.Consistency(oldSize, newSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRange, err)
	}
	return rehash(nodes, r)
}

// CheckConsistency checks that p proves the tree of size oldSize and root
// oldRoot is a prefix of the tree of size newSize and root newRoot. It
// requires 0 < oldSize ≤ newSize.
func CheckConsistency(p [][]byte, oldSize, newSize uint64, oldRoot, newRoot Hash) error {
	if oldSize == 0 || oldSize > newSize {
		return fmt.Errorf("%w: consistency needs 0 < old ≤ new, got old %d, new %d", ErrBadRange, oldSize, newSize)
	}
	if err := proof.VerifyConsistency(hasher, oldSize, newSize, p, oldRoot[:], newRoot[:]); err != nil {
		return fmt.Errorf("%w: consistency of tree size %d with %d: %s", ErrProofInvalid, oldSize, newSize, oneLine(err))
	}
	return nil
}

func rehash(nodes proof.Nodes, r HashReader) ([][]byte, error) {
	hashes, err := r.ReadHashes(nodes.IDs)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(nodes.IDs) {
		return nil, fmt.Errorf("hash reader returned %d hashes for %d nodes", len(hashes), len(nodes.IDs))
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("node %d/%d: hash is %d bytes", nodes.IDs[i].Level, nodes.IDs[i].Index, len(h))
		}
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// oneLine renders merkle's verification errors on one line (its root
// mismatch error prints byte slices over several lines).
func oneLine(err error) string {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Sprintf("computed root %x, expected %x", rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return err.Error()
}
