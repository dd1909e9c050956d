package miniotest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckLog checks a c2sp.org/tlog-tiles log at base (a URL prefix: a
// public bucket, a mirror) with golang.org/x/mod/sumdb alone, as an
// independent client would: the checkpoint verifies with vkey; every
// entry bundle is read and its entries hashed into a tree whose root must
// be the signed one; and every hash tile of that tree (full ones and the
// partial ones of its size) must be the bytes x/mod computes. It returns
// the checkpoint's size and the entries.
func CheckLog(t testing.TB, base, vkey string) (uint64, [][]byte) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	raw := get(t, base+"/checkpoint")
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint at %s does not verify: %v\n%s", base, err, raw)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	var hashes []tlog.Hash // stored hashes, in x/mod's order
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	var entries [][]byte
	for k := uint64(0); k*256 < size; k++ {
		w := min(256, size-k*256)
		path := base + "/" + c2spPath(tlog.Tile{H: 8, L: -1, N: int64(k), W: int(w)})
		b := get(t, path)
		for i := uint64(0); i < w; i++ {
			if len(b) < 2 || len(b) < 2+int(b[0])<<8|int(b[1]) {
				t.Fatalf("%s: truncated at entry %d", path, i)
			}
			l := int(b[0])<<8 | int(b[1])
			e := b[2 : 2+l]
			b = b[2+l:]
			add, err := tlog.StoredHashes(int64(len(entries)), e, hr)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, add...)
			entries = append(entries, bytes.Clone(e))
		}
		if len(b) != 0 {
			t.Fatalf("%s: %d bytes after its %d entries", path, len(b), w)
		}
	}
	got, err := tlog.TreeHash(int64(size), hr)
	if err != nil {
		t.Fatal(err)
	}
	if got != root {
		t.Fatalf("the entries at %s hash to %v, the checkpoint says %v", base, got, root)
	}
	for level := 0; size>>(8*level) > 0; level++ {
		width := size >> (8 * level)
		for k := uint64(0); k*256 < width; k++ {
			w := min(256, width-k*256)
			tile := tlog.Tile{H: 8, L: level, N: int64(k), W: int(w)}
			want, err := tlog.ReadTileData(tile, hr)
			if err != nil {
				t.Fatal(err)
			}
			path := base + "/" + c2spPath(tile)
			if b := get(t, path); !bytes.Equal(b, want) {
				t.Fatalf("%s is not the tile x/mod computes from the entries", path)
			}
		}
	}
	return size, entries
}

// c2spPath is x/mod's path of a tile (tile/8/L/N, tile/8/data/N, with
// the height) in c2sp.org/tlog-tiles (height 8 implied, data bundles
// under entries/).
func c2spPath(t tlog.Tile) string {
	p := t.Path()
	if t.L < 0 {
		return strings.Replace(p, "tile/8/data/", "tile/entries/", 1)
	}
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

func get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return b
}
