package witness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tlogai/tlog/client"
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

	once    sync.Once
	fetcher *client.TileFetcher // of LogURL; caches full tiles
	err     error
}

// tiles returns the watcher's tile fetcher.
func (wt *Watcher) tiles() (*client.TileFetcher, error) {
	wt.once.Do(func() { wt.fetcher, wt.err = client.NewTileFetcher(wt.LogURL, wt.HTTP) })
	return wt.fetcher, wt.err
}

// ErrStale: the log served a checkpoint smaller than the one cosigned (a
// stale cache, say); nothing to do until it catches up.
var ErrStale = errors.New("the log's checkpoint is older than the one cosigned")

// Step does one round. It returns the size cosigned, or an error: ErrBadProof
// or ErrFork (wrapped) when the log is inconsistent with what the witness
// cosigned — evidence is then kept —, or another error when the log could
// not be read or served tiles that do not match its own checkpoint.
func (wt *Watcher) Step(ctx context.Context) (uint64, error) {
	f, err := wt.tiles()
	if err != nil {
		return 0, err
	}
	note, err := f.Checkpoint(ctx)
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
		th := proofs.TileHashes{Size: cp.Size, Root: &cp.Hash, Reader: f.Reader(ctx)}
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
