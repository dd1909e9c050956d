package client_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
)

// verifyOffline checks an Entry's offline proof with proofs.VerifyTlogProof
// and, independently, with x/mod: its note package for the checkpoint's
// signature and tlog.CheckRecord for the inclusion proof.
func verifyOffline(t *testing.T, tl *testLog, e *client.Entry) {
	t.Helper()
	file := e.TlogProof()
	vp, err := proofs.VerifyTlogProof(file, e.Data, tl.verifier)
	if err != nil {
		t.Fatalf("entry %d: TlogProof does not verify: %v\n%s", e.Index, err, file)
	}
	if vp.Index != e.Index || vp.Checkpoint.Size != e.Checkpoint.Size || vp.Checkpoint.Hash != e.Checkpoint.Hash {
		t.Fatalf("entry %d: TlogProof of %d in %d", e.Index, vp.Index, vp.Checkpoint.Size)
	}
	p, err := proofs.ParseTlogProof(file)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := note.NewVerifier(tl.vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(p.Checkpoint, note.VerifierList(nv))
	if err != nil {
		t.Fatalf("entry %d: the checkpoint does not verify with x/mod: %v", e.Index, err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || uint64(size) != e.Checkpoint.Size {
		t.Fatalf("x/mod checkpoint size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		t.Fatalf("x/mod checkpoint root %q", lines[2])
	}
	var rp tlog.RecordProof
	for _, h := range p.Hashes {
		rp = append(rp, tlog.Hash(h))
	}
	if err := tlog.CheckRecord(rp, size, tlog.Hash(root), int64(e.Index), tlog.RecordHash(e.Data)); err != nil {
		t.Fatalf("entry %d: x/mod CheckRecord: %v", e.Index, err)
	}
}

func TestEntryAndProve(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	var raw [][]byte
	for i := range 20 {
		raw = append(raw, rawEntry("e", i))
	}
	ref := addRaw(t, c, raw)
	rec := record("entry", 0)
	dr, err := c.LogDecision(ctx, rec, client.SubmitOptions{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	ref[dr.Index] = entryOf(t, rec)

	for i, want := range ref {
		e, err := c.Entry(ctx, i)
		if err != nil {
			t.Fatalf("Entry(%d): %v", i, err)
		}
		if e.Index != i || !bytes.Equal(e.Data, want) || e.LeafHash != proofs.HashLeaf(want) || !e.Verified {
			t.Fatalf("Entry(%d): %+v", i, e)
		}
		if i == dr.Index {
			if e.Record == nil {
				t.Fatalf("Entry(%d): no record for a decision", i)
			}
			var got, exp any
			json.Unmarshal(e.Record, &got)
			json.Unmarshal(want, &exp)
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("Entry(%d).Record %s, want %s", i, e.Record, want)
			}
		} else if e.Record != nil {
			t.Fatalf("Entry(%d): a raw entry with a record %s", i, e.Record)
		}
		verifyOffline(t, tl, e)

		pe, err := c.Prove(ctx, want)
		if err != nil {
			t.Fatalf("Prove(entry %d): %v", i, err)
		}
		if pe.Index != i || !bytes.Equal(pe.Data, want) || !pe.Verified {
			t.Fatalf("Prove(entry %d): %+v", i, pe)
		}
		verifyOffline(t, tl, pe)

		pi, err := c.ProveIndex(ctx, i)
		if err != nil {
			t.Fatalf("ProveIndex(%d): %v", i, err)
		}
		if pi.Index != i || !bytes.Equal(pi.Data, want) || !pi.Verified || !bytes.Equal(pi.TlogProof(), pe.TlogProof()) {
			t.Fatalf("ProveIndex(%d): %+v", i, pi)
		}
	}

	// Not in the log.
	var se *client.StatusError
	if _, err := c.Prove(ctx, []byte("never logged")); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("Prove of an entry not logged: %v", err)
	}
	if _, err := c.Entry(ctx, 1000); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("Entry beyond the tree: %v", err)
	}
	if _, err := c.ProveIndex(ctx, 1000); err == nil {
		t.Fatal("ProveIndex beyond the tree succeeded")
	}

	// Without a key: proofs are still checked against the checkpoint they
	// come with, but nothing is Verified.
	nokey, err := client.New(tl.URL())
	if err != nil {
		t.Fatal(err)
	}
	e, err := nokey.Entry(ctx, 3)
	if err != nil || e.Verified || !bytes.Equal(e.Data, ref[3]) {
		t.Fatalf("Entry without a key: %+v %v", e, err)
	}
	if pe, err := nokey.Prove(ctx, ref[4]); err != nil || pe.Verified || pe.Index != 4 {
		t.Fatalf("Prove without a key: %+v %v", pe, err)
	}
	if rs, err := nokey.LogDecisions(ctx, records("nokey", 0, 2), client.SubmitOptions{}); err != nil || !rs[0].Proven || rs[0].Verified {
		t.Fatalf("full receipts without a key: %+v %v", rs, err)
	}
	for _, err := range nokey.Entries(ctx, 0) {
		if !errors.Is(err, client.ErrNoLogKey) {
			t.Fatalf("Entries without a key: %v", err)
		}
	}
}

// Tampered entries and proofs are caught, with and without a key.
func TestEntryTampering(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	var raw [][]byte
	for i := range 10 {
		raw = append(raw, rawEntry("et", i))
	}
	ref := addRaw(t, tl.client(t, tl.URL()), raw)
	other := otherSigner(t)

	flip := func(s string) string {
		b, _ := base64.StdEncoding.DecodeString(s)
		b[0] ^= 1
		return b64(b)
	}
	editJSON := func(edit func(m map[string]any)) func(path string, b []byte) []byte {
		return func(path string, b []byte) []byte {
			if !strings.HasPrefix(path, "/api/v1/") || strings.HasSuffix(path, "/tlog-proof") {
				return b
			}
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				return b
			}
			edit(m)
			out, _ := json.Marshal(m)
			return out
		}
	}
	editProofFile := func(edit func(lines []string)) func(path string, b []byte) []byte {
		return func(path string, b []byte) []byte {
			if !strings.HasSuffix(path, "/tlog-proof") {
				return b
			}
			lines := strings.Split(string(b), "\n")
			edit(lines)
			return []byte(strings.Join(lines, "\n"))
		}
	}
	cases := []struct {
		name   string
		call   string // "entry", "prove", "proveindex"
		tamper func(path string, b []byte) []byte
		// keyOnly: only a client with the key can tell.
		keyOnly bool
	}{
		{"entry bytes", "entry", editJSON(func(m map[string]any) { m["entry"] = b64([]byte("forged entry")) }), false},
		{"proof hash", "entry", editJSON(func(m map[string]any) {
			p := m["inclusion_proof"].(map[string]any)
			hs := p["hashes"].([]any)
			hs[0] = flip(hs[0].(string))
		}), false},
		{"proof dropped", "entry", editJSON(func(m map[string]any) { m["inclusion_proof"].(map[string]any)["hashes"] = []any{} }), false},
		{"other index", "entry", editJSON(func(m map[string]any) { m["index"] = m["index"].(float64) + 1 }), false},
		{"checkpoint of another key", "entry", editJSON(func(m map[string]any) {
			p := m["inclusion_proof"].(map[string]any)
			p["checkpoint"] = string(resign(t, []byte(p["checkpoint"].(string)), other))
		}), true},
		{"prove: leaf hash of another entry", "prove", editJSON(func(m map[string]any) {
			if _, ok := m["leaf_hash"]; ok && m["tree_size"] != nil {
				m["leaf_hash"] = leafB64([]byte("x"))
			}
		}), false},
		{"tlog-proof hash", "prove", editProofFile(func(lines []string) {
			// index line, then hashes, an empty line, the checkpoint.
			lines[2] = flip(lines[2])
		}), false},
		{"proveindex: entry bytes", "proveindex", editJSON(func(m map[string]any) { m["entry"] = b64([]byte("forged entry")) }), false},
		{"proveindex: other index", "proveindex", editJSON(func(m map[string]any) { m["index"] = m["index"].(float64) + 1 }), false},
		{"tlog-proof index", "proveindex", editProofFile(func(lines []string) { lines[1] = "index 0" }), false},
		{"tlog-proof checkpoint of another key", "proveindex", func(path string, b []byte) []byte {
			if !strings.HasSuffix(path, "/tlog-proof") {
				return b
			}
			p, err := proofs.ParseTlogProof(b)
			if err != nil {
				return b
			}
			p.Checkpoint = resign(t, p.Checkpoint, other)
			return p.Format()
		}, true},
	}
	for _, tc := range cases {
		for _, withKey := range []bool{true, false} {
			if tc.keyOnly && !withKey {
				continue
			}
			t.Run(fmt.Sprintf("%s/key=%v", tc.name, withKey), func(t *testing.T) {
				p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
					p.forward(w, r, body, tc.tamper)
				})
				var c *client.Client
				if withKey {
					c = tl.client(t, p.URL)
				} else {
					var err error
					if c, err = client.New(p.URL); err != nil {
						t.Fatal(err)
					}
				}
				var (
					e   *client.Entry
					err error
				)
				switch tc.call {
				case "entry":
					e, err = c.Entry(ctx, 5)
				case "prove":
					e, err = c.Prove(ctx, ref[5])
				case "proveindex":
					e, err = c.ProveIndex(ctx, 5)
				}
				if err == nil {
					t.Fatalf("tampered answer accepted: %+v", e)
				}
				notInconsistent(t, err)
			})
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	rs, err := c.LogDecisions(ctx, records("search-sys", 0, 25), client.SubmitOptions{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogDecisions(ctx, records("other-sys", 0, 5), client.SubmitOptions{Compact: true}); err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, r := range rs {
		want = append(want, r.Index)
	}
	slices.Sort(want)
	slices.Reverse(want) // newest first

	q := client.Query{System: "search-sys", Limit: 10}
	var got []uint64
	for i, err := range c.Search(ctx, q) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Search: %v\nwant %v", got, want)
	}

	// Page by page: 10, 10, 5, then no cursor.
	var pages [][]uint64
	cursor := ""
	for range 10 {
		page, next, err := c.SearchPage(ctx, q, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(pages) != 3 || len(pages[0]) != 10 || len(pages[1]) != 10 || len(pages[2]) != 5 {
		t.Fatalf("pages %v", pages)
	}
	if !slices.Equal(slices.Concat(pages...), want) {
		t.Fatalf("pages %v, want %v", pages, want)
	}
	// Each hit proves.
	e, err := c.Entry(ctx, pages[1][0])
	if err != nil || !e.Verified {
		t.Fatalf("Entry of a hit: %v", err)
	}
	// Stopping early.
	n := 0
	for range c.Search(ctx, q) {
		n++
		if n == 12 {
			break
		}
	}
	// By model and kind; the default page size.
	got = got[:0]
	for i, err := range c.Search(ctx, client.Query{Model: "acme/chat", Kind: "decision/v1"}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	if len(got) != 30 {
		t.Fatalf("search by model: %d hits, want 30", len(got))
	}
	// Nothing found.
	for i, err := range c.Search(ctx, client.Query{System: "nobody"}) {
		t.Fatalf("search for nobody: %d %v", i, err)
	}

	// Bad queries.
	for _, bad := range []client.Query{{}, {System: "a", Model: "b"}} {
		if _, _, err := c.SearchPage(ctx, bad, ""); err == nil {
			t.Errorf("SearchPage(%+v) succeeded", bad)
		}
		for _, err := range c.Search(ctx, bad) {
			if err == nil {
				t.Errorf("Search(%+v) yielded no error", bad)
			}
		}
	}
	var se *client.StatusError
	if _, _, err := c.SearchPage(ctx, client.Query{Digest: "nope"}, ""); !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("a bad digest: %v", err)
	}
}
