package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
)

func TestTileFetcher(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	var raw [][]byte
	for i := range 800 {
		raw = append(raw, rawEntry("tf", i))
	}
	ref := addRaw(t, c, raw)

	direct, err := client.NewTileFetcher(tl.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	note, err := direct.Checkpoint(ctx)
	if err != nil || !bytes.Equal(note, tl.checkpoint()) {
		t.Fatalf("Checkpoint: %v", err)
	}
	full, err := direct.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 256})
	if err != nil || len(full) != 256*proofs.HashSize {
		t.Fatalf("full tile: %d bytes, %v", len(full), err)
	}
	for i := range 256 {
		if h := proofs.HashLeaf(ref[uint64(512+i)]); !bytes.Equal(full[i*32:(i+1)*32], h[:]) {
			t.Fatalf("tile 0/002 hash %d is not the leaf hash of entry %d", i, 512+i)
		}
	}
	partial, err := direct.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 188})
	if err != nil || !bytes.Equal(partial, full[:188*32]) {
		t.Fatalf("partial tile served: %v", err)
	}
	bundle, err := direct.EntryBundle(ctx, proofs.Tile{Level: 0, Index: 1, Width: 256})
	if err != nil || len(bundle) != 256 {
		t.Fatalf("bundle: %d, %v", len(bundle), err)
	}
	for i, e := range bundle {
		if !bytes.Equal(e, ref[uint64(256+i)]) {
			t.Fatalf("bundle entry %d", i)
		}
	}

	// A server that no longer serves partial tiles and bundles: they are
	// cut from the full ones.
	p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.Contains(r.URL.Path, ".p/") {
			http.NotFound(w, r)
			return
		}
		p.forward(w, r, body, nil)
	})
	f, err := client.NewTileFetcher(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 188})
	if err != nil || !bytes.Equal(got, full[:188*32]) {
		t.Fatalf("partial tile from the full one: %v", err)
	}
	if p.count(http.MethodGet, "/tile/0/002.p/188") != 1 || p.count(http.MethodGet, "/tile/0/002") != 1 {
		t.Fatal("the partial tile was not asked first, then the full one")
	}
	// The full tile is cached now: another width costs one request (the
	// partial one), not two.
	before := p.count("", "")
	got, err = f.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 3})
	if err != nil || !bytes.Equal(got, full[:3*32]) {
		t.Fatalf("partial tile 3: %v", err)
	}
	if n := p.count("", "") - before; n != 1 {
		t.Fatalf("%d requests for a partial tile of a cached full one, want 1", n)
	}
	if _, err := f.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 256}); err != nil {
		t.Fatal(err)
	}
	if n := p.count(http.MethodGet, "/tile/0/002"); n != 1 {
		t.Fatalf("a cached full tile was fetched %d times", n)
	}
	es, err := f.EntryBundle(ctx, proofs.Tile{Level: 0, Index: 2, Width: 100})
	if err != nil || len(es) != 100 {
		t.Fatalf("partial bundle from the full one: %d %v", len(es), err)
	}
	for i, e := range es {
		if !bytes.Equal(e, ref[uint64(512+i)]) {
			t.Fatalf("bundle entry %d", i)
		}
	}
	// No full one yet: not found.
	if _, err := f.Tile(ctx, proofs.Tile{Level: 0, Index: 3, Width: 32}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("partial tile without a full one: %v, want ErrNotFound", err)
	}
	if _, err := f.EntryBundle(ctx, proofs.Tile{Level: 0, Index: 3, Width: 32}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("partial bundle without a full one: %v, want ErrNotFound", err)
	}

	// Beyond the tree: 404 is ErrNotFound.
	for _, tile := range []proofs.Tile{{Level: 0, Index: 9, Width: 256}, {Level: 1, Index: 0, Width: 256}} {
		if _, err := direct.Tile(ctx, tile); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Tile(%s) beyond the tree: %v, want ErrNotFound", tile.Path(), err)
		}
	}
	if _, err := direct.EntryBundle(ctx, proofs.Tile{Level: 0, Index: 9, Width: 256}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("bundle beyond the tree: %v", err)
	}

	// Oversized or wrong-sized answers are refused.
	huge := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == "/checkpoint":
			w.Write(bytes.Repeat([]byte("x"), 1<<20+1))
		case r.URL.Path == "/tile/0/000":
			w.Write(make([]byte, 256*32+1))
		case r.URL.Path == "/tile/0/001":
			w.Write(make([]byte, 256*32-32))
		case r.URL.Path == "/tile/0/002.p/5":
			w.Write(make([]byte, 6*32))
		case r.URL.Path == "/tile/entries/000":
			w.Write(make([]byte, 256*(2+proofs.MaxEntrySize)+1))
		default:
			p.forward(w, r, body, nil)
		}
	})
	hf, err := client.NewTileFetcher(huge.URL, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hf.Checkpoint(ctx); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a checkpoint over 1 MiB: %v", err)
	}
	if _, err := hf.Tile(ctx, proofs.Tile{Level: 0, Index: 0, Width: 256}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("an oversized tile: %v", err)
	}
	if _, err := hf.Tile(ctx, proofs.Tile{Level: 0, Index: 1, Width: 256}); err == nil {
		t.Fatal("a short tile accepted")
	}
	if _, err := hf.Tile(ctx, proofs.Tile{Level: 0, Index: 2, Width: 5}); err == nil {
		t.Fatal("a partial tile of the wrong size accepted")
	}
	if _, err := hf.EntryBundle(ctx, proofs.Tile{Level: 0, Index: 0, Width: 256}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("an oversized bundle: %v", err)
	}
	// Other statuses are *StatusError.
	bad := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	bf, _ := client.NewTileFetcher(bad.URL, nil)
	var se *client.StatusError
	if _, err := bf.Tile(ctx, proofs.Tile{Level: 0, Index: 0, Width: 256}); !errors.As(err, &se) || se.Code != 503 || !se.Temporary() || se.Reason != "down for maintenance" {
		t.Fatalf("503 tile: %v", err)
	}
	// The Reader serves proofs.TileHashes.
	cp, err := c.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	th := proofs.TileHashes{Size: cp.Size, Root: &cp.Hash, Reader: direct.Reader(ctx)}
	hs, err := th.ReadHashes([]proofs.NodeID{{Level: 0, Index: 799}})
	if h := proofs.HashLeaf(ref[799]); err != nil || !bytes.Equal(hs[0], h[:]) {
		t.Fatalf("TileHashes over the fetcher: %v", err)
	}
	if _, err := client.NewTileFetcher("", nil); err == nil {
		t.Fatal("NewTileFetcher(\"\") succeeded")
	}
	if c.Tiles() == nil {
		t.Fatal("no Tiles")
	}
}
