package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// expectError GETs path and requires status and a JSON error whose reason
// contains substr.
func (ts *testServer) expectError(t *testing.T, path string, status int, substr string) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, path, nil)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, status)
	}
	if msg := jsonError(t, resp, body); !strings.Contains(msg, substr) {
		t.Fatalf("GET %s: error %q does not say %q", path, msg, substr)
	}
}

// The inclusion proof is found by leaf hash in lowercase and uppercase
// hex, in escaped base64 and in base64 written raw into the query (where
// '+' arrives as a space). With a size, only entries in the tree of that
// size are found: the others are 404. Unknown leaf hashes, including
// SHA-256 of an entry without the RFC 6962 0x00 prefix, are 404.
func TestInclusionByLeafHash(t *testing.T) {
	ts := newServer(t, func(c *log.Config) {
		c.CheckpointHistoryInterval = -1
		c.BatchMaxAge = -1
	})
	notes := newNoteChecker(t, ts)
	var ref refTree
	var entries [][]byte
	plus, slash := 0, 0
	// Enough entries that some leaf hashes have '+' and '/' in base64.
	for i := 0; i < 20 || plus == 0 || slash == 0; i++ {
		e := testEntry(i)
		if got := ts.add(t, e); got != uint64(i) {
			t.Fatalf("entry %d got index %d", i, got)
		}
		ref.add(t, e)
		entries = append(entries, e)
		b64 := base64.StdEncoding.EncodeToString(ref.leaves[i][:])
		plus += strings.Count(b64, "+")
		slash += strings.Count(b64, "/")
	}
	n := uint64(len(entries))
	_, latest := ts.checkpoint(t)

	for i, e := range entries {
		leaf := sha256.Sum256(append([]byte{0}, e...))
		b64 := base64.StdEncoding.EncodeToString(leaf[:])
		forms := []struct{ name, query string }{
			{"hex", hex.EncodeToString(leaf[:])},
			{"uppercase hex", strings.ToUpper(hex.EncodeToString(leaf[:]))},
			{"escaped base64", url.QueryEscape(b64)},
			{"raw base64", b64},
		}
		for _, f := range forms {
			path := "/api/v1/proofs/inclusion?leaf_hash=" + f.query
			var p wireInclusion
			ts.getJSON(t, path, &p, inclusionFields)
			if p.Index != uint64(i) || p.TreeSize != n {
				t.Fatalf("%s %s of entry %d: found index %d at size %d", f.name, f.query, i, p.Index, p.TreeSize)
			}
			if p.Checkpoint == nil || *p.Checkpoint != string(latest) {
				t.Fatalf("%s: checkpoint %v, want the latest", path, p.Checkpoint)
			}
			checkInclusion(t, &ref, p, int64(n))

			// In the smallest tree that holds the entry, and (size first)
			// in the tree just too small.
			size := uint64(i) + 1
			ts.getJSON(t, fmt.Sprintf("%s&size=%d", path, size), &p, inclusionFields)
			if p.Index != uint64(i) || p.TreeSize != size {
				t.Fatalf("%s at size %d: index %d at size %d", path, size, p.Index, p.TreeSize)
			}
			if p.Checkpoint == nil {
				t.Fatalf("%s at size %d: no checkpoint, but every size was kept", path, size)
			}
			notes.checkServed(t, *p.Checkpoint, int64(size), ref.root(t, int64(size)))
			checkInclusion(t, &ref, p, int64(n))
			if i > 0 {
				ts.expectError(t, fmt.Sprintf("/api/v1/proofs/inclusion?size=%d&leaf_hash=%s", i, f.query), http.StatusNotFound, "not in the tree")
			}
		}
	}
	if plus == 0 || slash == 0 {
		t.Fatal("no leaf hash had '+' and '/' in base64: the raw forms were not exercised")
	}

	never := []byte("never logged")
	unknown := sha256.Sum256(append([]byte{0}, never...))
	noPrefix := sha256.Sum256(entries[0])
	for _, h := range [][32]byte{unknown, noPrefix} {
		for _, q := range []string{hex.EncodeToString(h[:]), url.QueryEscape(base64.StdEncoding.EncodeToString(h[:]))} {
			ts.expectError(t, "/api/v1/proofs/inclusion?leaf_hash="+q, http.StatusNotFound, "no entry")
			ts.expectError(t, "/api/v1/proofs/inclusion?size=1&leaf_hash="+q, http.StatusNotFound, "")
		}
	}
}

// GET /api/v1/entries/<i> returns the submitted bytes, the RFC 6962 leaf
// hash and an inclusion proof in the latest tree that verifies against the
// latest checkpoint, which it carries. GET …/tlog-proof is a text/plain
// c2sp.org/tlog-proof@v1 file that ParseTlogProof and VerifyTlogProof
// accept for the submitted bytes and the log's key (and reject for other
// bytes or another key), that an independent reading of the format
// verifies with x/mod, and whose checkpoint is the latest /checkpoint.
func TestEntryAndTlogProof(t *testing.T) {
	ts := newServer(t, func(c *log.Config) { c.BatchMaxAge = -1 })
	notes := newNoteChecker(t, ts)
	var ref refTree
	var entries [][]byte
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	largest := bytes.Repeat([]byte("0123456789abcdef"), log.MaxEntrySize/16+1)[:log.MaxEntrySize]
	for i := range 40 {
		e := testEntry(i)
		switch i {
		case 7:
			e = allBytes
		case 20:
			e = largest
		case 21:
			e = []byte{0}
		}
		if got := ts.add(t, e); got != uint64(i) {
			t.Fatalf("entry %d got index %d", i, got)
		}
		ref.add(t, e)
		entries = append(entries, e)
	}
	n := uint64(len(entries))
	tree, latest := ts.checkpoint(t)

	// Another key with the log's name: its signature must not count.
	skey, _, err := signer.GenerateKey(rand.Reader, ts.signer.Name())
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}

	for i, e := range entries {
		leaf := sha256.Sum256(append([]byte{0}, e...))
		var got wireEntry
		ts.getJSON(t, fmt.Sprintf("/api/v1/entries/%d", i), &got, entryFields)
		if got.Index != uint64(i) || !bytes.Equal(got.Entry, e) || !bytes.Equal(got.LeafHash, leaf[:]) {
			t.Fatalf("entry %d: index %d, entry %d bytes (equal: %v), leaf hash %x, want %x",
				i, got.Index, len(got.Entry), bytes.Equal(got.Entry, e), got.LeafHash, leaf)
		}
		var p wireInclusion
		decodeWire(t, got.InclusionProof, &p, inclusionFields)
		if p.Index != uint64(i) || p.TreeSize != n || !bytes.Equal(p.LeafHash, leaf[:]) {
			t.Fatalf("entry %d: inclusion proof of index %d at size %d leaf %x", i, p.Index, p.TreeSize, p.LeafHash)
		}
		if p.Checkpoint == nil || *p.Checkpoint != string(latest) {
			t.Fatalf("entry %d: inclusion proof checkpoint %v, want the latest", i, p.Checkpoint)
		}
		notes.checkServed(t, *p.Checkpoint, tree.N, tree.Hash)
		checkInclusion(t, &ref, p, int64(n))

		path := fmt.Sprintf("/api/v1/entries/%d/tlog-proof", i)
		resp, file := ts.do(t, http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, file)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("GET %s: Content-Type %q", path, ct)
		}
		parsed, err := proofs.ParseTlogProof(file)
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", path, err, file)
		}
		if parsed.Index != uint64(i) || !bytes.Equal(parsed.Checkpoint, latest) || len(parsed.Hashes) != len(p.Hashes) {
			t.Fatalf("%s: index %d, %d hashes, checkpoint\n%s", path, parsed.Index, len(parsed.Hashes), parsed.Checkpoint)
		}
		for j := range p.Hashes {
			if !bytes.Equal(parsed.Hashes[j], p.Hashes[j]) {
				t.Fatalf("%s: hash %d differs from the entry's inclusion proof", path, j)
			}
		}
		v, err := proofs.VerifyTlogProof(file, e, ts.signer.Verifier())
		if err != nil {
			t.Fatalf("%s does not verify: %v", path, err)
		}
		if v.Index != uint64(i) || v.Checkpoint.Size != n || v.Checkpoint.Hash != tree.Hash {
			t.Fatalf("%s verified as index %d in size %d root %x", path, v.Index, v.Checkpoint.Size, v.Checkpoint.Hash)
		}
		if _, err := proofs.VerifyTlogProof(file, entries[(i+1)%len(entries)], ts.signer.Verifier()); err == nil {
			t.Fatalf("%s verifies for entry %d too", path, (i+1)%len(entries))
		}
		if _, err := proofs.VerifyTlogProof(file, e, impostor.Verifier()); err == nil {
			t.Fatalf("%s verifies with another key of the same name", path)
		}
		checkTlogProofFile(t, notes, file, uint64(i), leaf, tree)
	}
	if _, after := ts.checkpoint(t); !bytes.Equal(after, latest) {
		t.Fatal("reading entries changed the checkpoint")
	}
}

// checkTlogProofFile reads a tlog-proof file as c2sp.org/tlog-proof@v1
// writes it, without the proofs package, and verifies it with x/mod.
func checkTlogProofFile(t *testing.T, notes *noteChecker, file []byte, index uint64, leaf tlog.Hash, tree tlog.Tree) {
	t.Helper()
	head, cp, ok := strings.Cut(string(file), "\n\n")
	if !ok {
		t.Fatalf("tlog-proof without an empty line:\n%s", file)
	}
	lines := strings.Split(head, "\n")
	if len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" || lines[1] != "index "+strconv.FormatUint(index, 10) {
		t.Fatalf("tlog-proof header %q", lines)
	}
	var hashes tlog.RecordProof
	for _, l := range lines[2:] {
		h, err := tlog.ParseHash(l)
		if err != nil || h.String() != l {
			t.Fatalf("tlog-proof hash line %q: %v", l, err)
		}
		hashes = append(hashes, h)
	}
	if got := notes.open(t, cp); got != tree {
		t.Fatalf("tlog-proof checkpoint is %+v, want %+v", got, tree)
	}
	if err := tlog.CheckRecord(hashes, tree.N, tree.Hash, int64(index), leaf); err != nil {
		t.Fatalf("tlog-proof of %d does not verify with x/mod: %v", index, err)
	}
}

// The checkpoint field is present for the latest size and for older sizes
// whose checkpoint the log kept, and absent (no field) for older sizes it
// did not keep. The clock is fake: with the default 1 s history interval,
// the first checkpoint is kept, then the first one at least 1 s after the
// last kept one.
func TestProofCheckpointField(t *testing.T) {
	var now atomic.Int64 // milliseconds
	ts := newServer(t, func(c *log.Config) {
		c.Now = func() time.Time { return time.UnixMilli(now.Load()) }
		c.BatchMaxAge = -1
	})
	notes := newNoteChecker(t, ts)
	var ref refTree
	// Size s is committed at steps[s-1]: sizes 1, 3 and 6 are kept.
	steps := []int64{1_000_000, 1_000_000, 1_001_000, 1_001_500, 1_001_999, 1_002_000, 1_002_100, 1_002_200}
	kept := map[uint64]bool{1: true, 3: true, 6: true}

	check := func(latest uint64) {
		t.Helper()
		for size := uint64(1); size <= latest; size++ {
			want := kept[size] || size == latest
			ip := ts.inclusionAt(t, size-1, size)
			cp := ts.consistencyAt(t, 1, size)
			for what, c := range map[string]*string{"inclusion": ip.Checkpoint, "consistency": cp.Checkpoint} {
				if (c != nil) != want {
					t.Fatalf("latest %d, %s proof at size %d: checkpoint present %v, want %v", latest, what, size, c != nil, want)
				}
				if c != nil {
					notes.checkServed(t, *c, int64(size), ref.root(t, int64(size)))
				}
			}
			checkInclusion(t, &ref, ip, int64(latest))
			checkConsistency(t, &ref, cp, int64(latest))
		}
		// Without a size: the latest checkpoint, as /checkpoint serves it.
		_, body := ts.checkpoint(t)
		var ip wireInclusion
		ts.getJSON(t, "/api/v1/proofs/inclusion?index=0", &ip, inclusionFields)
		var cp wireConsistency
		ts.getJSON(t, "/api/v1/proofs/consistency?old=1", &cp, consistencyFields)
		if ip.Checkpoint == nil || *ip.Checkpoint != string(body) || cp.Checkpoint == nil || *cp.Checkpoint != string(body) {
			t.Fatalf("latest %d: proofs without a size do not carry the latest checkpoint", latest)
		}
	}
	for i, at := range steps {
		now.Store(at)
		e := testEntry(i)
		if got := ts.add(t, e); got != uint64(i) {
			t.Fatalf("entry %d got index %d", i, got)
		}
		ref.add(t, e)
		if i >= 5 {
			// Sizes 6 (kept), 7 and 8 (not kept: once 8 is latest, 7 has
			// no checkpoint any more).
			check(uint64(i + 1))
		}
	}
}
