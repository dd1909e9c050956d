package proofs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/oracle"
	"github.com/tlogai/tlog/proofs"
)

// The oracles for proofs are four, none of them the code under test:
//
//   - golang.org/x/mod/sumdb/tlog: ProveRecord and ProveTree must give the
//     same proofs byte for byte, and CheckRecord and CheckTree must accept
//     them;
//   - transparency-dev/merkle/proof: VerifyInclusion, VerifyConsistency;
//   - a transcription of the verification algorithms of RFC 9162 §2.1.3.2
//     and §2.1.4.2 (rfcVerifyInclusion, rfcVerifyConsistency);
//   - the trees themselves, built from the RFC 6962 §2.1 definitions: refMTH
//     and newRefTree (hash_test.go) for small trees, levelStore for big ones.

// rfcLeaf is RFC 6962's leaf hash, SHA-256(0x00 || entry).
func rfcLeaf(e []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(e)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// rfcNode is RFC 6962's interior hash, SHA-256(0x01 || l || r), without
// allocating: big trees hash millions of nodes.
func rfcNode(l, r [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 0x01
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

func hash32(p []byte) ([32]byte, bool) {
	var h [32]byte
	if len(p) != 32 {
		return h, false
	}
	copy(h[:], p)
	return h, true
}

// rfcVerifyInclusion is RFC 9162 §2.1.3.2, step by step.
func rfcVerifyInclusion(index, size uint64, leaf [32]byte, path [][]byte, root [32]byte) bool {
	// 1. Compare leaf_index from the inclusion_proof input against
	// tree_size. If leaf_index is greater than or equal to tree_size, then
	// fail the proof verification.
	if index >= size {
		return false
	}
	// 2. Set fn to leaf_index and sn to tree_size - 1.
	fn, sn := index, size-1
	// 3. Set r to hash.
	r := leaf
	// 4. For each value p in the inclusion_path array:
	for _, pb := range path {
		p, ok := hash32(pb)
		if !ok {
			return false
		}
		// a. If sn is 0, then stop the iteration and fail.
		if sn == 0 {
			return false
		}
		// b. If LSB(fn) is set, or if fn is equal to sn, then:
		if fn&1 == 1 || fn == sn {
			// 1. Set r to HASH(0x01 || p || r).
			r = rfcNode(p, r)
			// 2. If LSB(fn) is not set, then right-shift both fn and sn
			// equally until either LSB(fn) is set or fn is 0.
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			// Otherwise: Set r to HASH(0x01 || r || p).
			r = rfcNode(r, p)
		}
		// c. Finally, right-shift both fn and sn one time.
		fn >>= 1
		sn >>= 1
	}
	// 5. Compare sn to 0. Compare r against the root_hash.
	return sn == 0 && r == root
}

// rfcVerifyConsistency is RFC 9162 §2.1.4.2, step by step, for 0 < first <
// second; between equal sizes the proof is empty and the roots are equal
// (§2.1.4.1), and there is no proof from size 0 in this API.
func rfcVerifyConsistency(first, second uint64, firstHash, secondHash [32]byte, path [][]byte) bool {
	if first == 0 || first > second {
		return false
	}
	if first == second {
		return len(path) == 0 && firstHash == secondHash
	}
	var hs [][32]byte
	for _, pb := range path {
		p, ok := hash32(pb)
		if !ok {
			return false
		}
		hs = append(hs, p)
	}
	// 1. If consistency_path is an empty array, stop and fail.
	if len(hs) == 0 {
		return false
	}
	// 2. If first is an exact power of 2, then prepend first_hash.
	if first&(first-1) == 0 {
		hs = append([][32]byte{firstHash}, hs...)
	}
	// 3. Set fn to first - 1 and sn to second - 1.
	fn, sn := first-1, second-1
	// 4. If LSB(fn) is set, then right-shift both fn and sn equally until
	// LSB(fn) is not set.
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	// 5. Set both fr and sr to the first value in the consistency_path.
	fr, sr := hs[0], hs[0]
	// 6. For each subsequent value c in the consistency_path array:
	for _, c := range hs[1:] {
		// a. If sn is 0, then stop the iteration and fail.
		if sn == 0 {
			return false
		}
		// b. If LSB(fn) is set, or if fn is equal to sn, then:
		if fn&1 == 1 || fn == sn {
			// 1. Set fr to HASH(0x01 || c || fr); sr to HASH(0x01 || c || sr).
			fr = rfcNode(c, fr)
			sr = rfcNode(c, sr)
			// 2. If LSB(fn) is not set, then right-shift both fn and sn
			// equally until either LSB(fn) is set or fn is 0.
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			// Otherwise: Set sr to HASH(0x01 || sr || c).
			sr = rfcNode(sr, c)
		}
		// c. Finally, right-shift both fn and sn one time.
		fn >>= 1
		sn >>= 1
	}
	// 7. fr equals first_hash, sr equals second_hash, and sn is 0.
	return fr == firstHash && sr == secondHash && sn == 0
}

// levelStore holds every perfect-subtree hash of a tree, computed level by
// level from the leaf hashes as RFC 6962 §2.1 defines them: node (l, k) is
// HASH(0x01 || node(l-1, 2k) || node(l-1, 2k+1)). levels[0] are the leaf
// hashes. It is read-only once built.
type levelStore struct {
	levels [][][32]byte
}

func newLevelStore(leaves [][32]byte) *levelStore {
	s := &levelStore{levels: [][][32]byte{leaves}}
	for prev := leaves; len(prev) >= 2; {
		next := make([][32]byte, len(prev)/2)
		for k := range next {
			next[k] = rfcNode(prev[2*k], prev[2*k+1])
		}
		s.levels = append(s.levels, next)
		prev = next
	}
	return s
}

// node returns the hash of the perfect subtree (level, index) if it lies
// wholly inside the tree of the given size: a node the log has not grown yet
// does not exist.
func (s *levelStore) node(level uint64, index, size uint64) ([32]byte, bool) {
	if level >= uint64(len(s.levels)) || index >= uint64(len(s.levels[level])) || (index+1)<<level > size {
		return [32]byte{}, false
	}
	return s.levels[level][index], true
}

// sizedReader is the proofs.HashReader of the tree of the given size over a
// levelStore. It returns copies, as storage would.
type sizedReader struct {
	s    *levelStore
	size uint64
}

func (r sizedReader) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	buf := make([]byte, 32*len(ids))
	for i, id := range ids {
		h, ok := r.s.node(uint64(id.Level), id.Index, r.size)
		if !ok {
			return nil, fmt.Errorf("node %d/%d of tree size %d: %w", id.Level, id.Index, r.size, proofs.ErrMissingHash)
		}
		out[i] = buf[32*i : 32*i+32 : 32*i+32]
		copy(out[i], h[:])
	}
	return out, nil
}

// xmod is the same store as x/mod addresses it: stored-hash indexes split
// into (level, index) by x/mod's own tlog.SplitStoredHashIndex.
func (s *levelStore) xmod(size uint64) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			level, n := tlog.SplitStoredHashIndex(x)
			h, ok := s.node(uint64(level), uint64(n), size)
			if !ok {
				return nil, fmt.Errorf("x/mod stored hash %d (%d/%d) not in tree size %d", x, level, n, size)
			}
			out[i] = h
		}
		return out, nil
	})
}

// The big tree: 10^6 entries, each its index as 8 big-endian bytes.
const bigSize = 1_000_000

func bigEntry(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

var bigStore = sync.OnceValue(func() *levelStore {
	leaves := make([][32]byte, bigSize)
	for i := range leaves {
		leaves[i] = rfcLeaf(bigEntry(uint64(i)))
	}
	return newLevelStore(leaves)
})

// refLog is a log under test with its oracles: what the prover reads
// (nodes), what x/mod reads (xmod), and the leaf and root hashes.
type refLog struct {
	n      uint64
	leaves [][32]byte
	root   func(size uint64) ([32]byte, error)
	nodes  func(size uint64) proofs.HashReader
	xmod   tlog.HashReader
}

// smallRefLog is a log of n entries whose perfect subtrees come from
// refMTH (newRefTree, memReader), whose roots are refMTH's, and whose x/mod
// view is x/mod's own incremental tree, built from the entries.
func smallRefLog(t *testing.T, n int) *refLog {
	t.Helper()
	tree := newRefTree(n)
	x := new(oracle.Tree)
	for i := range n {
		if err := x.Add(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	roots := make([][32]byte, n+1)
	for s := 0; s <= n; s++ {
		roots[s] = refMTH(tree.leaves[:s])
		if s == 0 {
			continue
		}
		if xr, err := tlog.TreeHash(int64(s), x); err != nil || xr != roots[s] {
			t.Fatalf("oracles disagree on the root of size %d: refMTH %x, x/mod %x (%v)", s, roots[s], xr, err)
		}
		if o := oracle.MTH(entriesUpTo(s)); o != roots[s] {
			t.Fatalf("oracles disagree on the root of size %d: refMTH %x, oracle.MTH %x", s, roots[s], o)
		}
	}
	return &refLog{
		n:      uint64(n),
		leaves: tree.leaves,
		root:   func(size uint64) ([32]byte, error) { return roots[size], nil },
		nodes:  func(size uint64) proofs.HashReader { return &memReader{tree: tree, size: size} },
		xmod:   x,
	}
}

func entriesUpTo(n int) [][]byte {
	var es [][]byte
	for i := range n {
		es = append(es, entry(i))
	}
	return es
}

// bigRefLog is the 10^6-entry tree; roots come from x/mod's TreeHash.
func bigRefLog() *refLog {
	s := bigStore()
	return &refLog{
		n:      bigSize,
		leaves: s.levels[0],
		root: func(size uint64) ([32]byte, error) {
			return tlog.TreeHash(int64(size), s.xmod(size))
		},
		nodes: func(size uint64) proofs.HashReader { return sizedReader{s, size} },
		xmod:  s.xmod(bigSize),
	}
}

func (l *refLog) mustRoot(t *testing.T, size uint64) [32]byte {
	t.Helper()
	r, err := l.root(size)
	if err != nil {
		t.Fatalf("root of size %d: %v", size, err)
	}
	return r
}

func fromXMod(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func toXMod(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i := range p {
		copy(out[i][:], p[i])
	}
	return out
}

func sameProof(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// cloneProof copies a proof deeply, so that probes never write into the
// prover's or the reader's memory.
func cloneProof(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i])
	}
	return out
}

// flipAt returns a copy of p with hash i changed: bit 3 of its first byte
// (merkle's probe) or, with last, bit 0 of its last byte.
func flipAt(p [][]byte, i int, last bool) [][]byte {
	q := cloneProof(p)
	if last {
		q[i][len(q[i])-1] ^= 0x01
	} else {
		q[i][0] ^= 0x08
	}
	return q
}

// stats counts, over a run, the altered-size checks that the RFC
// algorithm (and so every verifier) accepts: an inclusion proof does not
// bind the tree size, the signed checkpoint does.
type stats struct {
	inclSizeAccepted, consSizeAccepted int
}

// checkInclusion proves index in the tree of the given size and checks the
// proof against every oracle, then checks that altering it is rejected.
func (l *refLog) checkInclusion(t *testing.T, index, size uint64, st *stats) {
	t.Helper()
	p, err := proofs.ProveInclusion(index, size, l.nodes(size))
	if err != nil {
		t.Errorf("ProveInclusion(%d, %d): %v", index, size, err)
		return
	}
	want, err := tlog.ProveRecord(int64(size), int64(index), l.xmod)
	if err != nil {
		t.Fatalf("x/mod ProveRecord(%d, %d): %v", size, index, err)
	}
	if !sameProof(p, fromXMod(want)) {
		t.Errorf("ProveInclusion(%d, %d) = %x, x/mod ProveRecord gives %x", index, size, p, fromXMod(want))
		return
	}
	leaf, root := l.leaves[index], l.mustRoot(t, size)
	if err := proofs.CheckInclusion(p, index, size, leaf, root); err != nil {
		t.Errorf("CheckInclusion(proof of %d in %d): %v", index, size, err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], p, root[:]); err != nil {
		t.Errorf("merkle VerifyInclusion(proof of %d in %d): %v", index, size, err)
	}
	if err := tlog.CheckRecord(toXMod(p), int64(size), root, int64(index), leaf); err != nil {
		t.Errorf("x/mod CheckRecord(proof of %d in %d): %v", index, size, err)
	}
	if !rfcVerifyInclusion(index, size, leaf, p, root) {
		t.Errorf("RFC 9162 verification rejects the proof of %d in %d", index, size)
	}

	reject := func(desc string, q [][]byte, i, s uint64, lf, rt [32]byte) {
		t.Helper()
		if err := proofs.CheckInclusion(q, i, s, lf, rt); !errors.Is(err, proofs.ErrProofInvalid) {
			t.Errorf("proof of %d in %d, %s: CheckInclusion = %v, want ErrProofInvalid", index, size, desc, err)
		}
	}
	// One hash altered, at each position.
	for i := range p {
		reject(fmt.Sprintf("hash %d altered in its first byte", i), flipAt(p, i, false), index, size, leaf, root)
		reject(fmt.Sprintf("hash %d altered in its last byte", i), flipAt(p, i, true), index, size, leaf, root)
	}
	// The index moved by one: leaf(index) is not at that position in the
	// tree whose root is root.
	reject("index - 1", p, index-1, size, leaf, root)
	reject("index + 1", p, index+1, size, leaf, root)

	for _, s := range []uint64{size - 1, size + 1, 2 * size, size / 2} {
		// Against the root of the original tree: an inclusion proof
		// does not bind the size (RFC 9162 §2.1.3.2 accepts whenever
		// the shape of the path is the same, as for (0, 6) → (0, 7)),
		// so CheckInclusion must agree with the RFC and x/mod. Doubling
		// and halving change the shape, and must fail (merkle probes).
		got := proofs.CheckInclusion(p, index, s, leaf, root) == nil
		rfc := rfcVerifyInclusion(index, s, leaf, p, root)
		xm := index < s && s <= math.MaxInt64 && tlog.CheckRecord(toXMod(p), int64(s), root, int64(index), leaf) == nil
		if got != rfc || got != xm {
			t.Errorf("proof of %d in %d checked as size %d with the old root: CheckInclusion ok=%v, RFC 9162 ok=%v, x/mod ok=%v", index, size, s, got, rfc, xm)
		}
		if got {
			if s == 2*size || s == size/2 {
				t.Errorf("proof of %d in %d verifies as size %d", index, size, s)
			}
			st.inclSizeAccepted++
		}
		// Against the root of the altered size: valid exactly when the
		// proof is also the genuine proof of index in that tree.
		if s == 0 || s > l.n {
			continue
		}
		rs := l.mustRoot(t, s)
		err := proofs.CheckInclusion(p, index, s, leaf, rs)
		genuine := false
		if index < s {
			g, gerr := tlog.ProveRecord(int64(s), int64(index), l.xmod)
			if gerr != nil {
				t.Fatalf("x/mod ProveRecord(%d, %d): %v", s, index, gerr)
			}
			genuine = sameProof(p, fromXMod(g))
		}
		if (err == nil) != genuine {
			t.Errorf("proof of %d in %d checked as size %d with that tree's root: CheckInclusion = %v, genuine proof there: %v", index, size, s, err, genuine)
		}
	}
}

// checkConsistency proves oldSize against newSize and checks the proof
// against every oracle, then checks that altering it is rejected.
func (l *refLog) checkConsistency(t *testing.T, oldSize, newSize uint64, st *stats) {
	t.Helper()
	p, err := proofs.ProveConsistency(oldSize, newSize, l.nodes(newSize))
	if err != nil {
		t.Errorf("ProveConsistency(%d, %d): %v", oldSize, newSize, err)
		return
	}
	want, err := tlog.ProveTree(int64(newSize), int64(oldSize), l.xmod)
	if err != nil {
		t.Fatalf("x/mod ProveTree(%d, %d): %v", newSize, oldSize, err)
	}
	if !sameProof(p, fromXMod(want)) {
		t.Errorf("ProveConsistency(%d, %d) = %x, x/mod ProveTree gives %x", oldSize, newSize, p, fromXMod(want))
		return
	}
	oldRoot, newRoot := l.mustRoot(t, oldSize), l.mustRoot(t, newSize)
	if err := proofs.CheckConsistency(p, oldSize, newSize, oldRoot, newRoot); err != nil {
		t.Errorf("CheckConsistency(%d, %d): %v", oldSize, newSize, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, newSize, p, oldRoot[:], newRoot[:]); err != nil {
		t.Errorf("merkle VerifyConsistency(%d, %d): %v", oldSize, newSize, err)
	}
	if err := tlog.CheckTree(toXMod(p), int64(newSize), newRoot, int64(oldSize), oldRoot); err != nil {
		t.Errorf("x/mod CheckTree(%d, %d): %v", oldSize, newSize, err)
	}
	if !rfcVerifyConsistency(oldSize, newSize, oldRoot, newRoot, p) {
		t.Errorf("RFC 9162 verification rejects the proof of %d → %d", oldSize, newSize)
	}

	reject := func(desc string, q [][]byte, o, n uint64, or, nr [32]byte) {
		t.Helper()
		err := proofs.CheckConsistency(q, o, n, or, nr)
		if !errors.Is(err, proofs.ErrProofInvalid) && !errors.Is(err, proofs.ErrBadRange) {
			t.Errorf("proof of %d → %d, %s: CheckConsistency = %v, want ErrProofInvalid or ErrBadRange", oldSize, newSize, desc, err)
		}
	}
	for i := range p {
		reject(fmt.Sprintf("hash %d altered in its first byte", i), flipAt(p, i, false), oldSize, newSize, oldRoot, newRoot)
		reject(fmt.Sprintf("hash %d altered in its last byte", i), flipAt(p, i, true), oldSize, newSize, oldRoot, newRoot)
	}
	if oldRoot != newRoot {
		reject("swapped roots", p, oldSize, newSize, newRoot, oldRoot)
	}

	type sizes struct{ o, n uint64 }
	for _, s := range []sizes{
		{oldSize - 1, newSize}, {oldSize + 1, newSize},
		{oldSize, newSize - 1}, {oldSize, newSize + 1},
		{oldSize, 2 * newSize}, {oldSize, newSize / 2},
	} {
		// With the original roots: agree with the RFC and x/mod.
		err := proofs.CheckConsistency(p, s.o, s.n, oldRoot, newRoot)
		got := err == nil
		rfc := rfcVerifyConsistency(s.o, s.n, oldRoot, newRoot, p)
		xm := s.o >= 1 && s.o <= s.n && s.n <= math.MaxInt64 && tlog.CheckTree(toXMod(p), int64(s.n), newRoot, int64(s.o), oldRoot) == nil
		if got != rfc || got != xm {
			t.Errorf("proof of %d → %d checked as %d → %d with the old roots: CheckConsistency = %v, RFC 9162 ok=%v, x/mod ok=%v", oldSize, newSize, s.o, s.n, err, rfc, xm)
		}
		if s.o == 0 || s.o > s.n {
			if !errors.Is(err, proofs.ErrBadRange) {
				t.Errorf("CheckConsistency(%d → %d) = %v, want ErrBadRange", s.o, s.n, err)
			}
			continue
		}
		if got {
			st.consSizeAccepted++
		}
		// With the roots of the altered sizes: valid exactly when the
		// proof is the genuine one between those sizes.
		if s.n > l.n {
			continue
		}
		ro, rn := l.mustRoot(t, s.o), l.mustRoot(t, s.n)
		g, gerr := tlog.ProveTree(int64(s.n), int64(s.o), l.xmod)
		if gerr != nil {
			t.Fatalf("x/mod ProveTree(%d, %d): %v", s.n, s.o, gerr)
		}
		genuine := sameProof(p, fromXMod(g))
		if err := proofs.CheckConsistency(p, s.o, s.n, ro, rn); (err == nil) != genuine {
			t.Errorf("proof of %d → %d checked as %d → %d with those trees' roots: CheckConsistency = %v, genuine proof there: %v", oldSize, newSize, s.o, s.n, err, genuine)
		}
	}
}

// TestProofsAllPairs: for every 1 ≤ a ≤ b ≤ 130, the inclusion proof of
// a-1 in b (so, every index of every size) and the consistency proof a → b
// equal x/mod's byte for byte, verify with ours, merkle, x/mod and the RFC,
// and stop verifying once altered.
func TestProofsAllPairs(t *testing.T) {
	t.Parallel()
	const maxSize = 130
	l := smallRefLog(t, 2*maxSize) // altered sizes reach 2b
	var st stats
	for b := uint64(1); b <= maxSize; b++ {
		for a := uint64(1); a <= b; a++ {
			l.checkInclusion(t, a-1, b, &st)
			l.checkConsistency(t, a, b, &st)
		}
		if t.Failed() {
			t.Fatalf("stopping after tree size %d", b)
		}
	}
	t.Logf("size±1 checks with the old root accepted, as RFC 9162 does: inclusion %d, consistency %d", st.inclSizeAccepted, st.consSizeAccepted)
}

// TestProofsRandomBigTree: ~200 random (index, size) and (old, new) pairs
// in a 10^6-entry tree, biased toward powers of two and their neighbours,
// checked as in TestProofsAllPairs against x/mod, merkle and the RFC.
func TestProofsRandomBigTree(t *testing.T) {
	t.Parallel()
	l := bigRefLog()
	rng := rand.New(rand.NewPCG(6962, 9162))
	randSize := func() uint64 {
		if rng.IntN(3) == 0 {
			s := uint64(1)<<rng.IntN(20) + uint64(rng.IntN(3)) - 1
			return max(s, 1)
		}
		return 1 + rng.Uint64N(bigSize)
	}
	var st stats
	pairs := 0
	for pairs < 200 {
		size := randSize()
		index := rng.Uint64N(size)
		switch rng.IntN(8) {
		case 0:
			index = 0
		case 1:
			index = size - 1
		}
		l.checkInclusion(t, index, size, &st)
		oldSize := 1 + rng.Uint64N(size)
		if rng.IntN(8) == 0 {
			oldSize = size
		}
		l.checkConsistency(t, oldSize, size, &st)
		pairs++
		if t.Failed() {
			t.Fatalf("stopping after %d pairs", pairs)
		}
	}
	// The whole tree too.
	l.checkInclusion(t, bigSize-1, bigSize, &st)
	l.checkConsistency(t, 1, bigSize, &st)
}

// TestLevelStoreMatchesOracles: the big tree built level by level has the
// roots of x/mod's incremental tree over the same entries, and of the RFC's
// recursive MTH.
func TestLevelStoreMatchesOracles(t *testing.T) {
	t.Parallel()
	l := bigRefLog()
	x := new(oracle.Tree)
	const n = 3000
	var es [][]byte
	for i := range uint64(n) {
		es = append(es, bigEntry(i))
		if err := x.Add(bigEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []uint64{1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 2047, 2048, 2049, n} {
		want, err := tlog.TreeHash(int64(s), x)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.mustRoot(t, s); got != want {
			t.Errorf("root of size %d: level store %x, x/mod tree %x", s, got, want)
		}
		if got := oracle.MTH(es[:s]); got != want {
			t.Errorf("root of size %d: RFC MTH %x, x/mod tree %x", s, got, want)
		}
	}
}

// TestCheckInclusionProbes: merkle's corruptInclusionProof probes, on every
// proof of trees up to 40 entries, are all rejected.
func TestCheckInclusionProbes(t *testing.T) {
	t.Parallel()
	const n = 40
	l := smallRefLog(t, n)
	someHash := sha256.Sum256([]byte("some other hash"))
	for size := uint64(1); size <= n; size++ {
		root := l.mustRoot(t, size)
		for index := range size {
			p, err := proofs.ProveInclusion(index, size, l.nodes(size))
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", index, size, err)
			}
			leaf := l.leaves[index]
			type probe struct {
				desc        string
				p           [][]byte
				index, size uint64
				leaf, root  [32]byte
			}
			probes := []probe{
				{"index - 1", p, index - 1, size, leaf, root},
				{"index + 1", p, index + 1, size, leaf, root},
				{"index ^ 2", p, index ^ 2, size, leaf, root},
				{"size * 2", p, index, size * 2, leaf, root},
				{"size / 2", p, index, size / 2, leaf, root},
				{"size 0", p, index, 0, leaf, root},
				{"size 0, index 0", p, 0, 0, leaf, root},
				{"wrong leaf", p, index, size, l.leaves[(index+1)%n], root},
				{"zero leaf", p, index, size, [32]byte{}, root},
				{"entry hash not leaf hash", p, index, size, sha256.Sum256(entry(int(index))), root},
				{"empty root", p, index, size, leaf, proofs.EmptyRoot},
				{"random root", p, index, size, leaf, someHash},
				{"trailing empty hash", append(cloneProof(p), []byte{}), index, size, leaf, root},
				{"trailing root", append(cloneProof(p), root[:]), index, size, leaf, root},
				{"trailing garbage hash", append(cloneProof(p), someHash[:]), index, size, leaf, root},
				{"preceding empty hash", append([][]byte{{}}, p...), index, size, leaf, root},
				{"preceding root", append([][]byte{root[:]}, p...), index, size, leaf, root},
				{"preceding garbage hash", append([][]byte{someHash[:]}, p...), index, size, leaf, root},
			}
			if size > 1 {
				probes = append(probes,
					probe{"removed last hash", p[:len(p)-1], index, size, leaf, root},
					probe{"removed first hash", p[1:], index, size, leaf, root},
					probe{"empty proof", nil, index, size, leaf, root},
					probe{"last hash 31 bytes", append(cloneProof(p[:len(p)-1]), p[len(p)-1][:31]), index, size, leaf, root},
					probe{"last hash 33 bytes", append(cloneProof(p[:len(p)-1]), append(bytes.Clone(p[len(p)-1]), 0)), index, size, leaf, root},
				)
				if root != leaf {
					probes = append(probes, probe{"swapped leaf and root", p, index, size, root, leaf})
				}
			}
			if len(p) > 1 {
				probes = append(probes,
					probe{"inserted hash", append([][]byte{p[0], someHash[:]}, p[1:]...), index, size, leaf, root},
					probe{"swapped first two hashes", append([][]byte{p[1], p[0]}, p[2:]...), index, size, leaf, root},
				)
			}
			for _, pr := range probes {
				err := proofs.CheckInclusion(pr.p, pr.index, pr.size, pr.leaf, pr.root)
				if !errors.Is(err, proofs.ErrProofInvalid) && !errors.Is(err, proofs.ErrBadRange) {
					t.Errorf("proof of %d in %d, %s: CheckInclusion = %v, want ErrProofInvalid or ErrBadRange", index, size, pr.desc, err)
				}
			}
		}
	}
}

// TestCheckConsistencyProbes: merkle's corruptConsistencyProof probes, on
// every non-trivial proof of trees up to 40 entries, are all rejected; so are
// size 0, old > new, and non-empty proofs or different roots between equal
// sizes.
func TestCheckConsistencyProbes(t *testing.T) {
	t.Parallel()
	const n = 40
	l := smallRefLog(t, n)
	someHash := sha256.Sum256([]byte("some other hash"))
	for newSize := uint64(1); newSize <= n; newSize++ {
		newRoot := l.mustRoot(t, newSize)
		for oldSize := uint64(1); oldSize <= newSize; oldSize++ {
			oldRoot := l.mustRoot(t, oldSize)
			p, err := proofs.ProveConsistency(oldSize, newSize, l.nodes(newSize))
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", oldSize, newSize, err)
			}
			type probe struct {
				desc       string
				p          [][]byte
				o, n       uint64
				or, nr     [32]byte
				wantBadRng bool
			}
			probes := []probe{
				{"old size 0", p, 0, newSize, oldRoot, newRoot, true},
				{"old size 0, empty-tree root", nil, 0, newSize, proofs.EmptyRoot, newRoot, true},
				{"old > new", p, newSize + 1, newSize, oldRoot, newRoot, true},
				{"new size 0", p, oldSize, 0, oldRoot, newRoot, true},
				{"wrong old root", p, oldSize, newSize, someHash, newRoot, false},
				{"wrong new root", p, oldSize, newSize, oldRoot, someHash, false},
				{"trailing empty hash", append(cloneProof(p), []byte{}), oldSize, newSize, oldRoot, newRoot, false},
				{"trailing old root", append(cloneProof(p), oldRoot[:]), oldSize, newSize, oldRoot, newRoot, false},
				{"trailing new root", append(cloneProof(p), newRoot[:]), oldSize, newSize, oldRoot, newRoot, false},
				{"preceding empty hash", append([][]byte{{}}, p...), oldSize, newSize, oldRoot, newRoot, false},
				{"preceding old root", append([][]byte{oldRoot[:]}, p...), oldSize, newSize, oldRoot, newRoot, false},
				{"preceding new root", append([][]byte{newRoot[:]}, p...), oldSize, newSize, oldRoot, newRoot, false},
			}
			if oldSize < newSize {
				probes = append(probes,
					probe{"old size - 1", p, oldSize - 1, newSize, oldRoot, newRoot, oldSize == 1},
					probe{"old size ^ 2", p, oldSize ^ 2, newSize, oldRoot, newRoot, oldSize^2 == 0 || oldSize^2 > newSize},
					probe{"new size * 2", p, oldSize, newSize * 2, oldRoot, newRoot, false},
					probe{"new size / 2", p, oldSize, newSize / 2, oldRoot, newRoot, oldSize > newSize/2},
					probe{"swapped roots", p, oldSize, newSize, newRoot, oldRoot, false},
					probe{"empty proof", nil, oldSize, newSize, oldRoot, newRoot, false},
					probe{"truncated proof", p[:len(p)-1], oldSize, newSize, oldRoot, newRoot, false},
					probe{"first hash dropped", p[1:], oldSize, newSize, oldRoot, newRoot, false},
					probe{"preceding proof[0]", append([][]byte{p[0]}, p...), oldSize, newSize, oldRoot, newRoot, false},
					probe{"last hash 31 bytes", append(cloneProof(p[:len(p)-1]), p[len(p)-1][:31]), oldSize, newSize, oldRoot, newRoot, false},
				)
				if oldSize+1 < newSize {
					probes = append(probes, probe{"old size + 1", p, oldSize + 1, newSize, oldRoot, newRoot, false})
				}
			} else {
				probes = append(probes,
					probe{"equal sizes, one hash", [][]byte{oldRoot[:]}, oldSize, newSize, oldRoot, newRoot, false},
					probe{"equal sizes, different roots", nil, oldSize, newSize, oldRoot, someHash, false},
				)
			}
			for _, pr := range probes {
				err := proofs.CheckConsistency(pr.p, pr.o, pr.n, pr.or, pr.nr)
				want := proofs.ErrProofInvalid
				if pr.wantBadRng {
					want = proofs.ErrBadRange
				}
				if !errors.Is(err, want) {
					t.Errorf("proof of %d → %d, %s (checked as %d → %d): CheckConsistency = %v, want %v", oldSize, newSize, pr.desc, pr.o, pr.n, err, want)
				}
			}
		}
	}
}

// TestProveBadRange: no inclusion proof for index ≥ size, no consistency
// proof from size 0 or to a smaller size.
func TestProveBadRange(t *testing.T) {
	t.Parallel()
	l := smallRefLog(t, 8)
	for _, c := range []struct{ index, size uint64 }{
		{0, 0}, {5, 5}, {6, 5}, {8, 8}, {math.MaxUint64, math.MaxUint64}, {math.MaxUint64, 8}, {1 << 63, 1 << 63},
	} {
		if p, err := proofs.ProveInclusion(c.index, c.size, l.nodes(c.size)); !errors.Is(err, proofs.ErrBadRange) {
			t.Errorf("ProveInclusion(%d, %d) = %x, %v; want ErrBadRange", c.index, c.size, p, err)
		}
	}
	for _, c := range []struct{ o, n uint64 }{
		{0, 0}, {0, 1}, {0, 8}, {2, 1}, {8, 7}, {math.MaxUint64, 8}, {math.MaxUint64, math.MaxUint64 - 1},
	} {
		if p, err := proofs.ProveConsistency(c.o, c.n, l.nodes(c.n)); !errors.Is(err, proofs.ErrBadRange) {
			t.Errorf("ProveConsistency(%d, %d) = %x, %v; want ErrBadRange", c.o, c.n, p, err)
		}
	}
}

// TestProveEmptyProofs: the proof of the only leaf, and between equal sizes,
// is empty (RFC 6962 §2.1.1, §2.1.2).
func TestProveEmptyProofs(t *testing.T) {
	t.Parallel()
	l := smallRefLog(t, 20)
	if p, err := proofs.ProveInclusion(0, 1, l.nodes(1)); err != nil || len(p) != 0 {
		t.Errorf("ProveInclusion(0, 1) = %x, %v; want an empty proof", p, err)
	}
	for s := uint64(1); s <= 20; s++ {
		if p, err := proofs.ProveConsistency(s, s, l.nodes(s)); err != nil || len(p) != 0 {
			t.Errorf("ProveConsistency(%d, %d) = %x, %v; want an empty proof", s, s, p, err)
		}
	}
}

// faultyReader wraps a reader and breaks one answer: the hash at position
// at, or the whole answer.
type faultyReader struct {
	inner proofs.HashReader
	fault string
	at    int
}

func (f faultyReader) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	hs, err := f.inner.ReadHashes(ids)
	if err != nil {
		return nil, err
	}
	at := f.at % len(hs)
	switch f.fault {
	case "missing":
		return nil, fmt.Errorf("node %d/%d: %w", ids[at].Level, ids[at].Index, proofs.ErrMissingHash)
	case "short":
		hs[at] = hs[at][:31]
	case "long":
		hs[at] = append(bytes.Clone(hs[at]), 0)
	case "empty":
		hs[at] = []byte{}
	case "nil":
		hs[at] = nil
	case "fewer":
		hs = append(hs[:at], hs[at+1:]...)
	case "more":
		hs = append(hs, hs[at])
	case "none":
		hs = nil
	}
	return hs, nil
}

// TestProveReaderFaults: a HashReader that misses a node, or returns a hash
// of the wrong size, or the wrong number of hashes, makes the prover fail
// with an error, never panic, never return a proof.
func TestProveReaderFaults(t *testing.T) {
	t.Parallel()
	const n = 70
	l := smallRefLog(t, n)
	faults := []string{"missing", "short", "long", "empty", "nil", "fewer", "more", "none"}
	try := func(what string, f func() ([][]byte, error), fault string) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s with a reader fault %q panics: %v", what, fault, r)
			}
		}()
		p, err := f()
		if err == nil {
			t.Errorf("%s with a reader fault %q = %x, nil error", what, fault, p)
		}
		if fault == "missing" && !errors.Is(err, proofs.ErrMissingHash) {
			t.Errorf("%s with a missing node: %v, want ErrMissingHash", what, err)
		}
	}
	for _, fault := range faults {
		for _, c := range []struct{ a, b uint64 }{{0, 2}, {5, 6}, {6, 7}, {13, 70}, {31, 64}, {69, 70}, {0, 70}} {
			nodes, _ := proof.Inclusion(c.a, c.b)
			for at := range nodes.IDs {
				r := faultyReader{l.nodes(c.b), fault, at}
				try(fmt.Sprintf("ProveInclusion(%d, %d) [node %d]", c.a, c.b, at),
					func() ([][]byte, error) { return proofs.ProveInclusion(c.a, c.b, r) }, fault)
			}
		}
		for _, c := range []struct{ a, b uint64 }{{1, 2}, {3, 7}, {4, 70}, {6, 7}, {13, 70}, {64, 70}, {69, 70}} {
			nodes, _ := proof.Consistency(c.a, c.b)
			for at := range nodes.IDs {
				r := faultyReader{l.nodes(c.b), fault, at}
				try(fmt.Sprintf("ProveConsistency(%d, %d) [node %d]", c.a, c.b, at),
					func() ([][]byte, error) { return proofs.ProveConsistency(c.a, c.b, r) }, fault)
			}
		}
	}
	// A tree too big for the store: the nodes are missing, not invented.
	if p, err := proofs.ProveInclusion(3, 1<<40, l.nodes(1<<40)); !errors.Is(err, proofs.ErrMissingHash) {
		t.Errorf("ProveInclusion(3, 2^40) over a 70-entry store = %x, %v; want ErrMissingHash", p, err)
	}
	if p, err := proofs.ProveConsistency(3, math.MaxUint64, l.nodes(math.MaxUint64)); !errors.Is(err, proofs.ErrMissingHash) {
		t.Errorf("ProveConsistency(3, 2^64-1) over a 70-entry store = %x, %v; want ErrMissingHash", p, err)
	}
}
