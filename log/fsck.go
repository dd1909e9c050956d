package log

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/transparency-dev/merkle/compact"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// FsckReport summarises a clean check.
type FsckReport struct {
	Origin      string
	Size        uint64 // tree size of the latest checkpoint
	Checkpoints int    // signed checkpoints checked (history and latest)
	Nodes       uint64 // node hashes recomputed and compared
	Terms       uint64 // search index entries (term, entry) checked
	Blobs       uint64 // blobs re-hashed
}

// FsckError is the first inconsistency Fsck found.
type FsckError struct {
	// Index is the entry index where the damage shows: the entry itself,
	// the first entry covered by a bad node, or the size of a bad
	// checkpoint.
	Index uint64
	// What describes the mismatch.
	What string
}

func (e *FsckError) Error() string { return fmt.Sprintf("at index %d: %s", e.Index, e.What) }

// Fsck checks a closed store from scratch, offline: every entry is hashed
// again, every stored node hash is recomputed from the entries and
// compared, every dedup key must point back at its entry, and the root of
// every kept signed checkpoint (and the latest one) must equal the tree
// recomputed at its size, with a signature that verifies with the store's
// key. It returns the first mismatch as a *FsckError. It holds the store's
// lock, so it fails with ErrLocked while a server has the store open.
//
// Only cfg.Dir, cfg.FS and cfg.Logger are used. progress, if not nil, is
// called every two seconds or so with the entries checked and the total.
func Fsck(ctx context.Context, cfg Config, progress func(done, total uint64)) (*FsckReport, error) {
	if cfg.Dir == "" {
		return nil, errors.New("log: Config.Dir is required")
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	db, err := openPebble(cfg, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	f := &fsck{ctx: ctx, db: db, progress: progress}
	return f.run()
}

type fsck struct {
	ctx      context.Context
	db       *pebble.DB
	progress func(done, total uint64)
}

func (f *fsck) get(key []byte) ([]byte, error) { return getKey(f.db, key) }

func (f *fsck) run() (*FsckReport, error) {
	vkey, err := f.get(keyVKey)
	if err != nil {
		return nil, err
	}
	if vkey == nil {
		return nil, fmt.Errorf("%w: no log key in the store (is this a tlog data directory?)", ErrCorrupt)
	}
	v, err := signer.NewVerifier(string(vkey))
	if err != nil {
		return nil, fmt.Errorf("%w: stored log key: %v", ErrCorrupt, err)
	}
	latestNote, err := f.get(keyLatest)
	if err != nil {
		return nil, err
	}
	latest, _, err := signer.OpenCheckpoint(latestNote, v)
	if err != nil {
		return nil, &FsckError{What: fmt.Sprintf("the latest checkpoint does not verify: %v", err)}
	}
	rep := &FsckReport{Origin: v.Name(), Size: latest.Size}

	// The checkpoints to check, in size order: the history, then the
	// latest (which may or may not be in the history).
	cps, err := f.checkpoints(v)
	if err != nil {
		return nil, err
	}
	switch last := len(cps) - 1; {
	case last >= 0 && cps[last].Size > latest.Size:
		return nil, &FsckError{Index: cps[last].Size, What: fmt.Sprintf("a kept checkpoint has size %d, beyond the latest checkpoint's %d", cps[last].Size, latest.Size)}
	case last >= 0 && cps[last].Size == latest.Size:
		if cps[last].Hash != latest.Hash {
			return nil, &FsckError{Index: latest.Size, What: "the latest checkpoint and the history disagree on the root"}
		}
	default:
		cps = append(cps, latest)
	}
	rep.Checkpoints = len(cps)

	rng := proofs.Factory.NewEmptyRange(0)
	var (
		kb       []byte
		mismatch *FsckError
		last     = time.Now()
	)
	visit := func(id compact.NodeID, h []byte) {
		if mismatch != nil {
			return
		}
		rep.Nodes++
		kb = hashKey(kb, id.Level, id.Index)
		stored, err := f.get(kb)
		switch {
		case err != nil:
			mismatch = &FsckError{Index: id.Index << id.Level, What: err.Error()}
		case stored == nil:
			mismatch = &FsckError{Index: id.Index << id.Level, What: fmt.Sprintf("node %d/%d (entries %d…%d) is missing", id.Level, id.Index, id.Index<<id.Level, (id.Index+1)<<id.Level-1)}
		case !bytes.Equal(stored, h):
			if id.Level == 0 {
				mismatch = &FsckError{Index: id.Index, What: fmt.Sprintf("entry %d: stored leaf hash %x differs from the hash of the stored entry %x", id.Index, stored, h)}
			} else {
				mismatch = &FsckError{Index: id.Index << id.Level, What: fmt.Sprintf("node %d/%d (entries %d…%d): stored hash %x differs from recomputed %x", id.Level, id.Index, id.Index<<id.Level, (id.Index+1)<<id.Level-1, stored, h)}
			}
		}
	}
	checkRoot := func() error {
		for len(cps) > 0 && cps[0].Size == rng.End() {
			root, err := proofs.RootOf(rng)
			if err != nil {
				return err
			}
			if root != cps[0].Hash {
				return &FsckError{Index: cps[0].Size, What: fmt.Sprintf("signed checkpoint of size %d has root %x, the stored entries give %x", cps[0].Size, cps[0].Hash, root)}
			}
			cps = cps[1:]
		}
		return nil
	}
	if err := checkRoot(); err != nil {
		return nil, err
	}
	_, err = scanDB(f.db, entryKey(nil, 0), entryKey(nil, latest.Size), func(i uint64, entry []byte) error {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		leaf := proofs.HashLeaf(entry)
		if err := rng.Append(leaf[:], visit); err != nil {
			panic(fmt.Sprintf("bad math: %v", err))
		}
		if mismatch != nil {
			return mismatch
		}
		kb = dedupKey(kb, &leaf)
		d, err := f.get(kb)
		if err != nil {
			return err
		}
		if len(d) != 8 || binary.BigEndian.Uint64(d) != i {
			return &FsckError{Index: i, What: fmt.Sprintf("entry %d: the dedup index maps its leaf hash to %x, want %d", i, d, i)}
		}
		if err := checkRoot(); err != nil {
			return err
		}
		if f.progress != nil && time.Since(last) >= 2*time.Second {
			last = time.Now()
			f.progress(i+1, latest.Size)
		}
		return nil
	})
	if err != nil {
		var ce *FsckError
		if errors.As(err, &ce) {
			return nil, ce
		}
		if errors.Is(err, ErrCorrupt) {
			return nil, &FsckError{Index: rng.End(), What: err.Error()}
		}
		return nil, err
	}
	if rng.End() != latest.Size {
		return nil, &FsckError{Index: rng.End(), What: fmt.Sprintf("entry %d is missing; the latest checkpoint has size %d", rng.End(), latest.Size)}
	}
	if len(cps) > 0 {
		return nil, &FsckError{Index: cps[0].Size, What: "a kept checkpoint was not reached"}
	}
	// Nothing may be stored beyond the latest checkpoint.
	if err := checkNothingBeyond(f.db, latest.Size); err != nil {
		return nil, &FsckError{Index: latest.Size, What: err.Error()}
	}
	if err := f.sideData(rep, latest.Size); err != nil {
		return nil, err
	}
	return rep, nil
}

// sideData checks what is stored beside the tree: every search index key
// is well formed and names an entry of the tree, every blob hashes to its
// key.
func (f *fsck) sideData(rep *FsckReport, size uint64) error {
	_, err := scanPrefix(f.db, []byte{prefixTerm}, func(key, gaps []byte) error {
		n, w := binary.Uvarint(key[1:])
		if w <= 0 || uint64(len(key)) != 1+uint64(w)+n+8 {
			return &FsckError{Index: size, What: fmt.Sprintf("malformed search index key %x", key)}
		}
		term := key[1+w : len(key)-8]
		var i uint64
		beyond := false
		err := decodePostings(binary.BigEndian.Uint64(key[len(key)-8:]), gaps, func(j uint64) bool {
			i, beyond = j, j >= size
			if !beyond {
				rep.Terms++
			}
			return !beyond
		})
		if err != nil {
			return &FsckError{Index: size, What: fmt.Sprintf("search term %q: %v", term, err)}
		}
		if beyond {
			return &FsckError{Index: i, What: fmt.Sprintf("search term %q names entry %d, beyond the tree of size %d", term, i, size)}
		}
		return f.ctx.Err()
	})
	if err != nil {
		return err
	}
	_, err = scanPrefix(f.db, []byte{prefixBlob}, func(key, v []byte) error {
		if sum := sha256.Sum256(v); len(key) != 33 || !bytes.Equal(sum[:], key[1:]) {
			return &FsckError{Index: size, What: fmt.Sprintf("blob %x does not hash to its name", key[1:])}
		}
		rep.Blobs++
		return f.ctx.Err()
	})
	return err
}

// scanPrefix calls fn for every key with the prefix.
func scanPrefix(db pebble.Reader, prefix []byte, fn func(key, value []byte) error) (uint64, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return 0, fmt.Errorf("couldn't read store: %w", err)
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return n, fmt.Errorf("couldn't read store: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			return n, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return n, fmt.Errorf("couldn't read store: %w", err)
	}
	return n, nil
}

// checkpoints returns the kept checkpoints in size order, each verified.
func (f *fsck) checkpoints(v *signer.Verifier) ([]signer.Checkpoint, error) {
	var cps []signer.Checkpoint
	lo := []byte{prefixCheckpoint}
	it, err := f.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		size := binary.BigEndian.Uint64(it.Key()[1:])
		val, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		cp, _, err := signer.OpenCheckpoint(val, v)
		if err != nil {
			return nil, &FsckError{Index: size, What: fmt.Sprintf("kept checkpoint of size %d does not verify: %v", size, err)}
		}
		if cp.Size != size {
			return nil, &FsckError{Index: size, What: fmt.Sprintf("kept checkpoint under size %d says size %d", size, cp.Size)}
		}
		cps = append(cps, cp)
	}
	return cps, it.Error()
}
