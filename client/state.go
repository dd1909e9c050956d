package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// maxSeen bounds the checkpoints remembered as proven consistent.
const maxSeen = 256

// loadState reads and verifies the state file; a missing one is an empty
// state.
func (c *Client) loadState() error {
	note, err := os.ReadFile(c.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: couldn't read the state file: %w", err)
	}
	cp, _, err := c.open(note)
	if err != nil {
		return fmt.Errorf("client: the state file %s does not verify with the log's key: %w", c.stateFile, err)
	}
	c.kept, c.keptNote = cp, note
	c.remember(cp, note)
	return nil
}

// Verified returns the kept checkpoint and its signed note; ok is false
// while the client has verified none.
func (c *Client) Verified() (cp signer.Checkpoint, note []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kept, c.keptNote, c.keptNote != nil
}

// Latest fetches the log's checkpoint, verifies it and proves it
// consistent with the kept one, which it then replaces.
func (c *Client) Latest(ctx context.Context) (signer.Checkpoint, error) {
	if c.open == nil {
		return signer.Checkpoint{}, ErrNoLogKey
	}
	note, err := c.tiles.Checkpoint(ctx)
	if err != nil {
		return signer.Checkpoint{}, err
	}
	return c.VerifyCheckpoint(ctx, note)
}

// VerifyCheckpoint verifies a signed checkpoint note of this log — its
// signature (and witness quorum with a policy), and its consistency with
// the kept checkpoint, fetching a consistency proof when their sizes
// differ — and keeps it if it is newer. It returns an *InconsistentError
// when the log contradicts the kept checkpoint, leaving the state as it
// was. Without a log key it only parses the note (see the package doc).
func (c *Client) VerifyCheckpoint(ctx context.Context, note []byte) (signer.Checkpoint, error) {
	cp, _, verified, err := c.checkpoint(ctx, note)
	if err == nil && !verified {
		err = ErrNoLogKey
	}
	return cp, err
}

// checkpoint is VerifyCheckpoint that, without a key, returns the parsed
// checkpoint with verified false instead of failing.
func (c *Client) checkpoint(ctx context.Context, note []byte) (cp signer.Checkpoint, n *signer.Note, verified bool, err error) {
	if c.open == nil {
		if n, err = signer.ParseNote(note); err != nil {
			return cp, nil, false, fmt.Errorf("the log's checkpoint: %w", err)
		}
		cp, err = signer.ParseCheckpoint(n.Text)
		if err != nil {
			return cp, nil, false, fmt.Errorf("the log's checkpoint: %w", err)
		}
		return cp, n, false, nil
	}
	if cp, n, err = c.open(note); err != nil {
		return cp, nil, false, fmt.Errorf("the log's checkpoint does not verify: %w", err)
	}
	if cp.Size == 0 && cp.Hash != proofs.EmptyRoot {
		c.mu.Lock()
		kept := c.keptNote
		c.mu.Unlock()
		return cp, nil, false, &InconsistentError{Kept: kept, Seen: note, Reason: fmt.Sprintf("a signed empty tree with root %x", cp.Hash[:])}
	}
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	c.mu.Lock()
	kept, keptNote := c.kept, c.keptNote
	prior, seen := c.seen[cp.Size]
	c.mu.Unlock()
	switch {
	case seen && prior.cp.Hash == cp.Hash:
		return cp, n, true, nil
	case seen:
		return cp, nil, false, &InconsistentError{Kept: prior.note, Seen: note, Reason: fmt.Sprintf("two roots for tree size %d", cp.Size)}
	case keptNote != nil && kept.Size != cp.Size:
		lo, hi := kept, cp
		if cp.Size < kept.Size {
			lo, hi = cp, kept
		}
		if err := c.checkConsistency(ctx, lo, hi); err != nil {
			var inc *InconsistentError
			if errors.As(err, &inc) {
				inc.Kept, inc.Seen = keptNote, note
			}
			return cp, nil, false, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if keptNote == nil || cp.Size > kept.Size {
		if c.stateFile != "" {
			// Before the client acts on it: a crash after this leaves the
			// new checkpoint kept, which has been proven consistent.
			if err := keyfile.Replace(c.stateFile, note); err != nil {
				return cp, nil, false, fmt.Errorf("client: couldn't save the state file: %w", err)
			}
		}
		c.kept, c.keptNote = cp, note
	}
	c.remember(cp, note)
	return cp, n, true, nil
}

// seenCheckpoint is a checkpoint proven consistent with the kept one.
type seenCheckpoint struct {
	cp   signer.Checkpoint
	note []byte
}

// remember adds a verified checkpoint to c.seen; c.mu is held.
func (c *Client) remember(cp signer.Checkpoint, note []byte) {
	if len(c.seen) >= maxSeen {
		clear(c.seen)
		if c.keptNote != nil {
			c.seen[c.kept.Size] = seenCheckpoint{c.kept, c.keptNote}
		}
	}
	c.seen[cp.Size] = seenCheckpoint{cp, note}
}

// checkConsistency fetches and checks the proof that hi's tree extends
// lo's. A proof that fails, and fails again when built from the log's
// tiles, is an *InconsistentError (its notes are filled in by the
// caller); failing to get one is a plain error.
func (c *Client) checkConsistency(ctx context.Context, lo, hi signer.Checkpoint) error {
	if lo.Size == 0 {
		return nil // every tree extends the empty one (its root was checked)
	}
	var p wire.ConsistencyProof
	q := url.Values{"old": {strconv.FormatUint(lo.Size, 10)}, "new": {strconv.FormatUint(hi.Size, 10)}}
	if err := c.getJSON(ctx, "/api/v1/proofs/consistency", q, &p); err != nil {
		return fmt.Errorf("couldn't get a consistency proof %d → %d: %w", lo.Size, hi.Size, err)
	}
	if p.OldSize != lo.Size || p.NewSize != hi.Size {
		return fmt.Errorf("the log answered a consistency proof for sizes %d → %d, not %d → %d", p.OldSize, p.NewSize, lo.Size, hi.Size)
	}
	perr := proofs.CheckConsistency(p.Hashes, lo.Size, hi.Size, lo.Hash, hi.Hash)
	if perr == nil {
		return nil
	}
	// A proof anyone on the path could have spoiled is not evidence by
	// itself: build it again from the log's own hash tiles, authenticated
	// against hi's signed root. If that one verifies, only the answer was
	// wrong and the trees are consistent.
	th := proofs.TileHashes{Size: hi.Size, Root: &hi.Hash, Reader: c.tiles.Reader(ctx)}
	tp, err := proofs.ProveConsistency(lo.Size, hi.Size, th)
	if err != nil {
		return &InconsistentError{Reason: fmt.Sprintf("tree %d does not extend tree %d: %v (and the log's tiles could not settle it: %v)", hi.Size, lo.Size, perr, err)}
	}
	if err := proofs.CheckConsistency(tp, lo.Size, hi.Size, lo.Hash, hi.Hash); err != nil {
		return &InconsistentError{Reason: fmt.Sprintf("tree %d does not extend tree %d: the log's own tiles, authenticated to its signed root, say so: %v", hi.Size, lo.Size, err)}
	}
	return nil
}

// Consistent checks that the log's latest checkpoint extends old (a signed
// checkpoint note kept elsewhere, e.g. by a cron job), without touching
// the client's own state unless the latest is newer. It returns the
// latest checkpoint's note.
func (c *Client) Consistent(ctx context.Context, old []byte) (signer.Checkpoint, []byte, error) {
	if c.open == nil {
		return signer.Checkpoint{}, nil, ErrNoLogKey
	}
	oldCP, _, err := c.open(old)
	if err != nil {
		return signer.Checkpoint{}, nil, fmt.Errorf("the kept checkpoint does not verify: %w", err)
	}
	note, err := c.tiles.Checkpoint(ctx)
	if err != nil {
		return signer.Checkpoint{}, nil, err
	}
	cur, _, err := c.open(note)
	if err != nil {
		return signer.Checkpoint{}, nil, fmt.Errorf("the log's checkpoint does not verify: %w", err)
	}
	inconsistent := func(reason string) error { return &InconsistentError{Kept: old, Seen: note, Reason: reason} }
	switch {
	case cur.Size < oldCP.Size:
		return cur, note, inconsistent(fmt.Sprintf("the log's tree size %d is smaller than the kept %d", cur.Size, oldCP.Size))
	case cur.Size == oldCP.Size && cur.Hash != oldCP.Hash:
		return cur, note, inconsistent(fmt.Sprintf("two different roots for tree size %d", cur.Size))
	case cur.Size > oldCP.Size:
		if err := c.checkConsistency(ctx, oldCP, cur); err != nil {
			var inc *InconsistentError
			if errors.As(err, &inc) {
				inc.Kept, inc.Seen = old, note
			}
			return cur, note, err
		}
	}
	if _, err := c.VerifyCheckpoint(ctx, note); err != nil {
		return cur, note, err
	}
	return cur, note, nil
}
