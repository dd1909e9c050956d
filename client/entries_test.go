package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
)

// collect runs an Entries iteration to its end.
func collect(t *testing.T, seq func(func(client.LoggedEntry, error) bool)) ([]client.LoggedEntry, error) {
	t.Helper()
	var out []client.LoggedEntry
	for e, err := range seq {
		if err != nil {
			if e.Data != nil || e.Index != 0 {
				t.Fatalf("error %v yielded with entry %d", err, e.Index)
			}
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// checkEntries requires got to be exactly ref[from:size].
func checkEntries(t *testing.T, got []client.LoggedEntry, ref map[uint64][]byte, from, size uint64) {
	t.Helper()
	if uint64(len(got)) != size-from {
		t.Fatalf("from %d: %d entries, want %d", from, len(got), size-from)
	}
	for i, e := range got {
		if e.Index != from+uint64(i) || !bytes.Equal(e.Data, ref[e.Index]) {
			t.Fatalf("from %d: entry %d is index %d %q, want index %d %q", from, i, e.Index, e.Data, from+uint64(i), ref[from+uint64(i)])
		}
	}
}

func TestEntries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	var raw [][]byte
	for i := range 700 {
		raw = append(raw, rawEntry("it", i))
	}
	ref := addRaw(t, c, raw)
	const size = 700

	for _, from := range []uint64{0, 1, 255, 256, 300, 511, 512, 699, size} {
		got, err := collect(t, c.Entries(ctx, from))
		if err != nil {
			t.Fatalf("Entries(%d): %v", from, err)
		}
		checkEntries(t, got, ref, from, size)
	}
	if _, err := collect(t, c.Entries(ctx, size+1)); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Fatalf("Entries beyond the tree: %v", err)
	}
	// Entries verified the latest checkpoint.
	if kcp, _, _ := c.Verified(); kcp.Size != size {
		t.Fatalf("kept size %d", kcp.Size)
	}
	// Stopping early ends the iteration.
	n := 0
	for _, err := range c.Entries(ctx, 10) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// A canceled context ends it with an error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := collect(t, c.Entries(cctx, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Entries with a canceled context: %v", err)
	}
	// EntriesIn an older verified tree, also past what it holds.
	note := tl.checkpoint()
	addRaw(t, c, [][]byte{rawEntry("it", 700), rawEntry("it", 701)})
	cp, err := c.VerifyCheckpoint(ctx, note)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, c.EntriesIn(ctx, cp, 690))
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, got, ref, 690, size)
	if _, err := collect(t, c.EntriesIn(ctx, cp, size+1)); err == nil {
		t.Fatal("EntriesIn beyond the tree succeeded")
	}
}

// A server whose entry bundle does not match the signed tree is caught
// before anything of that bundle is yielded.
func TestEntriesTampered(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	var raw [][]byte
	for i := range 700 {
		raw = append(raw, rawEntry("tt", i))
	}
	ref := addRaw(t, tl.client(t, tl.URL()), raw)

	for _, tc := range []struct {
		name   string
		bundle string // path tampered
		at     int    // offset of the byte flipped in the bundle
		from   uint64
		// the first index that must not be yielded, and the error
		stop uint64
		want error
	}{
		{"full bundle, entry data", "/tile/entries/001", 2, 0, 256, proofs.ErrTileMismatch},
		{"full bundle, last byte", "/tile/entries/000", -1, 10, 0, proofs.ErrTileMismatch},
		{"partial bundle", "/tile/entries/002.p/188", 5, 300, 512, proofs.ErrTileMismatch},
		{"bundle length prefix", "/tile/entries/001", 0, 0, 256, proofs.ErrBadBundle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
				p.forward(w, r, body, func(path string, b []byte) []byte {
					if path == tc.bundle {
						at := tc.at
						if at < 0 {
							at += len(b)
						}
						b[at] ^= 0x20
					}
					return b
				})
			})
			c := tl.client(t, p.URL)
			got, err := collect(t, c.Entries(ctx, tc.from))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			notInconsistent(t, err)
			checkEntries(t, got, ref, tc.from, max(tc.from, tc.stop))
		})
	}
	// A tampered hash tile is caught as well.
	p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		p.forward(w, r, body, func(path string, b []byte) []byte {
			if path == "/tile/1/000.p/2" {
				b[7] ^= 1
			}
			return b
		})
	})
	if _, err := collect(t, tl.client(t, p.URL).Entries(ctx, 0)); !errors.Is(err, proofs.ErrTileMismatch) {
		t.Fatalf("tampered level-1 tile: %v, want ErrTileMismatch", err)
	}
}

// A server that no longer serves partial bundles: they are cut from the
// full bundle once it exists.
func TestEntriesPartialDropped(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	var raw [][]byte
	for i := range 700 {
		raw = append(raw, rawEntry("pd", i))
	}
	c := tl.client(t, tl.URL())
	ref := addRaw(t, c, raw)
	note700 := tl.checkpoint()
	raw = raw[:0]
	for i := 700; i < 800; i++ {
		raw = append(raw, rawEntry("pd", i))
	}
	for i, e := range addRaw(t, c, raw) {
		ref[i] = e
	}

	p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.HasPrefix(r.URL.Path, "/tile/entries/") && strings.Contains(r.URL.Path, ".p/") {
			http.NotFound(w, r)
			return
		}
		p.forward(w, r, body, nil)
	})
	pc := tl.client(t, p.URL)
	cp, err := pc.VerifyCheckpoint(ctx, note700)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, pc.EntriesIn(ctx, cp, 500))
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, got, ref, 500, 700)
	if p.count(http.MethodGet, "/tile/entries/002.p/188") != 1 || p.count(http.MethodGet, "/tile/entries/002") != 1 {
		t.Fatalf("requests: partial %d, full %d", p.count(http.MethodGet, "/tile/entries/002.p/188"), p.count(http.MethodGet, "/tile/entries/002"))
	}
	// The latest tree's partial bundle has no full one yet: not found.
	_, err = collect(t, pc.Entries(ctx, 700))
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Entries with the partial bundle missing: %v, want ErrNotFound", err)
	}
	// A bundle with the wrong number of entries (a full one served for a
	// partial path) is refused.
	p2 := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/tile/entries/002.p/188" {
			r.URL.Path = "/tile/entries/002"
		}
		p.forward(w, r, body, nil)
	})
	c2 := tl.client(t, p2.URL)
	if _, err := c2.VerifyCheckpoint(ctx, note700); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, c2.EntriesIn(ctx, cp, 600)); !errors.Is(err, proofs.ErrBadBundle) {
		t.Fatalf("a bundle of 256 for 188: %v, want ErrBadBundle", err)
	}
}
