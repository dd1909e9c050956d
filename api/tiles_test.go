package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/internal/oracle"
	"github.com/tlogai/tlog/proofs"
)

// For every size from 1 to 300, added over HTTP, and a few large sizes: the
// served checkpoint verifies with x/mod's note package, and its root equals
// both the reference RFC 6962 tree and x/mod tlog's tree hash computed from
// the served tiles (TileHashReader authenticates each tile it reads against
// the checkpoint's root).
func TestServedTreeMatchesReference(t *testing.T) {
	ts := newServer(t, nil)
	var leaves [][]byte
	check := func() {
		t.Helper()
		tree, _ := ts.checkpoint(t)
		if tree.N != int64(len(leaves)) {
			t.Fatalf("checkpoint size %d, want %d", tree.N, len(leaves))
		}
		if want := oracle.MTH(leaves); tree.Hash != want {
			t.Fatalf("size %d: served root %x, reference %x", tree.N, tree.Hash, want)
		}
		hr := tlog.TileHashReader(tree, tileReader{t, ts})
		th, err := tlog.TreeHash(tree.N, hr)
		if err != nil {
			t.Fatalf("size %d: x/mod from served tiles: %v", tree.N, err)
		}
		if th != tree.Hash {
			t.Fatalf("size %d: x/mod tree hash %x, served %x", tree.N, th, tree.Hash)
		}
	}
	for i := 0; i < 300; i++ {
		e := testEntry(i)
		if got := ts.add(t, e); got != uint64(i) {
			t.Fatalf("entry %d got index %d", i, got)
		}
		leaves = append(leaves, e)
		check()
	}
	for _, size := range []int{1000, 65536, 65537, 100003} {
		var batch [][]byte
		for len(leaves)+len(batch) < size {
			batch = append(batch, testEntry(len(leaves)+len(batch)))
		}
		logtest.AddAll(t, ts.log, batch)
		leaves = append(leaves, batch...)
		check()
	}
}

// At sizes around tile boundaries, every tile and bundle of the tree is
// served with the bytes x/mod's tile layout and the submitted entries give,
// partial tiles have exactly the spec's width (one wider is 404, and so is
// the full tile until it exists), and every tile is cacheable for good.
func TestPartialTilesAndBundles(t *testing.T) {
	ts := newServer(t, nil)
	var (
		leaves [][]byte
		ref    oracle.Tree
	)
	for _, size := range []int{255, 256, 257, 65535, 65536, 65537} {
		var batch [][]byte
		for len(leaves)+len(batch) < size {
			e := testEntry(len(leaves) + len(batch))
			batch = append(batch, e)
			if err := ref.Add(e); err != nil {
				t.Fatal(err)
			}
		}
		logtest.AddAll(t, ts.log, batch)
		leaves = append(leaves, batch...)
		tree, _ := ts.checkpoint(t)
		if tree.N != int64(size) {
			t.Fatalf("size %d, want %d", tree.N, size)
		}

		// The rightmost tile at each level.
		for level := uint8(0); level <= 3; level++ {
			n := uint64(size) >> (8 * level)
			w := proofs.PartialWidth(level, uint64(size))
			if want := n % 256; uint64(w) != want {
				t.Fatalf("size %d level %d: PartialWidth %d, want %d", size, level, w, want)
			}
			partial := proofs.Tile{Level: level, Index: n / 256, Width: w}
			full := proofs.Tile{Level: level, Index: n / 256, Width: 256}
			if w == 0 {
				// No partial tile at this level: the .p/1 path is 404.
				ts.expectStatus(t, "/"+proofs.Tile{Level: level, Index: n / 256, Width: 1}.Path(), http.StatusNotFound)
				ts.expectStatus(t, "/"+full.Path(), http.StatusNotFound)
				continue
			}
			ts.expectTile(t, &ref, partial)
			wider := partial
			wider.Width++
			if wider.Width < 256 {
				ts.expectStatus(t, "/"+wider.Path(), http.StatusNotFound)
			}
			ts.expectStatus(t, "/"+full.Path(), http.StatusNotFound)
			if level == 0 {
				ts.expectBundle(t, partial, leaves)
				ts.expectStatus(t, "/"+full.EntriesPath(), http.StatusNotFound)
				if wider.Width < 256 {
					ts.expectStatus(t, "/"+wider.EntriesPath(), http.StatusNotFound)
				}
			}
		}
	}
	// At the final size, every tile x/mod says the tree has, and every
	// bundle, holds the right bytes.
	for _, xt := range tlog.NewTiles(8, 0, int64(len(leaves))) {
		tile := proofs.Tile{Level: uint8(xt.L), Index: uint64(xt.N), Width: uint16(xt.W)}
		ts.expectTile(t, &ref, tile)
		if tile.Level == 0 {
			ts.expectBundle(t, tile, leaves)
		}
	}
}

func (ts *testServer) expectStatus(t *testing.T, path string, status int) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, path, nil)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %q, want %d", path, resp.StatusCode, body, status)
	}
}

func (ts *testServer) expectTile(t *testing.T, o *oracle.Tree, tile proofs.Tile) {
	t.Helper()
	want, err := tlog.ReadTileData(tlog.Tile{H: 8, L: int(tile.Level), N: int64(tile.Index), W: int(tile.Width)}, o)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := ts.do(t, http.MethodGet, "/"+tile.Path(), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET /%s: %d, %d bytes, equal to x/mod's tile: %v", tile.Path(), resp.StatusCode, len(body), bytes.Equal(body, want))
	}
	checkTileHeaders(t, resp, tile)
}

func (ts *testServer) expectBundle(t *testing.T, tile proofs.Tile, leaves [][]byte) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, "/"+tile.EntriesPath(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /%s: %d", tile.EntriesPath(), resp.StatusCode)
	}
	checkTileHeaders(t, resp, tile)
	got := parseBundle(t, body)
	want := leaves[tile.Index*256 : tile.Index*256+uint64(tile.Width)]
	if len(got) != len(want) {
		t.Fatalf("/%s holds %d entries, want %d", tile.EntriesPath(), len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("/%s entry %d differs from the submitted bytes", tile.EntriesPath(), i)
		}
	}
}

func checkTileHeaders(t *testing.T, resp *http.Response, tile proofs.Tile) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	// Full and partial tiles alike: a partial tile's URL names its width,
	// so its bytes never change either.
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Fatalf("tile of width %d has Cache-Control %q", tile.Width, cc)
	}
}

// Entry bundles are gzip-compressed for clients that accept it (and the
// bytes are the bundle); hash tiles, and clients that do not ask, never.
func TestBundleCompression(t *testing.T) {
	ts := newServer(t, nil)
	var leaves [][]byte
	for i := 0; i < 300; i++ {
		leaves = append(leaves, testEntry(i))
	}
	logtest.AddAll(t, ts.log, leaves)
	get := func(path, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("/tile/entries/000", "br;q=1.0, gzip;q=0.8")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("bundle: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseBundle(t, plain); len(got) != 256 || !bytes.Equal(got[255], leaves[255]) {
		t.Fatalf("decompressed bundle holds %d entries", len(got))
	}
	for _, accept := range []string{"", "identity", "gzip;q=0", "gzip; q=0.000"} {
		if resp, b := get("/tile/entries/000", accept); resp.Header.Get("Content-Encoding") != "" || len(parseBundle(t, b)) != 256 {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q", accept, resp.Header.Get("Content-Encoding"))
		}
	}
	if resp, b := get("/tile/0/000", "gzip"); resp.Header.Get("Content-Encoding") != "" || len(b) != 8192 {
		t.Fatalf("hash tile: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(b))
	}
}
