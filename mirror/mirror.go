// Package mirror is a read replica of a c2sp.org/tlog-tiles log that never
// trusts its source. It follows any tlog-tiles log (tlog's own, Tessera's),
// and keeps only what it has verified:
//
//   - every checkpoint is opened with the log's key or a c2sp.org/tlog-policy
//     witness policy (Config.Open) before anything else is read;
//   - the new checkpoint is proven consistent with the one the mirror kept,
//     from the source's hash tiles authenticated against the new root
//     (proofs.TileHashes): the old root is recomputed from them;
//   - every hash tile is authenticated against the new root, and every entry
//     bundle's leaf hashes must equal its authenticated level-0 tile, before
//     anything is written;
//   - a sync is one Pebble batch, committed with the new checkpoint: a sync
//     that fails stores nothing.
//
// A checkpoint inconsistent with the kept one, or a tile or bundle that does
// not match the signed root, is a *ForkError: the mirror stops with the
// evidence. A source that cannot be reached is retried (Run) while the mirror
// serves what it has.
//
// # Store
//
// The Pebble database under Config.Dir holds, as key → value:
//
//	"checkpoint"                  → the signed checkpoint note, as verified
//	"tile/<L>/<N>"                → a full hash tile, never rewritten
//	"tile/entries/<N>"            → a full entry bundle, never rewritten
//	"tile/<L>/<N>.p/<W>"          → the partial tiles of the kept size only
//	"tile/entries/<N>.p/<W>"      → the partial bundle of the kept size only
//
// Keys are the tile paths of c2sp.org/tlog-tiles and values the bytes the
// source served (bundles are re-encoded from their parsed entries, which
// gives the same bytes). Partial tiles of an older size are deleted in the
// batch that stores the new size; a request for one is cut from the wider
// tile. Open re-verifies the stored checkpoint's signature and that the
// stored right-edge tiles hash to its root.
//
// # Serving
//
// Handler serves GET /checkpoint, /tile/… (byte-identical to the source),
// and, built from the stored tiles, /api/v1/proofs/inclusion?index=N[&size=S],
// /api/v1/proofs/consistency?old=A[&new=B] and
// /api/v1/entries/<i>/tlog-proof in the JSON and file formats of tlog serve.
package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sync/errgroup"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Config configures a Mirror.
type Config struct {
	// Source reads the log being mirrored.
	Source *client.TileFetcher
	// Open verifies a signed checkpoint: signer.OpenCheckpoint with the
	// log's key, or (*signer.Policy).Check. Required.
	Open func(note []byte) (signer.Checkpoint, *signer.Note, error)
	// Dir holds the mirror's Pebble database.
	Dir string
	// Logger gets structured logs; nil discards them.
	Logger *slog.Logger
	// Progress, when set, gets a progress line about once a second while
	// a sync catches up, and one when it has read every new entry.
	Progress io.Writer
}

// ForkError is the evidence that the source contradicts what it signed: a
// checkpoint inconsistent with the kept one, or a tile or bundle that does
// not hash to the root of the checkpoint it was read for.
type ForkError struct {
	Reason string
	// Kept is the mirror's kept checkpoint note (nil for a new mirror).
	Kept []byte
	// Source is the source's checkpoint note that contradicts it.
	Source []byte
}

func (e *ForkError) Error() string { return "source log forked: " + e.Reason }

// Evidence is the text of the evidence file: the reason and both signed
// checkpoints, verbatim.
func (e *ForkError) Evidence() string {
	return fmt.Sprintf("reason: %s\n\nkept checkpoint:\n%s\nsource checkpoint:\n%s", e.Reason, e.Kept, e.Source)
}

// Mirror is an open mirror. Its methods are safe for concurrent use; Sync
// calls are serialized.
type Mirror struct {
	cfg Config
	db  *pebble.DB
	log *slog.Logger

	syncMu sync.Mutex

	mu   sync.RWMutex
	cp   signer.Checkpoint // zero before the first sync
	note []byte            // nil before the first sync
}

var keyCheckpoint = []byte("checkpoint")

// Open opens (or creates) the mirror's store in cfg.Dir and re-verifies
// what it kept: the checkpoint with cfg.Open, and its right edge from the
// stored tiles against its root.
func Open(cfg Config) (*Mirror, error) {
	if cfg.Source == nil || cfg.Open == nil || cfg.Dir == "" {
		return nil, errors.New("mirror: Source, Open and Dir are required")
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	db, err := pebble.Open(cfg.Dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return nil, fmt.Errorf("mirror: open %s: %w", cfg.Dir, err)
	}
	m := &Mirror{cfg: cfg, db: db, log: lg}
	note, err := m.get(keyCheckpoint)
	if err == nil {
		cp, _, verr := cfg.Open(note)
		if verr != nil {
			db.Close()
			return nil, fmt.Errorf("mirror: the stored checkpoint does not verify: %w", verr)
		}
		if cp.Size > 0 {
			root, herr := proofs.TreeHash(cp.Size, m.storedHashes(cp))
			if herr == nil && root != cp.Hash {
				herr = fmt.Errorf("root %x, want %x", root, cp.Hash)
			}
			if herr != nil {
				db.Close()
				return nil, fmt.Errorf("mirror: the stored tiles do not match the stored checkpoint: %w", herr)
			}
		}
		m.cp, m.note = cp, note
	} else if !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, err
	}
	return m, nil
}

// Close closes the store.
func (m *Mirror) Close() error { return m.db.Close() }

// Checkpoint returns the kept checkpoint and its note; ok is false before
// the first successful sync.
func (m *Mirror) Checkpoint() (cp signer.Checkpoint, note []byte, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp, m.note, m.note != nil
}

func (m *Mirror) get(key []byte) ([]byte, error) {
	v, closer, err := m.db.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// Sync reads the source's checkpoint, verifies it and its consistency with
// the kept one, and stores every new tile and bundle with it. It returns
// the new tree size. An error is a *ForkError (stop), or anything else
// (the source could not be read or its checkpoint does not verify: retry);
// either way nothing was stored.
func (m *Mirror) Sync(ctx context.Context) (uint64, error) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	kept, keptNote, _ := m.Checkpoint()
	note, err := m.cfg.Source.Checkpoint(ctx)
	if err != nil {
		return kept.Size, fmt.Errorf("fetching the checkpoint: %w", err)
	}
	cp, _, err := m.cfg.Open(note)
	if err != nil {
		return kept.Size, fmt.Errorf("the source's checkpoint does not verify: %w", err)
	}
	fork := func(format string, args ...any) *ForkError {
		return &ForkError{Reason: fmt.Sprintf(format, args...), Kept: keptNote, Source: note}
	}
	r := &fetchReader{ctx: ctx, f: m.cfg.Source, tiles: map[proofs.Tile][]byte{}}
	th := proofs.TileHashes{Size: cp.Size, Root: &cp.Hash, Reader: r}
	switch {
	case cp.Size == 0 && cp.Hash != proofs.EmptyRoot:
		return kept.Size, fork("the source signed an empty tree with root %x", cp.Hash)
	case keptNote == nil || kept.Size == 0:
	case cp.Size == kept.Size && cp.Hash == kept.Hash:
	case cp.Size < kept.Size:
		// An older checkpoint (a lagging cache): it must be a prefix of
		// ours, which our own tiles tell.
		root, err := proofs.TreeHash(cp.Size, m.storedHashes(kept))
		if err != nil {
			return kept.Size, fmt.Errorf("reading the stored tiles: %w", err)
		}
		if root != cp.Hash {
			return kept.Size, fork("the source's checkpoint of size %d has root %x, but the kept tree of size %d has %x at that size", cp.Size, cp.Hash, kept.Size, root)
		}
		m.log.Info("source is behind the mirror", "source_size", cp.Size, "size", kept.Size)
		return kept.Size, nil
	default:
		root, err := proofs.TreeHash(kept.Size, th)
		if errors.Is(err, proofs.ErrTileMismatch) {
			return kept.Size, fork("tiles served for size %d do not match its signed root: %v", cp.Size, err)
		}
		if err != nil {
			return kept.Size, fmt.Errorf("reading tiles for the consistency check: %w", err)
		}
		if root != kept.Hash {
			return kept.Size, fork("the source's tree of size %d has root %x at size %d, but the kept checkpoint says %x", cp.Size, root, kept.Size, kept.Hash)
		}
	}
	if cp.Size == kept.Size && keptNote != nil {
		if !bytes.Equal(note, keptNote) { // same tree, other signatures (e.g. new cosignatures)
			m.mu.Lock()
			err := m.db.Set(keyCheckpoint, note, pebble.Sync)
			if err == nil {
				m.cp, m.note = cp, note
			}
			m.mu.Unlock()
			if err != nil {
				return kept.Size, err
			}
		}
		return cp.Size, nil
	}
	b := m.db.NewBatch()
	defer b.Close()
	if err := m.fetchNew(ctx, b, r, th, kept.Size, keptNote != nil, cp.Size, fork); err != nil {
		return kept.Size, err
	}
	if err := b.Set(keyCheckpoint, note, nil); err != nil {
		return kept.Size, err
	}
	// Readers hold mu.RLock across the state and the store reads, so none
	// sees the new store with the old state.
	m.mu.Lock()
	err = b.Commit(pebble.Sync)
	if err == nil {
		m.cp, m.note = cp, note
	}
	m.mu.Unlock()
	if err != nil {
		return kept.Size, fmt.Errorf("storing size %d: %w", cp.Size, err)
	}
	m.log.Info("mirrored", "size", cp.Size, "from", kept.Size)
	return cp.Size, nil
}

// chunkTiles is how many tiles of one level are authenticated at once.
const chunkTiles = 64

// fetchNew authenticates and adds to b every tile and bundle of the tree of
// newSize that the tree of oldSize did not have whole, and deletes the old
// size's partial ones.
func (m *Mirror) fetchNew(ctx context.Context, b *pebble.Batch, r *fetchReader, th proofs.TileHashes, oldSize uint64, hadOld bool, newSize uint64, fork func(string, ...any) *ForkError) error {
	start, last := time.Now(), time.Now()
	for level := uint8(0); levelSize(level, newSize) > 0; level++ {
		oldN, newN := levelSize(level, oldSize), levelSize(level, newSize)
		if hadOld && oldN%proofs.TileWidth != 0 {
			old := proofs.Tile{Level: level, Index: oldN / proofs.TileWidth, Width: uint16(oldN % proofs.TileWidth)}
			b.Delete([]byte(old.Path()), nil)
			if level == 0 {
				b.Delete([]byte(old.EntriesPath()), nil)
			}
		}
		for n := oldN / proofs.TileWidth; n*proofs.TileWidth < newN; n += chunkTiles {
			var tiles []proofs.Tile
			var ids []proofs.NodeID
			for k := n; k < n+chunkTiles && k*proofs.TileWidth < newN; k++ {
				t := proofs.Tile{Level: level, Index: k, Width: uint16(min(proofs.TileWidth, newN-k*proofs.TileWidth))}
				tiles = append(tiles, t)
				ids = append(ids, proofs.NodeID{Level: uint(level) * proofs.TileHeight, Index: k * proofs.TileWidth})
			}
			bundles, err := prefetch(ctx, m.cfg.Source, r, tiles)
			if err != nil {
				if errors.Is(err, proofs.ErrBadBundle) {
					return fork("%v", err)
				}
				return err
			}
			if _, err := th.ReadHashes(ids); err != nil {
				if errors.Is(err, proofs.ErrTileMismatch) {
					return fork("tiles served for size %d do not match its signed root: %v", newSize, err)
				}
				return fmt.Errorf("reading tiles: %w", err)
			}
			for i, t := range tiles {
				tb := r.tiles[t]
				if err := m.put(b, t.Path(), t.Full(), tb, fork); err != nil {
					return err
				}
				if level == 0 {
					entries := bundles[i]
					bundle := make([]byte, 0, len(entries)*64)
					for k, e := range entries {
						h := proofs.HashLeaf(e)
						if !bytes.Equal(h[:], tb[k*proofs.HashSize:(k+1)*proofs.HashSize]) {
							return fork("entry %d of %s does not hash to its leaf in %s, which matches the signed root", t.Index*proofs.TileWidth+uint64(k), t.EntriesPath(), t.Path())
						}
						bundle = append(bundle, byte(len(e)>>8), byte(len(e)))
						bundle = append(bundle, e...)
					}
					if err := m.put(b, t.EntriesPath(), t.Full(), bundle, fork); err != nil {
						return err
					}
				}
				delete(r.tiles, t) // higher levels stay: they authenticate the next chunk
			}
			if done := min(newSize, (n+chunkTiles)*proofs.TileWidth); m.cfg.Progress != nil && level == 0 && (time.Since(last) >= time.Second || done == newSize) {
				last = time.Now()
				fmt.Fprintf(m.cfg.Progress, "mirror: %d/%d entries (%.0f entries/s)\n", done, newSize, float64(done-oldSize)/time.Since(start).Seconds())
			}
		}
	}
	return nil
}

// put adds a tile to b; a full tile already stored with other bytes is
// refused, as full tiles are immutable.
func (m *Mirror) put(b *pebble.Batch, path string, full bool, data []byte, fork func(string, ...any) *ForkError) error {
	if full {
		old, err := m.get([]byte(path))
		switch {
		case err == nil && !bytes.Equal(old, data):
			return fork("%s differs from the full tile the mirror stored", path)
		case err == nil:
			return nil
		case !errors.Is(err, pebble.ErrNotFound):
			return err
		}
	}
	return b.Set([]byte(path), data, nil)
}

// levelSize is the number of hashes at tree level 8·L of a tree of size.
func levelSize(level uint8, size uint64) uint64 {
	if uint(level)*proofs.TileHeight >= 64 {
		return 0
	}
	return size >> (uint(level) * proofs.TileHeight)
}

// fetchParallel is how many requests a sync has in flight at once.
const fetchParallel = 8

// prefetch reads the hash tiles (into r, unauthenticated: TileHashes
// checks them next) and, for level 0, the entry bundles of tiles, with
// fetchParallel requests in flight.
func prefetch(ctx context.Context, f *client.TileFetcher, r *fetchReader, tiles []proofs.Tile) ([][][]byte, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallel)
	data := make([][]byte, len(tiles))
	var bundles [][][]byte
	if tiles[0].Level == 0 {
		bundles = make([][][]byte, len(tiles))
	}
	for i, t := range tiles {
		g.Go(func() error {
			b, err := f.Tile(gctx, t)
			if err != nil {
				return fmt.Errorf("reading %s: %w", t.Path(), err)
			}
			data[i] = b
			return nil
		})
		if bundles != nil {
			g.Go(func() error {
				es, err := f.EntryBundle(gctx, t)
				if err != nil {
					return fmt.Errorf("reading %s: %w", t.EntriesPath(), err)
				}
				bundles[i] = es
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, t := range tiles {
		r.tiles[t] = data[i]
	}
	return bundles, nil
}

// fetchReader reads hash tiles from the source for one tree size and keeps
// what it read: those are the bytes TileHashes authenticated.
type fetchReader struct {
	ctx   context.Context
	f     *client.TileFetcher
	tiles map[proofs.Tile][]byte
}

func (r *fetchReader) ReadTiles(tiles []proofs.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if b, ok := r.tiles[t]; ok {
			out[i] = b
			continue
		}
		b, err := r.f.Tile(r.ctx, t)
		if err != nil {
			return nil, err
		}
		r.tiles[t] = b
		out[i] = b
	}
	return out, nil
}

// storedHashes reads node hashes of the tree of cp from the store,
// authenticated against its root.
func (m *Mirror) storedHashes(cp signer.Checkpoint) proofs.TileHashes {
	root := cp.Hash
	return proofs.TileHashes{Size: cp.Size, Root: &root, Reader: storeReader{m, cp}}
}

// storeReader reads stored tiles of the tree of cp; the caller keeps the
// store at cp (holding mu.RLock, or syncMu).
type storeReader struct {
	m  *Mirror
	cp signer.Checkpoint
}

func (r storeReader) ReadTiles(tiles []proofs.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.m.readTile(r.cp, t, false)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// ErrNotStored is returned (wrapped) for a tile the mirror does not have.
var ErrNotStored = errors.New("tile not stored")

// readTile reads a stored hash tile or bundle of the kept tree cp; a
// partial one of an older size is cut from the wider tile stored.
func (m *Mirror) readTile(cp signer.Checkpoint, t proofs.Tile, entries bool) ([]byte, error) {
	path := t.Path
	if entries {
		path = t.EntriesPath
	}
	b, err := m.get([]byte(path()))
	if err == nil || !errors.Is(err, pebble.ErrNotFound) || t.Full() {
		if errors.Is(err, pebble.ErrNotFound) {
			err = fmt.Errorf("%w: %s", ErrNotStored, path())
		}
		return b, err
	}
	wider := t
	wider.Width = uint16(min(proofs.TileWidth, levelSize(t.Level, cp.Size)-t.Index*proofs.TileWidth))
	if !proofs.TileInTree(t, cp.Size) || wider.Width <= t.Width {
		return nil, fmt.Errorf("%w: %s", ErrNotStored, path())
	}
	wb, err := m.readTile(cp, wider, entries)
	if err != nil {
		return nil, err
	}
	if !entries {
		return wb[:int(t.Width)*proofs.HashSize], nil
	}
	off := 0
	for range t.Width {
		if off+2 > len(wb) {
			return nil, fmt.Errorf("stored %s is malformed", wider.EntriesPath())
		}
		off += 2 + (int(wb[off])<<8 | int(wb[off+1]))
	}
	if off > len(wb) {
		return nil, fmt.Errorf("stored %s is malformed", wider.EntriesPath())
	}
	return wb[:off], nil
}

// Run syncs every interval until ctx is done or the source forks. A sync
// that fails otherwise is logged and retried with exponential backoff
// (doubling from one second, at most ten intervals) while the mirror keeps
// serving.
// On a fork it writes the evidence to Dir/evidence-<n>.txt (the first
// unused n) and returns the *ForkError; it returns nil when ctx is done.
func (m *Mirror) Run(ctx context.Context, interval time.Duration) error {
	backoff := time.Duration(0)
	for {
		size, err := m.Sync(ctx)
		var fe *ForkError
		wait := interval
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &fe):
			path, werr := m.WriteEvidence(fe)
			if werr != nil {
				return errors.Join(err, werr)
			}
			m.log.Error("source forked: mirror stopped", "reason", fe.Reason, "evidence", path)
			return fmt.Errorf("%w (evidence in %s)", err, path)
		case err != nil:
			backoff = min(max(2*backoff, time.Second), 10*interval)
			wait = backoff
			m.log.Warn("sync failed; serving what is stored", "err", err, "size", size, "retry_in", wait)
		default:
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// WriteEvidence writes fe's evidence to Dir/evidence-<n>.txt, n the first
// unused number from 1, and returns the path.
func (m *Mirror) WriteEvidence(fe *ForkError) (string, error) {
	for n := 1; ; n++ {
		path := filepath.Join(m.cfg.Dir, fmt.Sprintf("evidence-%d.txt", n))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.WriteString(fe.Evidence())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return path, err
	}
}

// quietPebble discards Pebble's informational logging.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
