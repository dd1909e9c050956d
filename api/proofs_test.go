package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/internal/oracle"
	"github.com/tlogai/tlog/log"
)

// The wire formats of the proof API, written from its documentation rather
// than taken from the handlers' types, so that a renamed JSON field fails.
// Checkpoint is a pointer: absent and empty are different answers.
type wireInclusion struct {
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	LeafHash   []byte   `json:"leaf_hash"`
	Hashes     [][]byte `json:"hashes"`
	Checkpoint *string  `json:"checkpoint"`
}

type wireConsistency struct {
	OldSize    uint64   `json:"old_size"`
	NewSize    uint64   `json:"new_size"`
	Hashes     [][]byte `json:"hashes"`
	Checkpoint *string  `json:"checkpoint"`
}

type wireEntry struct {
	Index          uint64          `json:"index"`
	LeafHash       []byte          `json:"leaf_hash"`
	Entry          []byte          `json:"entry"`
	Record         json.RawMessage `json:"record"` // AI entries only: the entry as JSON
	InclusionProof json.RawMessage `json:"inclusion_proof"`
}

var (
	inclusionFields   = []string{"index", "tree_size", "leaf_hash", "hashes"}
	consistencyFields = []string{"old_size", "new_size", "hashes"}
	entryFields       = []string{"index", "leaf_hash", "entry", "inclusion_proof"}
	// aiEntryFields: AI entries (release attestations, decisions) carry
	// their record too.
	aiEntryFields = []string{"index", "leaf_hash", "entry", "record", "inclusion_proof"}
)

// decodeWire decodes a JSON object into v, checking that it has every
// field of required, no field but those and "checkpoint", and that
// "hashes", when required, is an array (never null).
func decodeWire(t *testing.T, body []byte, v any, required []string) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, body)
	}
	for _, f := range required {
		if _, ok := raw[f]; !ok {
			t.Fatalf("field %q missing: %s", f, body)
		}
	}
	for f := range raw {
		if !slices.Contains(required, f) && f != "checkpoint" {
			t.Fatalf("unexpected field %q: %s", f, body)
		}
	}
	if h, ok := raw["hashes"]; ok && !bytes.HasPrefix(h, []byte("[")) {
		t.Fatalf("hashes is %s, want an array", h)
	}
	// A checkpoint is a signed note or no field at all (not null, not "").
	if c, ok := raw["checkpoint"]; ok {
		var s string
		if err := json.Unmarshal(c, &s); err != nil || s == "" {
			t.Fatalf("checkpoint is %s, want a signed note or no field", c)
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decoding %T: %v: %s", v, err, body)
	}
}

// getJSON GETs path, requires 200 with a JSON content type and decodes the
// body into v with decodeWire.
func (ts *testServer) getJSON(t *testing.T, path string, v any, required []string) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	decodeWire(t, body, v, required)
}

func (ts *testServer) inclusionAt(t *testing.T, index, size uint64) wireInclusion {
	t.Helper()
	var p wireInclusion
	ts.getJSON(t, fmt.Sprintf("/api/v1/proofs/inclusion?index=%d&size=%d", index, size), &p, inclusionFields)
	if p.Index != index || p.TreeSize != size {
		t.Fatalf("asked for index %d at size %d, got index %d at size %d", index, size, p.Index, p.TreeSize)
	}
	return p
}

func (ts *testServer) consistencyAt(t *testing.T, oldSize, newSize uint64) wireConsistency {
	t.Helper()
	var p wireConsistency
	ts.getJSON(t, fmt.Sprintf("/api/v1/proofs/consistency?old=%d&new=%d", oldSize, newSize), &p, consistencyFields)
	if p.OldSize != oldSize || p.NewSize != newSize {
		t.Fatalf("asked for %d→%d, got %d→%d", oldSize, newSize, p.OldSize, p.NewSize)
	}
	return p
}

// noteChecker opens signed checkpoints with x/mod's note package and the
// log's public key, and parses their text as c2sp.org/tlog-checkpoint says.
// It remembers the notes it opened: the same bytes give the same answer.
type noteChecker struct {
	verifiers note.Verifiers
	origin    string
	opened    map[string]tlog.Tree
}

func newNoteChecker(t *testing.T, ts *testServer) *noteChecker {
	t.Helper()
	v, err := note.NewVerifier(ts.signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return &noteChecker{verifiers: note.VerifierList(v), origin: v.Name(), opened: map[string]tlog.Tree{}}
}

func (c *noteChecker) open(t *testing.T, b string) tlog.Tree {
	t.Helper()
	if tree, ok := c.opened[b]; ok {
		return tree
	}
	n, err := note.Open([]byte(b), c.verifiers)
	if err != nil {
		t.Fatalf("served checkpoint does not verify with x/mod and the log key: %v\n%s", err, b)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != c.origin || lines[3] != "" {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		t.Fatalf("checkpoint size %q", lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	tree := tlog.Tree{N: size, Hash: h}
	c.opened[b] = tree
	return tree
}

// checkServed opens a served checkpoint and requires that it is
// the tree of size with the reference root.
func (c *noteChecker) checkServed(t *testing.T, b string, size int64, root tlog.Hash) {
	t.Helper()
	if tree := c.open(t, b); tree.N != size || tree.Hash != root {
		t.Fatalf("served checkpoint is size %d root %x, want size %d root %x", tree.N, tree.Hash, size, root)
	}
}

// refTree is the reference the served proofs are checked against: x/mod's
// tree (oracle.Tree), with its roots memoized.
type refTree struct {
	oracle.Tree
	leaves []tlog.Hash
	roots  map[int64]tlog.Hash
}

func (r *refTree) add(t testing.TB, entry []byte) {
	if err := r.Tree.Add(entry); err != nil {
		t.Fatal(err)
	}
	r.leaves = append(r.leaves, tlog.RecordHash(entry))
}

// root is x/mod's tree hash of the first n entries.
func (r *refTree) root(t testing.TB, n int64) tlog.Hash {
	if h, ok := r.roots[n]; ok {
		return h
	}
	h, err := tlog.TreeHash(n, &r.Tree)
	if err != nil {
		t.Fatalf("reference root of size %d: %v", n, err)
	}
	if r.roots == nil {
		r.roots = map[int64]tlog.Hash{}
	}
	r.roots[n] = h
	return h
}

func xmodHashes(t testing.TB, hashes [][]byte) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(hashes))
	for i, h := range hashes {
		if len(h) != tlog.HashSize {
			t.Fatalf("proof hash %d is %d bytes", i, len(h))
		}
		copy(out[i][:], h)
	}
	return out
}

func fromXMod(hashes []tlog.Hash) [][]byte {
	out := make([][]byte, len(hashes))
	for i := range hashes {
		out[i] = hashes[i][:]
	}
	return out
}

// verifyInclusion runs both independent verifiers: transparency-dev/merkle
// and x/mod's tlog.CheckRecord.
func verifyInclusion(index, size int64, leaf tlog.Hash, hashes [][]byte, root tlog.Hash) (merkleErr, xmodErr error) {
	xp := make(tlog.RecordProof, len(hashes))
	for i, h := range hashes {
		copy(xp[i][:], h)
	}
	merkleErr = proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(size), leaf[:], hashes, root[:])
	xmodErr = tlog.CheckRecord(xp, size, root, index, leaf)
	return merkleErr, xmodErr
}

func verifyConsistency(oldSize, newSize int64, hashes [][]byte, oldRoot, newRoot tlog.Hash) (merkleErr, xmodErr error) {
	xp := make(tlog.TreeProof, len(hashes))
	for i, h := range hashes {
		copy(xp[i][:], h)
	}
	merkleErr = proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(oldSize), uint64(newSize), hashes, oldRoot[:], newRoot[:])
	xmodErr = tlog.CheckTree(xp, newSize, newRoot, oldSize, oldRoot)
	return merkleErr, xmodErr
}

// flipped returns hashes with one bit of hash i flipped.
func flipped(hashes [][]byte, i int) [][]byte {
	out := slices.Clone(hashes)
	out[i] = slices.Clone(out[i])
	out[i][i%tlog.HashSize] ^= 1
	return out
}

// checkInclusion checks a served inclusion proof of index at size: its
// leaf hash is the reference's, its hashes are the ones x/mod proves, both
// verifiers accept it against the reference root, and both reject it when
// one hash, the leaf, the index (±1) or the size (±1, against the root of
// that size, up to maxSize) is altered, or a hash is dropped or added.
func checkInclusion(t *testing.T, ref *refTree, p wireInclusion, maxSize int64) {
	t.Helper()
	index, size := int64(p.Index), int64(p.TreeSize)
	leaf := ref.leaves[index]
	if !bytes.Equal(p.LeafHash, leaf[:]) {
		t.Fatalf("index %d: served leaf hash %x, reference %x", index, p.LeafHash, leaf)
	}
	want, err := tlog.ProveRecord(size, index, &ref.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := xmodHashes(t, p.Hashes); !slices.Equal(got, want) {
		t.Fatalf("inclusion of %d at size %d: served %x, x/mod proves %x", index, size, got, want)
	}
	root := ref.root(t, size)
	if me, xe := verifyInclusion(index, size, leaf, p.Hashes, root); me != nil || xe != nil {
		t.Fatalf("inclusion of %d at size %d does not verify: merkle: %v; x/mod: %v", index, size, me, xe)
	}

	reject := func(what string, index, size int64, leaf tlog.Hash, hashes [][]byte, root tlog.Hash) {
		t.Helper()
		me, xe := verifyInclusion(index, size, leaf, hashes, root)
		if me == nil || xe == nil {
			t.Fatalf("inclusion of %d at size %d with %s still verifies: merkle: %v; x/mod: %v", p.Index, p.TreeSize, what, me, xe)
		}
	}
	for i := range p.Hashes {
		reject(fmt.Sprintf("hash %d altered", i), index, size, leaf, flipped(p.Hashes, i), root)
	}
	badLeaf := leaf
	badLeaf[7] ^= 0x80
	reject("the leaf altered", index, size, badLeaf, p.Hashes, root)
	for _, d := range []int64{-1, 1} {
		if i := index + d; i >= 0 {
			reject(fmt.Sprintf("index %d", i), i, size, leaf, p.Hashes, root)
		}
		if s := size + d; s >= 1 && s <= maxSize {
			reject(fmt.Sprintf("size %d", s), index, s, leaf, p.Hashes, ref.root(t, s))
		}
	}
	if len(p.Hashes) > 0 {
		reject("the last hash dropped", index, size, leaf, p.Hashes[:len(p.Hashes)-1], root)
	}
	reject("a hash added", index, size, leaf, append(slices.Clone(p.Hashes), leaf[:]), root)
}

// checkConsistency is checkInclusion for a consistency proof: x/mod's
// hashes, accepted by both verifiers, rejected with one hash altered, old
// or new size ±1 (against the roots of those sizes), or a hash dropped or
// added.
func checkConsistency(t *testing.T, ref *refTree, p wireConsistency, maxSize int64) {
	t.Helper()
	oldSize, newSize := int64(p.OldSize), int64(p.NewSize)
	want, err := tlog.ProveTree(newSize, oldSize, &ref.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := xmodHashes(t, p.Hashes); !slices.Equal(got, want) {
		t.Fatalf("consistency %d→%d: served %x, x/mod proves %x", oldSize, newSize, got, want)
	}
	oldRoot, newRoot := ref.root(t, oldSize), ref.root(t, newSize)
	if me, xe := verifyConsistency(oldSize, newSize, p.Hashes, oldRoot, newRoot); me != nil || xe != nil {
		t.Fatalf("consistency %d→%d does not verify: merkle: %v; x/mod: %v", oldSize, newSize, me, xe)
	}

	reject := func(what string, oldSize, newSize int64, hashes [][]byte) {
		t.Helper()
		me, xe := verifyConsistency(oldSize, newSize, hashes, ref.root(t, oldSize), ref.root(t, newSize))
		if me == nil || xe == nil {
			t.Fatalf("consistency %d→%d with %s still verifies: merkle: %v; x/mod: %v", p.OldSize, p.NewSize, what, me, xe)
		}
	}
	for i := range p.Hashes {
		reject(fmt.Sprintf("hash %d altered", i), oldSize, newSize, flipped(p.Hashes, i))
	}
	for _, d := range []int64{-1, 1} {
		if o := oldSize + d; o >= 1 && o <= newSize {
			reject(fmt.Sprintf("old size %d", o), o, newSize, p.Hashes)
		}
		if n := newSize + d; n >= oldSize && n >= 1 && n <= maxSize {
			reject(fmt.Sprintf("new size %d", n), oldSize, n, p.Hashes)
		}
	}
	if len(p.Hashes) > 0 {
		reject("the last hash dropped", oldSize, newSize, p.Hashes[:len(p.Hashes)-1])
	}
	reject("a hash added", oldSize, newSize, append(slices.Clone(p.Hashes), oldRoot[:]))
}

// With one entry per commit and every checkpoint kept, every tree size has
// a signed checkpoint. For every 1 ≤ a ≤ b ≤ 130: the inclusion proof of
// entry a-1 in the tree of size b and the consistency proof a→b are the
// ones x/mod proves, verify with transparency-dev/merkle and with x/mod
// against the root of the served signed checkpoint of size b (which opens
// with x/mod's note package and equals the reference root), and fail when
// altered.
func TestProofsAllPairs(t *testing.T) {
	const n = 130
	ts := newServer(t, func(c *log.Config) {
		c.CheckpointHistoryInterval = -1
		c.BatchMaxAge = -1
	})
	notes := newNoteChecker(t, ts)
	var (
		ref     refTree
		entries [][]byte
	)
	for i := range n {
		e := testEntry(i)
		if got := ts.add(t, e); got != uint64(i) {
			t.Fatalf("entry %d got index %d", i, got)
		}
		ref.add(t, e)
		// One entry per commit: a checkpoint for every size.
		tree, _ := ts.checkpoint(t)
		if want := ref.root(t, int64(i+1)); tree.N != int64(i+1) || tree.Hash != want {
			t.Fatalf("after entry %d the checkpoint is size %d root %x, want size %d root %x", i, tree.N, tree.Hash, i+1, want)
		}
		entries = append(entries, e)
		if want := oracle.MTH(entries); tree.Hash != want {
			t.Fatalf("size %d: x/mod root %x, RFC 6962 transcription %x", i+1, tree.Hash, want)
		}
	}

	start := time.Now()
	requests := 0
	for b := uint64(1); b <= n; b++ {
		for a := uint64(1); a <= b; a++ {
			ip := ts.inclusionAt(t, a-1, b)
			if ip.Checkpoint == nil {
				t.Fatalf("inclusion of %d at size %d: no checkpoint, but every size was kept", a-1, b)
			}
			notes.checkServed(t, *ip.Checkpoint, int64(b), ref.root(t, int64(b)))
			checkInclusion(t, &ref, ip, n)

			cp := ts.consistencyAt(t, a, b)
			if cp.Checkpoint == nil {
				t.Fatalf("consistency %d→%d: no checkpoint, but every size was kept", a, b)
			}
			notes.checkServed(t, *cp.Checkpoint, int64(b), ref.root(t, int64(b)))
			checkConsistency(t, &ref, cp, n)
			requests += 2
		}
	}
	t.Logf("%d proofs served and checked in %v", requests, time.Since(start))
}

// largeTreeSize is the tree of TestProofsLargeTree. A million entries
// build in about 10 s normally, but at about 200 µs per entry under the
// race detector (150,000 took 31 s), so the race run uses 65,537 entries —
// one past a full level-2 tile, so proofs still cross every tile level up
// to 2 — and keeps the package's -race run under about 90 s. The normal
// run covers the full million.
var largeTreeSize = func() int {
	if raceEnabled {
		return 256*256 + 1
	}
	return 1_000_000
}()

func largeEntry(i int) []byte { return fmt.Appendf(nil, "e%d", i) }

// A tree of a million small entries: ~200 random inclusion and consistency
// proofs (and the edges: first and last entry, sizes 1, powers of two and
// their neighbours, the latest size) are the ones x/mod proves, verify
// with both verifiers against x/mod's roots, fail when altered, and carry
// the signed checkpoint of their size whenever they carry one (always for
// the latest).
func TestProofsLargeTree(t *testing.T) {
	n := largeTreeSize
	ts := newServer(t, nil)
	notes := newNoteChecker(t, ts)

	start := time.Now()
	var ref refTree
	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = largeEntry(i)
		ref.add(t, entries[i])
	}
	t.Logf("reference tree of %d entries built in %v", n, time.Since(start))
	start = time.Now()
	logtest.AddAll(t, ts.log, entries)
	t.Logf("log of %d entries built in %v", n, time.Since(start))

	tree, _ := ts.checkpoint(t)
	if tree.N != int64(n) || tree.Hash != ref.root(t, int64(n)) {
		t.Fatalf("checkpoint size %d root %x, want size %d root %x", tree.N, tree.Hash, n, ref.root(t, int64(n)))
	}

	type pair struct{ a, b uint64 } // (index, size) or (old, new)
	N := uint64(n)
	edges := []pair{{1, 1}, {1, N}, {2, N}, {N - 1, N}, {N, N}}
	for p := uint64(1); p < N; p *= 2 {
		for _, s := range []uint64{p - 1, p, p + 1} {
			if s >= 1 && s <= N {
				edges = append(edges, pair{max(1, s/2), s}, pair{s, N})
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var pairs []pair
	for range 200 {
		b := 1 + rng.Uint64N(N)
		pairs = append(pairs, pair{1 + rng.Uint64N(b), b})
	}
	pairs = append(pairs, edges...)

	checkNote := func(cp *string, size uint64) {
		t.Helper()
		if cp == nil {
			if size == N {
				t.Fatalf("no checkpoint for the latest size %d", size)
			}
			return
		}
		notes.checkServed(t, *cp, int64(size), ref.root(t, int64(size)))
	}
	start = time.Now()
	withNote := 0
	for _, p := range pairs {
		// An inclusion proof of index a-1 (so that index 0 and N-1 occur)
		// at size b, and a consistency proof a→b.
		ip := ts.inclusionAt(t, p.a-1, p.b)
		checkNote(ip.Checkpoint, p.b)
		checkInclusion(t, &ref, ip, int64(n))
		cp := ts.consistencyAt(t, p.a, p.b)
		checkNote(cp.Checkpoint, p.b)
		checkConsistency(t, &ref, cp, int64(n))
		if cp.Checkpoint != nil {
			withNote++
		}
	}
	t.Logf("%d pairs served and checked in %v (%d with a checkpoint)", len(pairs), time.Since(start), withNote)

	// Without size (and new), the proofs are for the latest checkpoint, and
	// carry it byte for byte.
	_, latest := ts.checkpoint(t)
	for _, i := range []uint64{0, N / 3, N - 1} {
		var ip wireInclusion
		ts.getJSON(t, fmt.Sprintf("/api/v1/proofs/inclusion?index=%d", i), &ip, inclusionFields)
		if ip.Index != i || ip.TreeSize != N || ip.Checkpoint == nil || *ip.Checkpoint != string(latest) {
			t.Fatalf("inclusion of %d without size: index %d size %d checkpoint %v", i, ip.Index, ip.TreeSize, ip.Checkpoint)
		}
		checkInclusion(t, &ref, ip, int64(n))
		var cp wireConsistency
		ts.getJSON(t, fmt.Sprintf("/api/v1/proofs/consistency?old=%d", i+1), &cp, consistencyFields)
		if cp.OldSize != i+1 || cp.NewSize != N || cp.Checkpoint == nil || *cp.Checkpoint != string(latest) {
			t.Fatalf("consistency from %d without new: %d→%d checkpoint %v", i+1, cp.OldSize, cp.NewSize, cp.Checkpoint)
		}
		checkConsistency(t, &ref, cp, int64(n))
	}
}
