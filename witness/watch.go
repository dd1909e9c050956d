package witness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Watcher follows a c2sp.org/tlog-tiles log that does not push to this
// witness: it fetches the log's checkpoint, builds the consistency proof
// from the witness's cosigned size itself, from the log's tiles, and puts
// both through the checks of AddCheckpoint. It keeps more evidence than
// add-checkpoint can: a proof built from tiles that match the log's signed
// checkpoint, and fails against the checkpoint cosigned before, is the log
// contradicting itself, so it is kept as a consistency-proof-fails record,
// where a failing proof a stranger posts is only refused.
type Watcher struct {
	W *Witness
	// LogURL is the log's tlog-tiles prefix.
	LogURL string
	// HTTP is the client; it should carry a timeout.
	HTTP *http.Client

	mu    sync.Mutex
	tiles map[proofs.Tile][]byte // full tiles, immutable; bounded
}

// maxCachedTiles bounds the watcher's tile cache (8 KiB each).
const maxCachedTiles = 4096

// ErrStale: the log served a checkpoint smaller than the one cosigned (a
// stale cache, say); nothing to do until it catches up.
var ErrStale = errors.New("the log's checkpoint is older than the one cosigned")

// Step does one round. It returns the size cosigned, or an error: ErrBadProof
// or ErrFork (wrapped) when the log is inconsistent with what the witness
// cosigned — evidence is then kept —, or another error when the log could
// not be read or served tiles that do not match its own checkpoint.
func (wt *Watcher) Step(ctx context.Context) (uint64, error) {
	note, err := wt.get(ctx, "checkpoint")
	if err != nil {
		return 0, err
	}
	n, err := signer.ParseNote(note)
	if err != nil {
		return 0, fmt.Errorf("the log's checkpoint: %w", err)
	}
	cp, err := signer.ParseCheckpoint(n.Text)
	if err != nil {
		return 0, fmt.Errorf("the log's checkpoint: %w", err)
	}
	logKey, ok := wt.W.Logs()[cp.Origin]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownLog, cp.Origin)
	}
	if _, err := signer.OpenNote(note, logKey.Verifier); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	old, _, err := wt.W.State(cp.Origin)
	if err != nil {
		return 0, err
	}
	req := Request{OldSize: old, Checkpoint: note}
	switch {
	case cp.Size < old:
		return old, fmt.Errorf("%w: log at %d, cosigned %d", ErrStale, cp.Size, old)
	case old > 0 && cp.Size > old:
		// Tiles are authenticated against the checkpoint's root as they
		// are read: tiles that do not match it are a serving problem
		// (ErrTileMismatch), not evidence. A proof built from tiles that
		// do match, and fails, is the log's own data contradicting what
		// it signed before.
		th := proofs.TileHashes{Size: cp.Size, Root: &cp.Hash, Reader: tileReader{ctx, wt}}
		if req.Proof, err = proofs.ProveConsistency(old, cp.Size, th); err != nil {
			return 0, fmt.Errorf("couldn't build the consistency proof from the log's tiles: %w", err)
		}
	}
	// fromLog: the proof is the log's own data, so a failing one is
	// evidence (a stranger's proof sent to add-checkpoint is not).
	if _, err := wt.W.add(ctx, req.Format(), addOpts{fromLog: true}); err != nil {
		return old, err
	}
	return cp.Size, nil
}

func (wt *Watcher) get(ctx context.Context, path string) ([]byte, error) {
	u := strings.TrimSuffix(wt.LogURL, "/") + "/" + path
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := wt.HTTP.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return b, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %w", u, errNotFound)
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
}

var errNotFound = errors.New("404 Not Found")

// tileReader fetches tiles over HTTP, caching full ones.
type tileReader struct {
	ctx context.Context
	wt  *Watcher
}

func (r tileReader) ReadTiles(tiles []proofs.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		r.wt.mu.Lock()
		b, ok := r.wt.tiles[t]
		r.wt.mu.Unlock()
		if ok {
			out[i] = b
			continue
		}
		b, err := r.wt.get(r.ctx, t.Path())
		if errors.Is(err, errNotFound) && !t.Full() {
			// The log has grown and dropped the partial tile (logs may,
			// once the full tile exists): its first Width hashes are the
			// full tile's.
			full := t
			full.Width = proofs.TileWidth
			if b, err = r.wt.get(r.ctx, full.Path()); err == nil && len(b) == proofs.TileWidth*proofs.HashSize {
				b = b[:int(t.Width)*proofs.HashSize]
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
		if t.Full() && len(b) == proofs.TileWidth*proofs.HashSize {
			r.wt.mu.Lock()
			if r.wt.tiles == nil || len(r.wt.tiles) >= maxCachedTiles {
				r.wt.tiles = map[proofs.Tile][]byte{}
			}
			r.wt.tiles[t] = b
			r.wt.mu.Unlock()
		}
	}
	return out, nil
}

// Run steps every interval until ctx ends. Inconsistency (ErrBadProof,
// ErrFork) ends it with that error; other errors are logged and retried.
func (wt *Watcher) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		size, err := wt.Step(ctx)
		switch {
		case errors.Is(err, ErrBadProof), errors.Is(err, ErrFork):
			return err
		case err != nil:
			wt.W.logger.Warn("watch: couldn't witness the log this round", "log", wt.LogURL, "err", err)
		default:
			wt.W.logger.Debug("watch: cosigned", "log", wt.LogURL, "size", size)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
