package client_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlogai/tlog/client"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A client with a state file keeps the log's signed checkpoint in it; the
// next run starts from it, proves the grown log consistent with it and
// replaces it.
func TestVerifiedState(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	plain := tl.client(t, tl.URL())
	addRaw(t, plain, [][]byte{rawEntry("s", 0), rawEntry("s", 1), rawEntry("s", 2)})

	state := filepath.Join(t.TempDir(), "state")
	c1 := tl.client(t, tl.URL(), client.WithStateFile(state))
	if _, _, ok := c1.Verified(); ok {
		t.Fatal("Verified before any checkpoint was verified")
	}
	cp, err := c1.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 3 {
		t.Fatalf("Latest: size %d, want 3", cp.Size)
	}
	note3 := tl.checkpoint()
	if got := readFile(t, state); !bytes.Equal(got, note3) {
		t.Fatalf("state file\n%s\nwant the log's checkpoint\n%s", got, note3)
	}
	if kcp, knote, ok := c1.Verified(); !ok || kcp.Size != 3 || !bytes.Equal(knote, note3) {
		t.Fatalf("Verified: %v %d %q", ok, kcp.Size, knote)
	}

	// The log grows; a second run loads the state and proves consistency
	// 3 → 8 (counted at a proxy).
	addRaw(t, plain, [][]byte{rawEntry("s", 3), rawEntry("s", 4), rawEntry("s", 5), rawEntry("s", 6), rawEntry("s", 7)})
	p := newProxy(t, tl.URL(), nil)
	c2 := tl.client(t, p.URL, client.WithStateFile(state))
	if kcp, knote, ok := c2.Verified(); !ok || kcp.Size != 3 || !bytes.Equal(knote, note3) {
		t.Fatalf("second run: Verified %v %d, want the state file's checkpoint", ok, kcp.Size)
	}
	cp, err = c2.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	note8 := tl.checkpoint()
	if cp.Size != 8 {
		t.Fatalf("Latest: size %d, want 8", cp.Size)
	}
	if got := readFile(t, state); !bytes.Equal(got, note8) {
		t.Fatalf("state file after the second run\n%s\nwant\n%s", got, note8)
	}
	proofs := p.requests(http.MethodGet, "/api/v1/proofs/consistency")
	if len(proofs) != 1 || proofs[0].Query != "new=8&old=3" {
		t.Fatalf("consistency proofs asked: %+v, want one 3 → 8", proofs)
	}
	if _, err := os.Stat(state + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary state file left behind: %v", err)
	}

	// The same checkpoint again: nothing to prove, nothing written.
	if _, err := c2.Latest(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.count(http.MethodGet, "/api/v1/proofs/consistency"); n != 1 {
		t.Fatalf("%d consistency proofs after an unchanged checkpoint, want still 1", n)
	}

	// A smaller tree that is consistent (an older checkpoint, e.g. a stale
	// cache in front of the log) verifies and does not shrink the state.
	old := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/checkpoint" {
			w.Write(note3)
			return
		}
		p.forward(w, r, body, nil)
	})
	c3 := tl.client(t, old.URL, client.WithStateFile(state))
	cp, err = c3.Latest(ctx)
	if err != nil {
		t.Fatalf("Latest of an older consistent checkpoint: %v", err)
	}
	if cp.Size != 3 {
		t.Fatalf("Latest: size %d, want 3", cp.Size)
	}
	if got := readFile(t, state); !bytes.Equal(got, note8) {
		t.Fatal("an older checkpoint shrank the state file")
	}
	if kcp, _, _ := c3.Verified(); kcp.Size != 8 {
		t.Fatalf("kept size %d after an older checkpoint, want 8", kcp.Size)
	}
	if n := old.count(http.MethodGet, "/api/v1/proofs/consistency"); n != 1 {
		t.Fatalf("%d consistency proofs for the older checkpoint, want 1 (3 → 8)", n)
	}
	// VerifyCheckpoint of the old note directly, on the first client.
	if cp, err := c2.VerifyCheckpoint(ctx, note3); err != nil || cp.Size != 3 {
		t.Fatalf("VerifyCheckpoint(older note): %d %v", cp.Size, err)
	}
	if kcp, _, _ := c2.Verified(); kcp.Size != 8 {
		t.Fatalf("kept size %d, want 8", kcp.Size)
	}

	// Consistent checks a note kept elsewhere against the latest.
	cur, curNote, err := c2.Consistent(ctx, note3)
	if err != nil || cur.Size != 8 || !bytes.Equal(curNote, note8) {
		t.Fatalf("Consistent(note3): %d %v", cur.Size, err)
	}
}

// Two logs signed with the same key but different histories: a client
// that kept a checkpoint of one catches the other, with both signed
// checkpoints as evidence, and keeps its state.
func TestForkedLog(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	skey, _ := newKey(t)
	a := newTestLogWithKey(t, skey, nil)
	b := newTestLogWithKey(t, skey, nil)
	ca, cb := a.client(t, a.URL()), b.client(t, b.URL())
	for _, e := range []string{"a", "b", "c"} {
		if _, err := ca.Add(ctx, []byte("entry "+e), client.NoRetry); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []string{"a", "x", "y"} {
		if _, err := cb.Add(ctx, []byte("entry "+e), client.NoRetry); err != nil {
			t.Fatal(err)
		}
	}

	state := filepath.Join(t.TempDir(), "state")
	if _, err := a.client(t, a.URL(), client.WithStateFile(state)).Latest(ctx); err != nil {
		t.Fatal(err)
	}
	kept := readFile(t, state)
	if !bytes.Equal(kept, a.checkpoint()) {
		t.Fatal("state file is not A's checkpoint")
	}

	checkFork := func(t *testing.T, err error, seen []byte, reason string) {
		t.Helper()
		if !errors.Is(err, client.ErrInconsistent) {
			t.Fatalf("error %v, want ErrInconsistent", err)
		}
		var inc *client.InconsistentError
		if !errors.As(err, &inc) {
			t.Fatalf("error %T is not an *InconsistentError", err)
		}
		if !bytes.Equal(inc.Kept, kept) {
			t.Fatalf("Kept\n%s\nwant A's checkpoint\n%s", inc.Kept, kept)
		}
		if !bytes.Equal(inc.Seen, seen) {
			t.Fatalf("Seen\n%s\nwant B's checkpoint\n%s", inc.Seen, seen)
		}
		if !strings.Contains(inc.Reason, reason) || !strings.Contains(err.Error(), inc.Reason) {
			t.Fatalf("reason %q (error %q), want one saying %q", inc.Reason, err, reason)
		}
		if got := readFile(t, state); !bytes.Equal(got, kept) {
			t.Fatalf("the state file changed:\n%s", got)
		}
	}

	// Same size, another root.
	t.Run("same size", func(t *testing.T) {
		c := b.client(t, b.URL(), client.WithStateFile(state))
		_, err := c.Latest(ctx)
		checkFork(t, err, b.checkpoint(), "two roots for tree size 3")
		if _, note, _ := c.Verified(); !bytes.Equal(note, kept) {
			t.Fatal("the kept checkpoint changed")
		}
		// Every later check still compares with A's checkpoint.
		_, err = c.Latest(ctx)
		checkFork(t, err, b.checkpoint(), "two roots")
	})

	// B grows: its tree of 4 does not extend A's tree of 3.
	if _, err := cb.Add(ctx, []byte("entry z"), client.NoRetry); err != nil {
		t.Fatal(err)
	}
	t.Run("larger", func(t *testing.T) {
		c := b.client(t, b.URL(), client.WithStateFile(state))
		_, err := c.Latest(ctx)
		checkFork(t, err, b.checkpoint(), "does not extend tree 3")
		// Any call that verifies a checkpoint of B fails the same way.
		_, err = c.Entry(ctx, 0)
		if !errors.Is(err, client.ErrInconsistent) {
			t.Fatalf("Entry on the forked log: %v, want ErrInconsistent", err)
		}
		for _, err := range c.Entries(ctx, 0) {
			if !errors.Is(err, client.ErrInconsistent) {
				t.Fatalf("Entries on the forked log: %v, want ErrInconsistent", err)
			}
			break
		}
		if got := readFile(t, state); !bytes.Equal(got, kept) {
			t.Fatal("the state file changed")
		}
	})

	// Consistent with a note kept elsewhere, by a client without state.
	t.Run("Consistent", func(t *testing.T) {
		c := b.client(t, b.URL())
		_, _, err := c.Consistent(ctx, kept)
		checkFork(t, err, b.checkpoint(), "does not extend")
		if _, _, ok := c.Verified(); ok {
			t.Fatal("Consistent kept a checkpoint that failed")
		}
	})

	// A checkpoint the log's key signed for the kept size with another
	// root (a forgery made with the key) is evidence too.
	t.Run("forged", func(t *testing.T) {
		c := a.client(t, a.URL(), client.WithStateFile(state))
		forged := forge(t, a.signer, 3, "forged")
		_, err := c.VerifyCheckpoint(ctx, forged)
		checkFork(t, err, forged, "two roots")
		// A signed empty tree whose root is not the empty root.
		_, err = c.VerifyCheckpoint(ctx, forge(t, a.signer, 0, "empty"))
		if !errors.Is(err, client.ErrInconsistent) {
			t.Fatalf("signed empty tree with a root: %v, want ErrInconsistent", err)
		}
	})
}

func TestStateFileErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	if _, err := tl.client(t, tl.URL()).Add(ctx, []byte("one"), client.NoRetry); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// A state file signed by another key: New fails.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, forge(t, otherSigner(t), 1, "x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(tl.URL(), client.WithLogKey(tl.verifier), client.WithStateFile(other)); err == nil {
		t.Fatal("New with a state file signed by another key succeeded")
	}
	// The log's checkpoint re-signed by another key (same text).
	resigned := filepath.Join(dir, "resigned")
	if err := os.WriteFile(resigned, resign(t, tl.checkpoint(), otherSigner(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(tl.URL(), client.WithLogKey(tl.verifier), client.WithStateFile(resigned)); err == nil {
		t.Fatal("New with a re-signed state file succeeded")
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a note\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(tl.URL(), client.WithLogKey(tl.verifier), client.WithStateFile(garbage)); err == nil {
		t.Fatal("New with a garbage state file succeeded")
	}
	// A state file needs a key.
	if _, err := client.New(tl.URL(), client.WithStateFile(filepath.Join(dir, "new"))); err == nil {
		t.Fatal("WithStateFile without a key succeeded")
	}
	// A missing file is an empty state.
	missing := filepath.Join(dir, "missing")
	c := tl.client(t, tl.URL(), client.WithStateFile(missing))
	if _, _, ok := c.Verified(); ok {
		t.Fatal("a missing state file gave a kept checkpoint")
	}
	// A checkpoint signed by another key is refused, and is not evidence.
	_, err := c.VerifyCheckpoint(ctx, resign(t, tl.checkpoint(), otherSigner(t)))
	notInconsistent(t, err)
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("a refused checkpoint was saved")
	}

	// Bad URLs and options.
	for _, u := range []string{"", "ftp://example.com", "http://", "://x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	if _, err := client.New("127.0.0.1:1", client.WithLogKey(nil)); err == nil {
		t.Error("WithLogKey(nil) succeeded")
	}
	if _, err := client.New("127.0.0.1:1", client.WithHTTPClient(nil)); err == nil {
		t.Error("WithHTTPClient(nil) succeeded")
	}
	if _, err := client.New("127.0.0.1:1", client.WithPolicy(nil)); err == nil {
		t.Error("WithPolicy(nil) succeeded")
	}
	c, err = client.New("127.0.0.1:8080/prefix/?q=1#f")
	if err != nil || c.URL() != "http://127.0.0.1:8080/prefix" {
		t.Errorf("New(bare host with path): %v %v", c, err)
	}
}

// Failing to get a checkpoint or a proof is not evidence: a plain error,
// and the state stays as it was.
func TestCouldNotCheck(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	plain := tl.client(t, tl.URL())
	addRaw(t, plain, [][]byte{rawEntry("c", 0), rawEntry("c", 1)})
	state := filepath.Join(t.TempDir(), "state")
	if _, err := tl.client(t, tl.URL(), client.WithStateFile(state)).Latest(ctx); err != nil {
		t.Fatal(err)
	}
	kept := readFile(t, state)
	addRaw(t, plain, [][]byte{rawEntry("c", 2)})

	// 500 for the consistency proof.
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/api/v1/proofs/consistency" {
			apiError(w, http.StatusInternalServerError, "", "internal error")
			return
		}
		p.forward(w, r, body, nil)
	})
	c := tl.client(t, p.URL, client.WithStateFile(state))
	_, err := c.Latest(ctx)
	notInconsistent(t, err)
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError {
		t.Fatalf("error %v, want a *StatusError 500", err)
	}
	// A consistency proof for other sizes.
	p2 := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/api/v1/proofs/consistency" {
			r.URL.RawQuery = "old=1&new=3"
		}
		p.forward(w, r, body, nil)
	})
	_, err = tl.client(t, p2.URL, client.WithStateFile(state)).Latest(ctx)
	notInconsistent(t, err)
	// 500 for the checkpoint.
	p3 := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		http.Error(w, "oops", http.StatusInternalServerError)
	})
	_, err = tl.client(t, p3.URL, client.WithStateFile(state)).Latest(ctx)
	notInconsistent(t, err)
	// A checkpoint that is not a note.
	p4 := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		w.Write([]byte("garbage\n"))
	})
	_, err = tl.client(t, p4.URL, client.WithStateFile(state)).Latest(ctx)
	notInconsistent(t, err)
	// The server is down.
	down := newProxy(t, tl.URL(), nil)
	downURL := down.URL
	down.Close()
	_, err = tl.client(t, downURL, client.WithStateFile(state)).Latest(ctx)
	notInconsistent(t, err)

	if got := readFile(t, state); !bytes.Equal(got, kept) {
		t.Fatal("a failed check changed the state file")
	}
	// And the real log still verifies from the same state.
	if cp, err := tl.client(t, tl.URL(), client.WithStateFile(state)).Latest(ctx); err != nil || cp.Size != 3 {
		t.Fatalf("Latest after the failures: %d %v", cp.Size, err)
	}
	// No key: Latest, Consistent and VerifyCheckpoint need one.
	nokey, err := client.New(tl.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nokey.Latest(ctx); !errors.Is(err, client.ErrNoLogKey) {
		t.Fatalf("Latest without a key: %v", err)
	}
	if _, _, err := nokey.Consistent(ctx, kept); !errors.Is(err, client.ErrNoLogKey) {
		t.Fatalf("Consistent without a key: %v", err)
	}
	if _, err := nokey.VerifyCheckpoint(ctx, kept); !errors.Is(err, client.ErrNoLogKey) {
		t.Fatalf("VerifyCheckpoint without a key: %v", err)
	}
}

// TestSpoiledConsistencyProof: a consistency proof spoiled on the way
// (not the log's history) is not taken for a fork: the client rebuilds it
// from the log's tiles, authenticated to the signed root, and goes on.
func TestSpoiledConsistencyProof(t *testing.T) {
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	plain := tl.client(t, tl.URL())
	var es [][]byte
	for i := range 300 {
		es = append(es, rawEntry("spoiled", i))
	}
	addRaw(t, plain, es[:100])
	state := filepath.Join(t.TempDir(), "state")
	if _, err := tl.client(t, tl.URL(), client.WithStateFile(state)).Latest(ctx); err != nil {
		t.Fatal(err)
	}
	addRaw(t, plain, es[100:])
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/api/v1/proofs/consistency" {
			p.forward(w, r, body, nil)
			return
		}
		p.forward(w, r, body, func(_ string, b []byte) []byte {
			var cp map[string]any
			if err := json.Unmarshal(b, &cp); err != nil {
				t.Errorf("consistency answer: %v", err)
				return b
			}
			hashes := cp["hashes"].([]any)
			h, _ := base64.StdEncoding.DecodeString(hashes[0].(string))
			h[0] ^= 1
			hashes[0] = base64.StdEncoding.EncodeToString(h)
			out, _ := json.Marshal(cp)
			return out
		})
	})
	cp, err := tl.client(t, p.URL, client.WithStateFile(state)).Latest(ctx)
	if err != nil || cp.Size != 300 {
		t.Fatalf("Latest with a spoiled consistency proof = size %d, %v; want 300 (settled from the tiles)", cp.Size, err)
	}
	if p.count(http.MethodGet, "/api/v1/proofs/consistency") != 1 || p.count(http.MethodGet, "/tile/0/000") != 1 {
		t.Errorf("requests: %d consistency proofs, %d /tile/0/000; want 1 and 1 (the proof rebuilt from tiles)",
			p.count(http.MethodGet, "/api/v1/proofs/consistency"), p.count(http.MethodGet, "/tile/0/000"))
	}
	if got := readFile(t, state); !bytes.Contains(got, []byte("\n300\n")) {
		t.Errorf("state file after the settled check:\n%s", got)
	}
}
