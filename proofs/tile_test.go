package proofs_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
)

// The oracles here are c2sp.org/tlog-tiles (SPECS.md §4) and
// golang.org/x/mod/sumdb/tlog, whose tile paths are the same as ours with
// an extra height element ("tile/8/L/N", "tile/8/data/N" for entries) and
// whose NewTiles lists the tiles of a tree.

// xmodPath returns x/mod's path for our tile: "tile/8/..." for hash tiles,
// "tile/8/data/..." for entry bundles.
func xmodPath(t proofs.Tile, entries bool) string {
	l := int(t.Level)
	if entries {
		l = -1
	}
	return tlog.Tile{H: 8, L: l, N: int64(t.Index), W: int(t.Width)}.Path()
}

func TestFormatTileIndex(t *testing.T) {
	cases := []struct {
		n    uint64
		want string
	}{
		{0, "000"},
		{5, "005"},
		{42, "042"},
		{999, "999"},
		{1000, "x001/000"},
		{1001, "x001/001"},
		{999999, "x999/999"},
		{1000000, "x001/x000/000"},
		{1234067, "x001/x234/067"},
		{math.MaxInt64, "x009/x223/x372/x036/x854/x775/807"},
		{math.MaxUint64, "x018/x446/x744/x073/x709/x551/615"},
	}
	for _, tc := range cases {
		if got := proofs.FormatTileIndex(tc.n); got != tc.want {
			t.Errorf("FormatTileIndex(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// Our paths must be x/mod's with the height element removed, for hash tiles
// and entry bundles, full and partial.
func TestTilePathMatchesXMod(t *testing.T) {
	indexes := []uint64{0, 1, 5, 999, 1000, 1001, 65535, 1234067, 1 << 40, math.MaxInt64}
	for l := uint8(0); l <= proofs.MaxTileLevel; l += 7 {
		for _, n := range indexes {
			for _, w := range []uint16{1, 2, 17, 112, 255, 256} {
				tile := proofs.Tile{Level: l, Index: n, Width: w}
				want := strings.Replace(xmodPath(tile, false), "tile/8/", "tile/", 1)
				if got := tile.Path(); got != want {
					t.Errorf("%+v.Path() = %q, x/mod gives %q", tile, got, want)
				}
				if l == 0 {
					want := strings.Replace(xmodPath(tile, true), "tile/8/data/", "tile/entries/", 1)
					if got := tile.EntriesPath(); got != want {
						t.Errorf("%+v.EntriesPath() = %q, x/mod gives %q", tile, got, want)
					}
				}
				if tile.Full() != (w == 256) {
					t.Errorf("%+v.Full() = %v", tile, tile.Full())
				}
			}
		}
	}
}

func TestParseTilePath(t *testing.T) {
	cases := []struct {
		path    string
		want    proofs.Tile
		entries bool
	}{
		{"tile/0/000", proofs.Tile{Level: 0, Index: 0, Width: 256}, false},
		{"tile/0/005", proofs.Tile{Level: 0, Index: 5, Width: 256}, false},
		{"/tile/0/005", proofs.Tile{Level: 0, Index: 5, Width: 256}, false},
		{"tile/1/x001/000", proofs.Tile{Level: 1, Index: 1000, Width: 256}, false},
		{"tile/2/x001/x234/067", proofs.Tile{Level: 2, Index: 1234067, Width: 256}, false},
		{"tile/0/273.p/112", proofs.Tile{Level: 0, Index: 273, Width: 112}, false},
		{"tile/0/000.p/1", proofs.Tile{Level: 0, Index: 0, Width: 1}, false},
		{"tile/0/000.p/255", proofs.Tile{Level: 0, Index: 0, Width: 255}, false},
		{"tile/63/000", proofs.Tile{Level: 63, Index: 0, Width: 256}, false},
		{"tile/10/999", proofs.Tile{Level: 10, Index: 999, Width: 256}, false},
		{"tile/0/x018/x446/x744/x073/x709/x551/615", proofs.Tile{Level: 0, Index: math.MaxUint64, Width: 256}, false},
		{"tile/0/x018/x446/x744/x073/x709/x551/615.p/3", proofs.Tile{Level: 0, Index: math.MaxUint64, Width: 3}, false},
		{"tile/entries/000", proofs.Tile{Index: 0, Width: 256}, true},
		{"tile/entries/x001/x234/067", proofs.Tile{Index: 1234067, Width: 256}, true},
		{"tile/entries/x001/x234/067.p/9", proofs.Tile{Index: 1234067, Width: 9}, true},
		{"/tile/entries/005.p/200", proofs.Tile{Index: 5, Width: 200}, true},
	}
	for _, tc := range cases {
		got, entries, err := proofs.ParseTilePath(tc.path)
		if err != nil || got != tc.want || entries != tc.entries {
			t.Errorf("ParseTilePath(%q) = %+v, %v, %v; want %+v, %v", tc.path, got, entries, err, tc.want, tc.entries)
			continue
		}
		format := got.Path()
		if entries {
			format = got.EntriesPath()
		}
		if format != strings.TrimPrefix(tc.path, "/") {
			t.Errorf("ParseTilePath(%q) formats back as %q", tc.path, format)
		}
	}
}

func TestParseTilePathRejects(t *testing.T) {
	for _, path := range []string{
		"",
		"/",
		"tile",
		"tile/",
		"tile/0",
		"tile/0/",
		"tile/entries",
		"tile/entries/",
		"tiles/0/005",
		"//tile/0/005",
		"0/005",
		"TILE/0/005",
		// Index encoding.
		"tile/0/5",
		"tile/0/05",
		"tile/0/0005",
		"tile/0/x000/005",
		"tile/0/x1/005",
		"tile/0/x01/005",
		"tile/0/x0001/005",
		"tile/0/005/x001",
		"tile/0/x001",
		"tile/0/x001/",
		"tile/0/x001/5",
		"tile/0/001/000",
		"tile/0/X001/000",
		"tile/0/x001x234/067",
		"tile/0/x001//067",
		"tile/0/-01",
		"tile/0/+01",
		"tile/0/ 05",
		"tile/0/0x5",
		"tile/0/٠٠٥",
		"tile/0/005/",
		"tile/0/005.p/5/",
		"tile/0/x018/x446/x744/x073/x709/x551/616",
		"tile/0/x018/x446/x744/x073/x709/x552/000",
		"tile/0/x019/x000/x000/x000/x000/x000/000",
		"tile/0/x999/x999/x999/x999/x999/x999/999",
		"tile/0/x001/x000/x000/x000/x000/x000/x000/000",
		"tile/0/x000/x000/x000/x000/x000/x000/x000/005",
		// Partial width.
		"tile/0/005.p/0",
		"tile/0/005.p/256",
		"tile/0/005.p/01",
		"tile/0/005.p/001",
		"tile/0/005.p/",
		"tile/0/005.p",
		"tile/0/005.p/-1",
		"tile/0/005.p/+1",
		"tile/0/005.p/1.p/2",
		"tile/0/005.p/1000",
		"tile/0/005.P/5",
		"tile/0/005p/5",
		"tile/0/.p/5",
		"tile/0/x001.p/5/000",
		// Level.
		"tile/00/005",
		"tile/01/005",
		"tile/64/005",
		"tile/255/005",
		"tile/256/005",
		"tile/-1/005",
		"tile/+1/005",
		"tile/ 1/005",
		"tile//005",
		"tile/1.0/005",
		"tile/data/005",
		"tile/8/0/005",
		// Entry bundles.
		"tile/entries/5",
		"tile/entries/x000/005",
		"tile/entries/005.p/0",
		"tile/entries/005.p/256",
		"tile/entries/005/",
		"tile/entries/entries/005",
		"tile/0/entries/005",
		"tile/Entries/005",
		"tile/entry/005",
	} {
		got, entries, err := proofs.ParseTilePath(path)
		if err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, %v; want error", path, got, entries)
		} else if !errors.Is(err, proofs.ErrBadTilePath) {
			t.Errorf("ParseTilePath(%q) error %v is not ErrBadTilePath", path, err)
		}
	}
}

func TestTilePathRoundTrip(t *testing.T) {
	for l := uint8(0); l <= proofs.MaxTileLevel; l++ {
		for _, n := range []uint64{0, 7, 999, 1000, 123456789, math.MaxUint64 - 1, math.MaxUint64} {
			for _, w := range []uint16{1, 128, 255, 256} {
				tile := proofs.Tile{Level: l, Index: n, Width: w}
				got, entries, err := proofs.ParseTilePath(tile.Path())
				if err != nil || entries || got != tile {
					t.Errorf("ParseTilePath(%q) = %+v, %v, %v; want %+v", tile.Path(), got, entries, err, tile)
				}
				if l != 0 {
					continue
				}
				got, entries, err = proofs.ParseTilePath(tile.EntriesPath())
				if err != nil || !entries || got != tile {
					t.Errorf("ParseTilePath(%q) = %+v, %v, %v; want %+v", tile.EntriesPath(), got, entries, err, tile)
				}
			}
		}
	}
}

// toXModPath turns a candidate path of ours into x/mod's form, or reports
// that x/mod has no opinion on it.
func toXModPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(path, "/"), "tile/")
	if !ok || strings.HasPrefix(rest, "data/") {
		return "", false
	}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		rest = "data/" + r
	}
	return "tile/8/" + rest, true
}

// FuzzParseTilePath: a path that parses formats back to itself (minus a
// leading "/"), and x/mod's parser, which is canonical-only too, agrees
// wherever the two formats overlap (levels 0…63, indexes below 2^63).
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{
		"tile/0/000", "/tile/0/005", "tile/1/x001/000", "tile/2/x001/x234/067",
		"tile/0/273.p/112", "tile/63/000.p/1", "tile/entries/x001/x234/067.p/9",
		"tile/0/x018/x446/x744/x073/x709/x551/615", "tile/0/x018/x446/x744/x073/x709/x551/616",
		"tile/0/5", "tile/0/x000/005", "tile/00/005", "tile/64/000", "tile/0/005.p/256",
		"tile/0/005.p/01", "tile/entries/005/", "tile/data/005",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, entries, err := proofs.ParseTilePath(path)
		if err == nil {
			format := tile.Path()
			if entries {
				format = tile.EntriesPath()
				if tile.Level != 0 {
					t.Fatalf("ParseTilePath(%q): entry bundle with level %d", path, tile.Level)
				}
			}
			if format != strings.TrimPrefix(path, "/") {
				t.Fatalf("ParseTilePath(%q) = %+v, %v, which formats as %q", path, tile, entries, format)
			}
			if tile.Width < 1 || tile.Width > 256 || tile.Level > proofs.MaxTileLevel {
				t.Fatalf("ParseTilePath(%q) = %+v: out of range", path, tile)
			}
		} else if !errors.Is(err, proofs.ErrBadTilePath) {
			t.Fatalf("ParseTilePath(%q) error %v is not ErrBadTilePath", path, err)
		}

		xpath, ok := toXModPath(path)
		if !ok {
			return
		}
		xt, xerr := tlog.ParseTilePath(xpath)
		switch {
		case err == nil && tile.Index > math.MaxInt64:
			// Beyond x/mod's int64 indexes.
		case xerr == nil && xt.L > proofs.MaxTileLevel:
			// Beyond the spec's levels.
		case (err == nil) != (xerr == nil):
			t.Fatalf("ParseTilePath(%q) error %v, x/mod ParseTilePath(%q) error %v", path, err, xpath, xerr)
		case err == nil:
			wantL := int(tile.Level)
			if entries {
				wantL = -1
			}
			if xt.H != 8 || xt.L != wantL || xt.N != int64(tile.Index) || xt.W != int(tile.Width) {
				t.Fatalf("ParseTilePath(%q) = %+v, %v; x/mod %+v", path, tile, entries, xt)
			}
		}
	})
}

func TestTileNodes(t *testing.T) {
	for _, tc := range []struct {
		tile  proofs.Tile
		level uint
		first uint64
	}{
		// Spec: tile L/N holds hashes N·256 … of tree level 8·L.
		{proofs.Tile{Level: 0, Index: 0, Width: 256}, 0, 0},
		{proofs.Tile{Level: 0, Index: 3, Width: 5}, 0, 768},
		{proofs.Tile{Level: 2, Index: 3, Width: 256}, 16, 768},
		{proofs.Tile{Level: 7, Index: 1, Width: 1}, 56, 256},
	} {
		level, first := proofs.TileNodes(tc.tile)
		if level != tc.level || first != tc.first {
			t.Errorf("TileNodes(%+v) = %d, %d; want %d, %d", tc.tile, level, first, tc.level, tc.first)
		}
	}
}

// The spec's worked example: a tree of 70,000 entries.
func TestTilesSpecExample(t *testing.T) {
	const size = 70000
	full := func(l uint8, n uint64) proofs.Tile { return proofs.Tile{Level: l, Index: n, Width: 256} }
	part := func(l uint8, n uint64, w uint16) proofs.Tile { return proofs.Tile{Level: l, Index: n, Width: w} }
	for n := uint64(0); n < 273; n++ {
		if !proofs.TileInTree(full(0, n), size) {
			t.Errorf("full level-0 tile %d is not in the tree of size %d", n, size)
		}
	}
	for _, tc := range []struct {
		tile proofs.Tile
		in   bool
	}{
		{full(0, 273), false},
		{part(0, 273, 112), true},
		{part(0, 273, 111), true}, // a smaller checkpoint's prefix
		{part(0, 273, 1), true},
		{part(0, 273, 113), false},
		{part(0, 274, 1), false},
		{full(1, 0), true},
		{full(1, 1), false},
		{part(1, 1, 17), true},
		{part(1, 1, 18), false},
		{part(1, 0, 17), true}, // prefix of the full level-1 tile
		{part(2, 0, 1), true},
		{part(2, 0, 2), false},
		{full(2, 0), false},
		{part(3, 0, 1), false},
		{part(0, 0, 0), false},
		{proofs.Tile{Level: 0, Index: 0, Width: 257}, false},
	} {
		if got := proofs.TileInTree(tc.tile, size); got != tc.in {
			t.Errorf("TileInTree(%+v, %d) = %v, want %v", tc.tile, size, got, tc.in)
		}
	}
	for l, want := range []uint16{112, 17, 1, 0, 0, 0, 0, 0, 0, 0} {
		if got := proofs.PartialWidth(uint8(l), size); got != want {
			t.Errorf("PartialWidth(%d, %d) = %d, want %d", l, size, got, want)
		}
	}

	// Size 256: one full level-0 tile and a level-1 tile of width 1.
	if !proofs.TileInTree(full(0, 0), 256) || !proofs.TileInTree(part(1, 0, 1), 256) {
		t.Error("size 256: full tile 0/0 or partial tile 1/0.p/1 missing")
	}
	if proofs.TileInTree(part(0, 1, 1), 256) || proofs.TileInTree(part(1, 0, 2), 256) || proofs.TileInTree(part(2, 0, 1), 256) {
		t.Error("size 256: a tile beyond the tree is in it")
	}
	if got := proofs.PartialWidth(0, 256); got != 0 {
		t.Errorf("PartialWidth(0, 256) = %d, want 0", got)
	}
	if got := proofs.PartialWidth(1, 256); got != 1 {
		t.Errorf("PartialWidth(1, 256) = %d, want 1", got)
	}
}

// specPartialWidth and specInTree transcribe the spec: the width at level L
// is floor(s / 256^L) mod 256, and tile L/N of width W exists when
// N·256 + W ≤ floor(s / 256^L).
func specLevelSize(l uint8, size uint64) uint64 {
	for i := uint8(0); i < l && size > 0; i++ {
		size /= 256
	}
	return size
}

func specInTree(tile proofs.Tile, size uint64) bool {
	if tile.Width < 1 || tile.Width > 256 {
		return false
	}
	n := specLevelSize(tile.Level, size)
	// N·256 + W ≤ n, without overflow.
	return uint64(tile.Width) <= n && tile.Index <= (n-uint64(tile.Width))/256
}

func tileSizes() []uint64 {
	var sizes []uint64
	for s := uint64(1); s <= 2000; s++ {
		sizes = append(sizes, s)
	}
	for _, c := range []uint64{65535, 65536, 65537, 70000, 1 << 24, 1<<24 - 1, 1<<24 + 1} {
		sizes = append(sizes, c)
	}
	return sizes
}

func TestTilesMatchXModNewTiles(t *testing.T) {
	for _, size := range tileSizes() {
		xtiles := tlog.NewTiles(8, 0, int64(size))
		rightmost := map[int]tlog.Tile{}
		listed := map[proofs.Tile]bool{}
		for _, xt := range xtiles {
			if xt.L < 0 {
				continue
			}
			tile := proofs.Tile{Level: uint8(xt.L), Index: uint64(xt.N), Width: uint16(xt.W)}
			listed[tile] = true
			if !proofs.TileInTree(tile, size) {
				t.Fatalf("size %d: x/mod lists %s, TileInTree says no", size, xt.Path())
			}
			if r, ok := rightmost[xt.L]; !ok || xt.N > r.N {
				rightmost[xt.L] = xt
			}
		}
		for l := uint8(0); l < 10; l++ {
			var want uint16
			if r, ok := rightmost[int(l)]; ok && r.W < 256 {
				want = uint16(r.W)
			}
			if got := proofs.PartialWidth(l, size); got != want {
				t.Fatalf("PartialWidth(%d, %d) = %d, x/mod's rightmost tile gives %d", l, size, got, want)
			}
			// Every full tile and every current partial tile that
			// TileInTree accepts is one x/mod lists, and vice versa.
			maxN := specLevelSize(l, size)/256 + 1
			for n := uint64(0); n <= maxN; n++ {
				if n > 2 && n+2 < maxN && size > 4096 {
					n = maxN - 2 // skip the middle of big levels; all listed tiles were checked above
				}
				full := proofs.Tile{Level: l, Index: n, Width: 256}
				if got := proofs.TileInTree(full, size); got != listed[full] {
					t.Fatalf("TileInTree(%+v, %d) = %v, x/mod lists it: %v", full, size, got, listed[full])
				}
				if w := proofs.PartialWidth(l, size); w > 0 {
					p := proofs.Tile{Level: l, Index: n, Width: w}
					if got := proofs.TileInTree(p, size); got != (listed[p] || listed[full]) {
						t.Fatalf("TileInTree(%+v, %d) = %v, x/mod lists it: %v (full: %v)", p, size, got, listed[p], listed[full])
					}
				}
				for _, w := range []uint16{1, 2, 127, 128, 255, 256} {
					tile := proofs.Tile{Level: l, Index: n, Width: w}
					if got, want := proofs.TileInTree(tile, size), specInTree(tile, size); got != want {
						t.Fatalf("TileInTree(%+v, %d) = %v, spec says %v", tile, size, got, want)
					}
				}
			}
		}
	}
}

func TestTileInTreeExtremes(t *testing.T) {
	const max = math.MaxUint64
	for _, tc := range []struct {
		tile proofs.Tile
		size uint64
	}{
		{proofs.Tile{Level: 0, Index: max / 256, Width: 255}, max},
		{proofs.Tile{Level: 0, Index: max / 256, Width: 256}, max},
		{proofs.Tile{Level: 0, Index: max/256 - 1, Width: 256}, max},
		{proofs.Tile{Level: 0, Index: max, Width: 1}, max},
		{proofs.Tile{Level: 7, Index: 0, Width: 255}, max},
		{proofs.Tile{Level: 7, Index: 0, Width: 256}, max},
		{proofs.Tile{Level: 8, Index: 0, Width: 1}, max},
		{proofs.Tile{Level: 63, Index: 0, Width: 1}, max},
		{proofs.Tile{Level: 0, Index: 0, Width: 1}, 0},
		{proofs.Tile{Level: 255, Index: 0, Width: 1}, max},
	} {
		if got, want := proofs.TileInTree(tc.tile, tc.size), specInTree(tc.tile, tc.size); got != want {
			t.Errorf("TileInTree(%+v, %d) = %v, spec says %v", tc.tile, tc.size, got, want)
		}
	}
	for l := uint8(0); l < 70; l++ {
		for _, size := range []uint64{0, 1, 255, 256, max} {
			want := uint16(specLevelSize(l, size) % 256)
			if got := proofs.PartialWidth(l, size); got != want {
				t.Errorf("PartialWidth(%d, %d) = %d, spec says %d", l, size, got, want)
			}
		}
	}
}
