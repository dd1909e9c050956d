package log

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Open opens (creating if needed) the log in cfg.Dir and starts its
// sequencer.
//
// On open the log checks that it may sign: the store must have been created
// with the same key, its latest checkpoint must verify, and the root hash
// recomputed from the stored right edge of the tree must equal that
// checkpoint's. Any mismatch fails with ErrCorrupt and a message saying
// what differs; nothing is written. A second process on the same directory
// fails with ErrLocked.
func Open(cfg Config) (*Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := openPebble(cfg, false)
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg:    cfg,
		logger: cfg.Logger,
		db:     db,
		origin: cfg.Signer.Name(),
		pool:   make(chan *Future, cfg.PoolSize),
		cache:  newTileCache(cfg.TileCacheSize, cfg.TileCacheBytes),
		nodes:  newNodeCache(cfg.NodeCacheSize),
		stall:  newStallGuard(),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	seq, err := l.recover()
	if err != nil {
		db.Close()
		return nil, err
	}
	go l.sequence(seq)
	go l.watch()
	return l, nil
}

// Pebble's memtables: their size, and how many may be held at once (the
// mutable one, one being flushed, one more queued).
const (
	memTableSize    = 64 << 20
	memTableReserve = 3
)

// openPebble opens the store. Pebble locks the directory; a lock held by
// another process becomes ErrLocked.
func openPebble(cfg Config, readOnly bool) (*pebble.DB, error) {
	opts := &pebble.Options{
		FS:       cfg.FS,
		ReadOnly: readOnly,
		Logger:   &quietPebbleLogger{l: cfg.Logger},
		// Pebble reserves its memtables' memory in the block cache: add
		// it, or the memtables take the whole cache and every dedup
		// lookup reads its blocks from disk.
		CacheSize: cfg.CacheSize + memTableReserve*memTableSize,
		// A batch larger than half the memtable is flushed on its own as
		// a tiny L0 table; bulk batches of decision records (a few MiB)
		// must fit, and larger memtables flush (and compact) less often.
		MemTableSize: memTableSize,
	}
	// Every new entry costs a dedup lookup of a random key that is almost
	// always absent: bloom filters answer those without reading data
	// blocks.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if readOnly {
		opts.ErrorIfNotExists = true
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (%v)", ErrLocked, cfg.Dir, err)
		}
		return nil, fmt.Errorf("couldn't open store in %s: %w", cfg.Dir, err)
	}
	return db, nil
}

// recover loads the tree state the sequencer starts from, creating the
// store on first use, and checks it against the latest signed checkpoint.
func (l *Log) recover() (*sequencer, error) {
	vkey := l.cfg.Signer.VerifierKey()
	stored, err := l.get(keyVKey)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		if err := l.create(); err != nil {
			return nil, err
		}
	} else if string(stored) != vkey {
		return nil, fmt.Errorf("%w: this data directory belongs to the log with key %s, but the key given is %s; refusing to sign with another key", ErrCorrupt, stored, vkey)
	}
	version, err := l.get(keyVersion)
	if err != nil {
		return nil, err
	}
	if string(version) == storeVersion1 || string(version) == storeVersion2 {
		if err := l.upgradeStore(string(version)); err != nil {
			return nil, err
		}
		version = []byte(storeVersion)
	}
	if string(version) != storeVersion {
		return nil, fmt.Errorf("%w: store format %q, this binary reads %q", ErrCorrupt, version, storeVersion)
	}

	note, err := l.get(keyLatest)
	if err != nil {
		return nil, err
	}
	if note == nil {
		return nil, fmt.Errorf("%w: no latest checkpoint", ErrCorrupt)
	}
	cp, _, err := signer.OpenCheckpoint(note, l.cfg.Signer.Verifier())
	if err != nil {
		return nil, fmt.Errorf("%w: the latest checkpoint does not verify with the log key: %w", ErrCorrupt, err)
	}
	if err := checkNothingBeyond(l.db, cp.Size); err != nil {
		return nil, err
	}
	rng, err := proofs.RangeAt(cp.Size, l.hashReader())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	root, err := proofs.RootOf(rng)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if root != cp.Hash {
		return nil, fmt.Errorf("%w: the tree recomputed from the stored hashes at size %d has root %x, but the latest signed checkpoint says %x; refusing to start (run tlog fsck to find the damage)",
			ErrCorrupt, cp.Size, root, cp.Hash)
	}
	l.published.Store(&Published{Checkpoint: cp, Note: note})
	l.publishedAt.Store(l.cfg.Now().UnixNano())
	l.logger.Info("log opened", "origin", l.origin, "size", cp.Size, "root", fmt.Sprintf("%x", cp.Hash))
	return newSequencer(l, rng), nil
}

// create initialises an empty store: format version, key, and a signed
// checkpoint of the empty tree, in one synced batch. If we crash before the
// commit, the store holds no key and the next start creates it again.
func (l *Log) create() error {
	if it, err := l.db.NewIter(nil); err == nil {
		nonEmpty := it.First()
		it.Close()
		if nonEmpty {
			return fmt.Errorf("%w: the store has data but no log key", ErrCorrupt)
		}
	}
	cp := signer.Checkpoint{Origin: l.origin, Size: 0, Hash: proofs.EmptyRoot}
	note, err := signer.SignCheckpoint(cp, l.cfg.Signer)
	if err != nil {
		return fmt.Errorf("couldn't sign the empty checkpoint: %w", err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	b.Set(keyVersion, []byte(storeVersion), nil)
	b.Set(keyVKey, []byte(l.cfg.Signer.VerifierKey()), nil)
	b.Set(keyLatest, note, nil)
	b.Set(checkpointKey(nil, 0), note, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("couldn't initialise the store: %w", err)
	}
	l.logger.Info("created a new log", "origin", l.origin, "vkey", l.cfg.Signer.VerifierKey())
	return nil
}

// checkNothingBeyond checks that no entry and no leaf hash is stored at an
// index the latest checkpoint does not cover. Batches are atomic, so only
// tampering or a bug can leave such data, and signing over it would sign
// something no one checked.
func checkNothingBeyond(db pebble.Reader, size uint64) error {
	for _, prefix := range [][]byte{{prefixEntry}, {prefixHash, 0}} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
		if err != nil {
			return fmt.Errorf("couldn't read store: %w", err)
		}
		var last []byte
		if it.Last() {
			last = append(last, it.Key()...)
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("couldn't read store: %w", err)
		}
		if last == nil {
			if size > 0 {
				return fmt.Errorf("%w: the checkpoint covers %d entries but none is stored", ErrCorrupt, size)
			}
			continue
		}
		var want []byte
		if prefix[0] == prefixEntry {
			want = entryKey(nil, size-1)
		} else {
			want = hashKey(nil, 0, size-1)
		}
		if size == 0 || !bytes.Equal(last, want) {
			return fmt.Errorf("%w: the store's last %s key is %x, but the latest checkpoint has size %d", ErrCorrupt, tableName(prefix[0]), last, size)
		}
	}
	return nil
}

func tableName(p byte) string {
	switch p {
	case prefixEntry:
		return "entry"
	case prefixHash:
		return "leaf hash"
	}
	return string(p)
}

// get reads a key; a missing key is (nil, nil).
func (l *Log) get(key []byte) ([]byte, error) { return getKey(l.db, key) }

// getKey reads a key; a missing key is (nil, nil).
func getKey(db pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %q: %w", key, err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// upgradeStore moves a version-1 or version-2 store to the current version.
// Only the version changes: version 1 (logs of raw entries) has no search
// index and no blobs, and version 2's index keys are postings of one entry
// each. A version-1 store that has index keys or blobs was written by a
// development build whose search terms this binary cannot read, and is
// refused.
//
// If we crash before the synced write, the store keeps its old version and
// the next open upgrades it again.
func (l *Log) upgradeStore(from string) error {
	for _, prefix := range []byte{prefixTerm, prefixBlob} {
		if from != storeVersion1 {
			break
		}
		n, err := scanPrefixCount(l.db, []byte{prefix})
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: store format %q with %c keys, written by a development build: its search index cannot be read; start a new log", ErrCorrupt, storeVersion1, prefix)
		}
	}
	if err := l.db.Set(keyVersion, []byte(storeVersion), pebble.Sync); err != nil {
		return fmt.Errorf("couldn't upgrade the store format: %w", err)
	}
	l.logger.Info("store format upgraded", "from", from, "to", storeVersion)
	return nil
}

// scanPrefixCount reports whether any key has the prefix (1 or 0).
func scanPrefixCount(db pebble.Reader, prefix []byte) (int, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return 0, fmt.Errorf("couldn't read store: %w", err)
	}
	defer it.Close()
	n := 0
	if it.First() {
		n = 1
	}
	return n, it.Error()
}
