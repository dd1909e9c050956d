package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tlogai/tlog/proofs"
)

// ReadTile returns the bytes of hash tile t as c2sp.org/tlog-tiles defines
// them: t.Width concatenated 32-byte hashes of tree level 8·t.Level. A tile
// that the published tree does not contain (beyond its edge, or wider than
// what was published) is ErrNotFound. A partial tile narrower than the
// current rightmost one is served: it is a prefix an earlier checkpoint
// published.
func (l *Log) ReadTile(ctx context.Context, t proofs.Tile) ([]byte, error) {
	return l.readTile(ctx, t, false)
}

// ReadEntryBundle returns entry bundle t: t.Width entries from index
// t.Index·256, each as a big-endian uint16 length and the entry bytes.
// t.Level must be 0. Errors as for ReadTile.
func (l *Log) ReadEntryBundle(ctx context.Context, t proofs.Tile) ([]byte, error) {
	if t.Level != 0 {
		return nil, ErrNotFound
	}
	return l.readTile(ctx, t, true)
}

type tileKey struct {
	entries bool
	level   uint8
	index   uint64
}

func (l *Log) readTile(ctx context.Context, t proofs.Tile, entries bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	if !proofs.TileInTree(t, l.published.Load().Size) {
		return nil, ErrNotFound
	}
	k := tileKey{entries, t.Level, t.Index}
	if t.Full() {
		if b, ok := l.cache.get(k); ok {
			return b, nil
		}
	}
	level, first := proofs.TileNodes(t)
	var (
		lo, hi []byte
		out    []byte
	)
	if entries {
		lo, hi = entryKey(nil, first), entryKey(nil, first+uint64(t.Width))
	} else {
		lo, hi = hashKey(nil, level, first), hashKey(nil, level, first+uint64(t.Width))
		out = make([]byte, 0, int(t.Width)*proofs.HashSize)
	}
	n, err := l.scan(lo, hi, func(i uint64, v []byte) error {
		if entries {
			out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		} else if len(v) != proofs.HashSize {
			return fmt.Errorf("%w: node %d/%d is %d bytes", ErrCorrupt, level, i, len(v))
		}
		out = append(out, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != uint64(t.Width) {
		return nil, fmt.Errorf("%w: %s holds %d of its %d stored items", ErrCorrupt, t.Path(), n, t.Width)
	}
	if t.Full() {
		l.cache.put(k, out)
	}
	return out, nil
}

// scan calls fn for each key in [lo, hi), which must share the prefix of
// lo and end in a consecutive big-endian index, and returns how many keys
// it saw. A gap in the indices is ErrCorrupt.
func (l *Log) scan(lo, hi []byte, fn func(index uint64, value []byte) error) (uint64, error) {
	return scanDB(l.db, lo, hi, fn)
}

func scanDB(db pebble.Reader, lo, hi []byte, fn func(index uint64, value []byte) error) (uint64, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("couldn't read store: %w", err)
	}
	defer it.Close()
	next := binary.BigEndian.Uint64(lo[len(lo)-8:])
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		i := binary.BigEndian.Uint64(key[len(key)-8:])
		if i != next {
			return n, fmt.Errorf("%w: no key %x with index %d", ErrCorrupt, lo[:len(lo)-8], next)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return n, fmt.Errorf("couldn't read store: %w", err)
		}
		if err := fn(i, v); err != nil {
			return n, err
		}
		next++
		n++
	}
	if err := it.Error(); err != nil {
		return n, fmt.Errorf("couldn't read store: %w", err)
	}
	return n, nil
}

// ReadEntry returns the entry at index, if the published tree holds it.
func (l *Log) ReadEntry(ctx context.Context, index uint64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	if index >= l.published.Load().Size {
		return nil, ErrNotFound
	}
	v, err := l.get(entryKey(nil, index))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: entry %d missing", ErrCorrupt, index)
	}
	return v, nil
}

// ReadHashes reads node hashes of the published tree; it implements
// proofs.HashReader. A node the published tree does not contain is
// ErrNotFound. Hashes come from the node cache when there, else from the
// store (and then go into the cache).
func (l *Log) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	size := l.published.Load().Size
	for _, id := range ids {
		if id.Level >= 64 || id.Index >= size>>id.Level {
			return nil, fmt.Errorf("%w: node %d/%d is not in the tree of size %d", ErrNotFound, id.Level, id.Index, size)
		}
	}
	out := make([][]byte, len(ids))
	var missing []proofs.NodeID
	var at []int
	for i, id := range ids {
		if h, ok := l.nodes.get(id); ok {
			out[i] = h[:]
			continue
		}
		missing = append(missing, id)
		at = append(at, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	read, err := l.hashReader().ReadHashes(missing)
	if err != nil {
		return nil, err
	}
	for j, h := range read {
		out[at[j]] = h
		l.nodes.put(missing[j], h)
	}
	return out, nil
}

// hashReader reads any stored node, published or not. For the sequencer's
// recovery and fsck.
func (l *Log) hashReader() proofs.HashReader { return storeHashes{l.db} }

type storeHashes struct{ db pebble.Reader }

func (s storeHashes) ReadHashes(ids []proofs.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var kb [10]byte
	for i, id := range ids {
		v, closer, err := s.db.Get(hashKey(kb[:0], id.Level, id.Index))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("%w: node %d/%d", proofs.ErrMissingHash, id.Level, id.Index)
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read node %d/%d: %w", id.Level, id.Index, err)
		}
		out[i] = append([]byte(nil), v...)
		closer.Close()
	}
	return out, nil
}

// CheckpointAt returns the signed checkpoint of the given tree size: the
// latest one, or one kept in the history (see
// Config.CheckpointHistoryInterval). Sizes never published, or not kept,
// are ErrNotFound.
func (l *Log) CheckpointAt(size uint64) ([]byte, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	p := l.published.Load()
	switch {
	case size == p.Size:
		return p.Note, nil
	case size > p.Size:
		return nil, ErrNotFound
	}
	v, err := l.get(checkpointKey(nil, size))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, ErrNotFound
	}
	return v, nil
}

// LeafIndex returns the index of the entry with the given leaf hash, if the
// published tree holds it.
func (l *Log) LeafIndex(leaf proofs.Hash) (uint64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.leave()
	i, ok, err := l.lookup(&leaf)
	if err != nil {
		return 0, err
	}
	if !ok || i >= l.published.Load().Size {
		return 0, ErrNotFound
	}
	return i, nil
}

// StoreWitnessed keeps the latest checkpoint that met the witness policy's
// quorum (the note with cosignatures), synced, so that a restarted log
// serves it until its witnesses cosign a newer one.
func (l *Log) StoreWitnessed(note []byte) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	return l.db.Set(keyWitnessed, note, pebble.Sync)
}

// Witnessed returns the note StoreWitnessed kept last, or nil.
func (l *Log) Witnessed() ([]byte, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	return l.get(keyWitnessed)
}
