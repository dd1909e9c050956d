package proofs

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Tile geometry of c2sp.org/tlog-tiles: a tile is a subtree of height 8, so
// it holds up to 256 hashes of tree level 8·L.
const (
	TileHeight = 8
	TileWidth  = 1 << TileHeight
	// MaxTileLevel is the highest level a tile path may name.
	MaxTileLevel = 63
	// MaxEntrySize is the largest entry: entry bundles prefix each entry
	// with a big-endian uint16 length.
	MaxEntrySize = 1<<16 - 1
)

// ErrBadBundle is returned (wrapped) by ParseEntryBundle.
var ErrBadBundle = errors.New("malformed entry bundle")

// ParseEntryBundle splits an entry bundle (c2sp.org/tlog-tiles: each entry
// is a big-endian uint16 length and that many bytes) into exactly want
// entries, which alias b. Trailing bytes and a count other than want are
// ErrBadBundle.
func ParseEntryBundle(b []byte, want int) ([][]byte, error) {
	out := make([][]byte, 0, want)
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: %d trailing bytes after entry %d", ErrBadBundle, len(b), len(out))
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b)-2 < n {
			return nil, fmt.Errorf("%w: entry %d has length %d with %d bytes left", ErrBadBundle, len(out), n, len(b)-2)
		}
		if len(out) == want {
			return nil, fmt.Errorf("%w: more than %d entries", ErrBadBundle, want)
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	if len(out) != want {
		return nil, fmt.Errorf("%w: %d entries, want %d", ErrBadBundle, len(out), want)
	}
	return out, nil
}

// ErrBadTilePath is returned (wrapped) by ParseTilePath.
var ErrBadTilePath = errors.New("malformed tile path")

// Tile addresses a hash tile or an entry bundle.
type Tile struct {
	// Level is the tile level L; the hashes are of tree level 8·L.
	// Entry bundles have level 0.
	Level uint8
	// Index is N: the tile holds hashes N·256 … N·256+Width-1 of its level.
	Index uint64
	// Width is the number of hashes (or entries): 256 for a full tile,
	// 1…255 for a partial one.
	Width uint16
}

// Full reports whether the tile is full (256 wide).
func (t Tile) Full() bool { return t.Width == TileWidth }

// Path returns the hash tile path, "tile/<L>/<N>[.p/<W>]".
func (t Tile) Path() string {
	return "tile/" + strconv.Itoa(int(t.Level)) + "/" + t.suffix()
}

// EntriesPath returns the entry bundle path, "tile/entries/<N>[.p/<W>]".
func (t Tile) EntriesPath() string {
	return "tile/entries/" + t.suffix()
}

func (t Tile) suffix() string {
	s := FormatTileIndex(t.Index)
	if t.Width < TileWidth {
		s += ".p/" + strconv.Itoa(int(t.Width))
	}
	return s
}

// FormatTileIndex writes N in groups of three digits, all but the last
// prefixed with "x": 1234067 → "x001/x234/067", 5 → "005".
func FormatTileIndex(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

// ParseTilePath parses a path of the form "tile/<L>/<N>[.p/<W>]" or
// "tile/entries/<N>[.p/<W>]" (a leading "/" is allowed). It accepts only the
// canonical encoding: L in 0…63 without leading zeros, N in 3-digit groups
// as FormatTileIndex writes it, W in 1…255 without leading zeros.
//
// path is the path as sent, not percent-decoded: a '%' is an error (see
// ParseTileURL), so one tile has one path, and a cache or a mirror keyed
// by the request path holds each tile once.
func ParseTilePath(path string) (t Tile, entries bool, err error) {
	if strings.Contains(path, "%") {
		return Tile{}, false, fmt.Errorf("%w: %q is percent-encoded (tile paths are digits, 'x', '.p', '/' and \"entries\", never escaped)", ErrBadTilePath, path)
	}
	rest, ok := strings.CutPrefix(strings.TrimPrefix(path, "/"), "tile/")
	if !ok {
		return Tile{}, false, fmt.Errorf("%w: %q does not start with tile/", ErrBadTilePath, path)
	}
	level, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Tile{}, false, fmt.Errorf("%w: %q has no tile index", ErrBadTilePath, path)
	}
	if level == "entries" {
		entries = true
	} else {
		l, err := strconv.ParseUint(level, 10, 8)
		if err != nil || l > MaxTileLevel || strconv.FormatUint(l, 10) != level {
			return Tile{}, false, fmt.Errorf("%w: level %q is not a decimal in 0…63", ErrBadTilePath, level)
		}
		t.Level = uint8(l)
	}
	index, width, partial := strings.Cut(rest, ".p/")
	t.Width = TileWidth
	if partial {
		w, err := strconv.ParseUint(width, 10, 8)
		if err != nil || w == 0 || w >= TileWidth || strconv.FormatUint(w, 10) != width {
			return Tile{}, false, fmt.Errorf("%w: width %q is not a decimal in 1…255", ErrBadTilePath, width)
		}
		t.Width = uint16(w)
	}
	n, err := parseTileIndex(index)
	if err != nil {
		return Tile{}, false, fmt.Errorf("%w: index %q: %v", ErrBadTilePath, index, err)
	}
	t.Index = n
	return t, entries, nil
}

// ParseTileURL parses the path of a request URL as ParseTilePath does,
// as the client wrote it: u.Path is percent-decoded, so "/tile/0/%30%30%30"
// would read as tile 000. Any percent escape in the path, even of a
// character that needs escaping, is an error.
func ParseTileURL(u *url.URL) (t Tile, entries bool, err error) {
	if u.RawPath != "" || strings.Contains(u.Path, "%") {
		return Tile{}, false, fmt.Errorf("%w: %q is percent-encoded (tile paths are never escaped)", ErrBadTilePath, u.EscapedPath())
	}
	return ParseTilePath(u.EscapedPath())
}

func parseTileIndex(s string) (uint64, error) {
	groups := strings.Split(s, "/")
	if len(groups) > 7 { // 2^64 has 20 digits: at most 7 groups
		return 0, errors.New("too many groups")
	}
	var n uint64
	for i, g := range groups {
		if i < len(groups)-1 {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return 0, errors.New("every group but the last must start with x")
			}
		}
		if len(g) != 3 || g[0] < '0' || g[0] > '9' || g[1] < '0' || g[1] > '9' || g[2] < '0' || g[2] > '9' {
			return 0, errors.New("groups must be three digits")
		}
		d := uint64(g[0]-'0')*100 + uint64(g[1]-'0')*10 + uint64(g[2]-'0')
		if n > (1<<64-1-d)/1000 {
			return 0, errors.New("out of range")
		}
		n = n*1000 + d
	}
	// Reject non-canonical forms such as "x000/005".
	if FormatTileIndex(n) != s {
		return 0, errors.New("not in canonical form")
	}
	return n, nil
}

// PartialWidth returns the width of the rightmost, partial tile at level L of
// a tree of the given size: floor(size / 256^L) mod 256. Zero means the level
// has no partial tile.
func PartialWidth(level uint8, size uint64) uint16 {
	return uint16(levelSize(level, size) % TileWidth)
}

// levelSize is the number of hashes at tree level 8·L in a tree of size.
func levelSize(level uint8, size uint64) uint64 {
	shift := uint(level) * TileHeight
	if shift >= 64 {
		return 0
	}
	return size >> shift
}

// TileInTree reports whether tile t (of any width) is part of the tree of
// the given size: its hashes N·256 … N·256+W-1 at level 8·L all exist.
// A partial tile whose width is less than the current rightmost width is
// part of the tree: it is a prefix that a smaller checkpoint published.
func TileInTree(t Tile, size uint64) bool {
	if t.Width == 0 || t.Width > TileWidth {
		return false
	}
	n, w := levelSize(t.Level, size), uint64(t.Width)
	return w <= n && t.Index <= (n-w)/TileWidth
}

// TileNodes returns the first hash of tile t as a node: tree level 8·L,
// index N·256.
func TileNodes(t Tile) (level uint, first uint64) {
	return uint(t.Level) * TileHeight, t.Index * TileWidth
}
