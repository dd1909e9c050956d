package proofs_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tlogai/tlog/proofs"
)

// Issue 9: "/tile/0/%30%30%30" was served as tile 000. A tile has one
// path: percent escapes are refused, by ParseTilePath and, on the decoded
// URL.Path, by ParseTileURL.
func TestTilePathPercentEncoded(t *testing.T) {
	for _, p := range []string{
		"/tile/0/%30%30%30",
		"/tile/0/00%30",
		"/tile/%30/000",
		"/tile/0/x001%2F000",
		"/tile/0/x001%2f000",
		"/tile/entries/%30%30%30",
		"/tile/%65ntries/000",
		"/tile/0/000.p%2F5",
		"/tile/0/000.p/%35",
		"/%74ile/0/000",
		"/tile/0/000%00",
		"/tile/0/000%20",
		"/tile/0/%2e%2e/000",
		"/tile/0/%25",
		"/tile%2F0%2F000",
	} {
		u, err := url.Parse("http://log.example" + p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := proofs.ParseTileURL(u); !errors.Is(err, proofs.ErrBadTilePath) || !strings.Contains(err.Error(), "percent-encoded") {
			t.Errorf("ParseTileURL(%s) = %v, want a percent-encoded ErrBadTilePath", p, err)
		}
		if _, _, err := proofs.ParseTilePath(p); !errors.Is(err, proofs.ErrBadTilePath) {
			t.Errorf("ParseTilePath(%s) = %v, want ErrBadTilePath", p, err)
		}
		// The decoded path, where one parses to a tile, is what the old
		// handler read; ParseTileURL must not.
		if _, _, err := proofs.ParseTilePath(u.Path); err == nil && u.Path == p {
			t.Errorf("%s: decoded and sent paths are the same", p)
		}
	}
	for _, tc := range []struct {
		path    string
		tile    proofs.Tile
		entries bool
	}{
		{"/tile/0/000", proofs.Tile{Width: 256}, false},
		{"/tile/1/x001/234.p/7", proofs.Tile{Level: 1, Index: 1234, Width: 7}, false},
		{"/tile/entries/005", proofs.Tile{Index: 5, Width: 256}, true},
	} {
		u, err := url.Parse("http://log.example" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		tile, entries, err := proofs.ParseTileURL(u)
		if err != nil || tile != tc.tile || entries != tc.entries {
			t.Errorf("ParseTileURL(%s) = %+v, %v, %v; want %+v, %v", tc.path, tile, entries, err, tc.tile, tc.entries)
		}
	}
	// A URL built from a decoded Path alone (no RawPath) is refused too
	// when the path holds a '%'.
	if _, _, err := proofs.ParseTileURL(&url.URL{Path: "/tile/0/%30%30%30"}); !errors.Is(err, proofs.ErrBadTilePath) {
		t.Errorf("URL{Path: %%30...}: %v", err)
	}
}
