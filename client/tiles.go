package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/tlogai/tlog/proofs"
)

// ErrNotFound matches (errors.Is) the *StatusError of a 404 answer, e.g.
// for a tile the log does not serve.
var ErrNotFound = errors.New("not found")

// TileFetcher reads a c2sp.org/tlog-tiles log over HTTP: its checkpoint,
// hash tiles and entry bundles, every call with a context. Full tiles are
// immutable and cached (bounded); partial ones are not. Nothing it returns
// is authenticated: proofs.TileHashes with a verified root does that.
// It is safe for concurrent use.
type TileFetcher struct {
	base      *url.URL
	hc        *http.Client
	userAgent string

	mu    sync.Mutex
	cache map[proofs.Tile][]byte // full hash tiles
}

// maxCachedTiles bounds the cache of full hash tiles (8 KiB each: 32 MiB).
const maxCachedTiles = 4096

// maxBundle bounds an entry bundle: 256 entries of at most 64 KiB.
const maxBundle = proofs.TileWidth * (2 + proofs.MaxEntrySize)

// NewTileFetcher returns a fetcher of the log whose tlog-tiles prefix is
// logURL, with hc (nil: a client with DefaultTimeout).
func NewTileFetcher(logURL string, hc *http.Client) (*TileFetcher, error) {
	c, err := New(logURL, WithHTTPClient(orDefault(hc)))
	if err != nil {
		return nil, err
	}
	return c.tiles, nil
}

func orDefault(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Timeout: DefaultTimeout}
	}
	return hc
}

// Checkpoint fetches the log's signed checkpoint note (not verified).
func (f *TileFetcher) Checkpoint(ctx context.Context) ([]byte, error) {
	return f.fetch(ctx, "checkpoint", 1<<20)
}

// Tile fetches a hash tile. A partial tile the log no longer serves (it
// may drop one once the full tile exists) is cut from the full tile. The
// bytes may be shared with the cache: do not modify them.
func (f *TileFetcher) Tile(ctx context.Context, t proofs.Tile) ([]byte, error) {
	if t.Full() {
		f.mu.Lock()
		b, ok := f.cache[t]
		f.mu.Unlock()
		if ok {
			return b, nil
		}
	}
	b, err := f.fetch(ctx, t.Path(), proofs.TileWidth*proofs.HashSize)
	if errors.Is(err, ErrNotFound) && !t.Full() {
		full := t
		full.Width = proofs.TileWidth
		if fb, ferr := f.Tile(ctx, full); ferr == nil {
			return fb[: int(t.Width)*proofs.HashSize : int(t.Width)*proofs.HashSize], nil
		}
	}
	if err != nil {
		return nil, err
	}
	if len(b) != int(t.Width)*proofs.HashSize {
		return nil, fmt.Errorf("%s is %d bytes, want %d", t.Path(), len(b), int(t.Width)*proofs.HashSize)
	}
	if t.Full() {
		f.mu.Lock()
		if f.cache == nil || len(f.cache) >= maxCachedTiles {
			f.cache = map[proofs.Tile][]byte{}
		}
		f.cache[t] = b
		f.mu.Unlock()
	}
	return b, nil
}

// EntryBundle fetches the entry bundle of t (level 0) and splits it into
// its t.Width entries. A partial bundle the log no longer serves is cut
// from the full one.
func (f *TileFetcher) EntryBundle(ctx context.Context, t proofs.Tile) ([][]byte, error) {
	b, err := f.fetch(ctx, t.EntriesPath(), maxBundle)
	if errors.Is(err, ErrNotFound) && !t.Full() {
		full := t
		full.Width = proofs.TileWidth
		if fb, ferr := f.EntryBundle(ctx, full); ferr == nil {
			return fb[:t.Width], nil
		}
	}
	if err != nil {
		return nil, err
	}
	entries, err := proofs.ParseEntryBundle(b, int(t.Width))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.EntriesPath(), err)
	}
	return entries, nil
}

// Reader returns a proofs.TileReader that fetches with ctx, for
// proofs.TileHashes.
func (f *TileFetcher) Reader(ctx context.Context) proofs.TileReader {
	return tileReader{ctx, f}
}

type tileReader struct {
	ctx context.Context
	f   *TileFetcher
}

func (r tileReader) ReadTiles(tiles []proofs.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.f.Tile(r.ctx, t)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (f *TileFetcher) fetch(ctx context.Context, path string, limit int64) ([]byte, error) {
	u := *f.base
	u.Path += "/" + path
	return httpGet(ctx, f.hc, f.userAgent, u.String(), limit)
}
