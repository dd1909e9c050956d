package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// sequencer is the state of the one goroutine that owns the tree. Every
// field is owned by that goroutine (Log.sequence); nothing else reads or
// writes them.
type sequencer struct {
	l *Log
	// rng is the compact range [0, size): the right edge of the tree, all
	// that is needed to append and to compute the root.
	rng *compact.Range
	// lastKept is when a checkpoint was last written to the history.
	lastKept time.Time
	// inBatch maps the leaf hashes of the current batch to their indices,
	// so that duplicates within a batch share an index.
	inBatch map[proofs.Hash]uint64
	// key is scratch space for building keys (Pebble copies them).
	key   []byte
	batch []*Future
	// bytes counts the memtable bytes of the batch being filled (batchCost).
	bytes int64
	// post collects the search index keys of the batch being integrated.
	post postings
	// keys and found are scratch space of lookupBatch.
	keys  []*proofs.Hash
	found map[proofs.Hash]uint64
}

func newSequencer(l *Log, rng *compact.Range) *sequencer {
	return &sequencer{
		l:       l,
		rng:     rng,
		inBatch: make(map[proofs.Hash]uint64),
		found:   make(map[proofs.Hash]uint64),
		key:     make([]byte, 0, 64),
		batch:   make([]*Future, 0, l.cfg.BatchMaxSize),
	}
}

// sequence is the sequencer goroutine: take a batch from the pool,
// integrate it, repeat. On Close it integrates what is left in the pool and
// exits. A batch that fails before its commit (signing, dedup reads) fails
// its entries with ErrBatchFailed and the log goes on: nothing of it was
// written. A failed commit stops the log: the store's state is then
// unknown to us, and only a restart (which re-verifies the store) can tell.
func (l *Log) sequence(s *sequencer) {
	defer close(l.done)
	// The committer waits for each applied batch's fsync, then publishes
	// its checkpoint and resolves its futures, while the sequencer builds
	// the next batch. At most one batch waits in commits besides the one
	// being synced. On return, every applied batch is resolved before
	// done closes.
	commits := make(chan *pending, commitQueue)
	committed := make(chan struct{})
	go l.commit(commits, committed)
	defer func() {
		close(commits)
		<-committed
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	run := func(batch []*Future) bool {
		// The committer keeps the batch's futures: hand it a copy, the
		// sequencer reuses its slice.
		err := s.integrate(slices.Clone(batch), commits)
		var fe fatalError
		switch {
		case err == nil:
			return true
		case errors.As(err, &fe):
			l.fail(err)
			return false
		default:
			// Counted and logged by abort, before the entries were refused.
			return true
		}
	}
	for {
		batch := s.batch[:0]
		select {
		case f := <-l.pool:
			batch = s.add(batch[:0], f)
		case <-l.quit:
			// Close holds no more sends; drain what is queued.
			for {
				batch = s.batch[:0]
				s.bytes = 0
				for !s.full(batch) {
					select {
					case f := <-l.pool:
						batch = s.add(batch, f)
						continue
					default:
					}
					break
				}
				if len(batch) == 0 || !run(batch) {
					return
				}
			}
		}
		if !run(s.fill(batch, timer)) {
			return
		}
	}
}

// commitQueue is how many applied batches may wait for the committer
// besides the one whose fsync it waits for. With the batch the sequencer
// holds while it waits to hand it over, at most commitQueue+2 batches are
// in flight; only then does the pool stop draining.
const commitQueue = 1

// fatalError marks a failed commit: the log must stop.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// maxBatchBytes: a batch is full once the memtable space its keys and
// values take reaches this many bytes (see batchCost). A batch is one
// Pebble batch, held in memory until its commit; it may exceed this by its
// last entry. Pebble applies a batch of at least half a memtable as a
// "flushable batch" instead: sorted, flushed on its own to a small L0 table
// and compacted — twice the CPU per record measured for 10,000-line bulk
// requests (BenchmarkAccessBulk) — so batches stop short of that.
const maxBatchBytes = memTableSize/2 - 1<<20

// memNodeOverhead is what Pebble's memtable adds to each key and value:
// its skiplist node (a tower of 20 links, offsets and sizes, 184 bytes on
// 64-bit), the key's 8-byte trailer and alignment padding. Pebble counts
// a batch's size against its large-batch threshold the same way
// (arenaskl.MaxNodeSize), so the estimate is exact up to padding.
const memNodeOverhead = 200

// batchCost returns the memtable bytes f's keys take in a batch at most: its
// entry, dedup key, blobs, the two hash nodes an appended leaf adds on
// average (its leaf hash, and one parent every other leaf), and an index
// key per term (the worst case: terms no other entry of the batch has).
func batchCost(f *Future) int64 {
	n := int64(9 + len(f.entry) + 33 + 8 + 2*(10+32))
	keys := int64(4 + len(f.terms) + len(f.blobs))
	for _, t := range f.terms {
		n += int64(1 + binary.MaxVarintLen16 + len(t) + 8)
	}
	for _, b := range f.blobs {
		n += int64(33 + len(b.data))
	}
	return n + keys*memNodeOverhead
}

// add appends f, just taken from the pool, to batch; a batch starts empty
// (len 0), which resets the byte count.
func (s *sequencer) add(batch []*Future, f *Future) []*Future {
	if len(batch) == 0 {
		s.bytes = 0
	}
	s.l.take(f)
	s.bytes += batchCost(f)
	return append(batch, f)
}

// full reports whether batch holds BatchMaxSize entries or maxBatchBytes.
func (s *sequencer) full(batch []*Future) bool {
	return len(batch) >= s.l.cfg.BatchMaxSize || s.bytes >= maxBatchBytes
}

// fill adds entries from the pool to batch until it is full (BatchMaxSize
// entries or maxBatchBytes) or BatchMaxAge has passed since the call.
func (s *sequencer) fill(batch []*Future, timer *time.Timer) []*Future {
	age := s.l.cfg.BatchMaxAge
	// First take whatever is already waiting.
	for !s.full(batch) {
		select {
		case f := <-s.l.pool:
			batch = s.add(batch, f)
			continue
		default:
		}
		break
	}
	if s.full(batch) || age <= 0 {
		return batch
	}
	timer.Reset(age)
	defer timer.Stop()
	for !s.full(batch) {
		select {
		case f := <-s.l.pool:
			batch = s.add(batch, f)
		case <-timer.C:
			return batch
		case <-s.l.quit:
			return batch
		}
	}
	return batch
}

// pending is a batch applied to the store (visible to reads, in the WAL)
// whose fsync the committer waits for before it publishes and resolves.
type pending struct {
	batch []*Future
	// b is the applied batch, nil when there was nothing to write (only
	// duplicates): then the futures resolve once the batches before it
	// are durable, since a duplicate may name an entry of one of them.
	b *pebble.Batch
	// pub is the checkpoint to publish once b is durable.
	pub   *Published
	added uint64 // new entries in b
	// began is when the batch's integration started (Config.OnBatch).
	began time.Time
}

// integrate assigns indices to the batch, applies it to the store and hands
// it to the committer. An error means the store failed: nothing of the
// batch was acknowledged and the log must stop.
func (s *sequencer) integrate(batch []*Future, commits chan<- *pending) error {
	l := s.l
	began := time.Now()
	l.stall.batchStarted(began)
	if err := l.stopped.Load(); err != nil {
		for _, f := range batch {
			f.resolve(Result{}, *err)
		}
		l.stall.batchDone(time.Now())
		return nil
	}
	start := s.rng.End()
	// Append replaces entries of the range's hash slice in place, so keep
	// a copy of it to restore the tree if the commit fails.
	saved := append([][]byte(nil), s.rng.Hashes()...)
	b := l.db.NewBatch()
	clear(s.inBatch)

	visit := func(id compact.NodeID, hash []byte) {
		s.key = hashKey(s.key, id.Level, id.Index)
		b.Set(s.key, hash, nil)
	}
	found, err := s.lookupBatch(batch)
	if err != nil {
		return s.abort(batch, b, start, saved, ErrBatchFailed, err)
	}
	var idx [8]byte
	for _, f := range batch {
		if i, ok := s.inBatch[f.leaf]; ok {
			f.res = Result{Index: i, Duplicate: true}
			continue
		}
		if i, ok := found[f.leaf]; ok {
			f.res = Result{Index: i, Duplicate: true}
			continue
		}
		i := s.rng.End()
		binary.BigEndian.PutUint64(idx[:], i)
		s.key = entryKey(s.key, i)
		b.Set(s.key, f.entry, nil)
		s.key = dedupKey(s.key, &f.leaf)
		b.Set(s.key, idx[:], nil)
		for _, t := range f.terms {
			s.post.add(t, i)
		}
		for j := range f.blobs {
			s.key = blobKey(s.key, &f.blobs[j].sum)
			b.Set(s.key, f.blobs[j].data, nil)
		}
		if err := s.rng.Append(f.leaf[:], visit); err != nil {
			panic(fmt.Sprintf("bad math: appending to compact range: %v", err))
		}
		s.inBatch[f.leaf] = i
		f.res = Result{Index: i}
	}

	for j := range s.post.lists {
		p := &s.post.lists[j]
		s.key = termKey(s.key, p.term, p.first)
		b.Set(s.key, p.gaps, nil)
	}
	s.post.reset()

	if s.rng.End() == start {
		// Only duplicates: nothing to write.
		b.Close()
		commits <- &pending{batch: batch}
		return nil
	}

	root, err := proofs.RootOf(s.rng)
	if err != nil {
		panic(fmt.Sprintf("bad math: root of compact range: %v", err))
	}
	cp := signer.Checkpoint{Origin: l.origin, Size: s.rng.End(), Hash: root}
	note, err := signer.SignCheckpoint(cp, l.cfg.Signer)
	if err != nil {
		return s.abort(batch, b, start, saved, ErrBatchFailed, fmt.Errorf("couldn't sign checkpoint: %w", err))
	}
	b.Set(keyLatest, note, nil)
	now := l.cfg.Now()
	if now.Sub(s.lastKept) >= l.cfg.CheckpointHistoryInterval {
		s.key = checkpointKey(s.key, cp.Size)
		b.Set(s.key, note, nil)
		s.lastKept = now
	}

	// The durability step, in two halves. ApplyNoSyncWait writes the
	// batch to the WAL (in order after every earlier batch) and applies it
	// to the memtable, so that the next batch's dedup lookups see it; the
	// committer then waits for the WAL fsync (Batch.SyncWait) before it
	// publishes and acknowledges. If we crash before that fsync, the WAL
	// record of this batch is absent, torn or intact: replay keeps a
	// prefix of whole batches, so the store holds this batch's entries and
	// checkpoint together or neither — and no client was acknowledged, and
	// the signed note never left this process. A later batch cannot
	// survive without this one: the WAL is replayed in order.
	//
	// ApplyNoSyncWait is marked experimental in Pebble; its contract (the
	// batch is visible on return; SyncWait returns once it is durable) is
	// the one Commit itself is built from.
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return s.abort(batch, b, start, saved, ErrStorage, fatalError{fmt.Errorf("couldn't commit batch: %w", err)})
	}
	commits <- &pending{batch: batch, b: b, pub: &Published{Checkpoint: cp, Note: note}, added: cp.Size - start, began: began}
	return nil
}

// commit is the committer goroutine: for each applied batch, in order, it
// waits for the fsync, publishes the batch's checkpoint and resolves its
// futures. Publishing before resolving means that an acknowledged index is
// always covered by the served checkpoint. A failed fsync stops the log:
// that batch and every later one fail with ErrStorage.
func (l *Log) commit(in <-chan *pending, done chan<- struct{}) {
	defer close(done)
	var failed bool
	for p := range in {
		var err error
		if p.b != nil {
			// SyncWait must be called before Close, even after a failure.
			if err = p.b.SyncWait(); err != nil && !failed {
				failed = true
				l.fail(fmt.Errorf("couldn't commit batch: %w", err))
			}
			p.b.Close()
		}
		if failed {
			for _, f := range p.batch {
				f.resolve(Result{}, ErrStorage)
			}
		} else {
			if p.pub != nil {
				l.published.Store(p.pub)
				l.publishedAt.Store(l.cfg.Now().UnixNano())
				l.stats.batches.Add(1)
			}
			l.stats.entries.Add(p.added)
			l.stats.duplicates.Add(uint64(len(p.batch)) - p.added)
			if p.pub != nil && l.cfg.OnBatch != nil {
				l.cfg.OnBatch(BatchInfo{Entries: len(p.batch), New: p.added, Size: p.pub.Size, Duration: time.Since(p.began)})
			}
			for _, f := range p.batch {
				f.resolve(f.res, nil)
			}
		}
		if l.stall.batchDone(time.Now()) {
			l.logger.Warn("the stalled batch completed")
		}
	}
}

// abort fails the batch's entries with failed after err, discarding b and
// restoring the in-memory tree, and returns err.
func (s *sequencer) abort(batch []*Future, b *pebble.Batch, start uint64, saved [][]byte, failed, err error) error {
	b.Close()
	rng, rerr := proofs.Factory.NewRange(0, start, saved)
	if rerr != nil {
		panic(fmt.Sprintf("bad math: restoring compact range: %v", rerr))
	}
	s.rng = rng
	// The cause goes to the log before any writer hears of the refusal, so
	// that a log line always precedes the 503 it explains.
	var fe fatalError
	if !errors.As(err, &fe) {
		s.l.stats.failedBatches.Add(1)
		s.l.logger.Error("batch failed before its commit; its entries were refused", "entries", len(batch), "err", err)
	}
	for _, f := range batch {
		f.resolve(Result{}, failed)
	}
	if s.l.stall.batchDone(time.Now()) {
		s.l.logger.Warn("the stalled batch completed")
	}
	return err
}

// fail stops the log after a storage error: pending entries fail with
// ErrStorage, and so do later Adds.
func (l *Log) fail(err error) {
	l.logger.Error("sequencer stopped after a storage error; restart the log", "err", err)
	l.stop(ErrStorage)
}

// Halt stops the log from signing anything more, for a reason found outside
// it (a witness safety check): waiting and later adds fail with ErrHalted,
// a batch in progress finishes. Reads go on.
func (l *Log) Halt(reason error) {
	l.logger.Error("the log stopped signing", "reason", reason)
	l.stop(ErrHalted)
}

func (l *Log) stop(sentinel error) {
	// Under the lock, so that no Add that saw the log running can send
	// after the drain below.
	l.closeMu.Lock()
	l.stopped.CompareAndSwap(nil, &sentinel)
	l.closeMu.Unlock()
	for {
		select {
		case f := <-l.pool:
			l.take(f).resolve(Result{}, sentinel)
		default:
			return
		}
	}
}

// lookupBatch finds the leaf hashes of the batch that are already in the
// dedup table. It seeks them in sorted order through one iterator, which
// costs far less per key than a Get each (no per-key iterator set-up, and
// the bloom filters still skip tables without the key).
func (s *sequencer) lookupBatch(batch []*Future) (map[proofs.Hash]uint64, error) {
	keys := s.keys[:0]
	for _, f := range batch {
		keys = append(keys, &f.leaf)
	}
	slices.SortFunc(keys, func(a, b *proofs.Hash) int { return bytes.Compare(a[:], b[:]) })
	s.keys = keys
	clear(s.found)
	it, err := s.l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDedup}, UpperBound: []byte{prefixDedup + 1}})
	if err != nil {
		return nil, fmt.Errorf("couldn't read dedup index: %w", err)
	}
	defer it.Close()
	var prev *proofs.Hash
	for _, leaf := range keys {
		if prev != nil && *prev == *leaf {
			continue
		}
		prev = leaf
		s.key = dedupKey(s.key, leaf)
		if !it.SeekPrefixGE(s.key) || !bytes.Equal(it.Key(), s.key) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("couldn't read dedup index: %w", err)
		}
		if len(v) != 8 {
			return nil, fmt.Errorf("%w: dedup value for %x is %d bytes", ErrCorrupt, leaf[:], len(v))
		}
		s.found[*leaf] = binary.BigEndian.Uint64(v)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("couldn't read dedup index: %w", err)
	}
	return s.found, nil
}

// lookup finds the index of a leaf hash in the dedup table.
func (l *Log) lookup(leaf *proofs.Hash) (uint64, bool, error) {
	var kb [33]byte
	v, closer, err := l.db.Get(dedupKey(kb[:0], leaf))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("couldn't read dedup index: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: dedup value for %x is %d bytes", ErrCorrupt, leaf[:], len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// quietPebbleLogger sends Pebble's chatter to debug level.
type quietPebbleLogger struct {
	l *slog.Logger

	mu         sync.Mutex
	last       time.Time // guarded by mu: when an error was last logged
	suppressed int       // guarded by mu: errors not logged since
}

// pebbleErrorInterval is the least time between two Pebble error lines:
// a full disk makes Pebble retry (and report) its background work many
// times a second, which would bury everything else and fill the disk of
// the logs too.
const pebbleErrorInterval = 10 * time.Second

func (q *quietPebbleLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (q *quietPebbleLogger) Errorf(format string, args ...any) {
	q.mu.Lock()
	now := time.Now()
	if now.Sub(q.last) < pebbleErrorInterval {
		q.suppressed++
		q.mu.Unlock()
		return
	}
	n := q.suppressed
	q.last, q.suppressed = now, 0
	q.mu.Unlock()
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "suppressed_since_last", n)
}

func (q *quietPebbleLogger) Fatalf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "fatal", true)
	os.Exit(1)
}
