// Package log is the append-only transparency log: entries, their RFC 6962
// Merkle tree and signed checkpoints, stored in Pebble.
//
// Writers call Add, which puts the entry in a bounded pool and returns a
// Future. One sequencer goroutine owns the tree: it takes batches from the
// pool, assigns indices, deduplicates by leaf hash, hashes, signs a
// checkpoint of the new tree and commits all of it in one Pebble batch with
// fsync. Only then does it publish the checkpoint and resolve the futures.
//
// Readers (Checkpoint, ReadTile, ReadEntryBundle, ReadHashes) may be called
// concurrently from any goroutine. They serve only what the published
// checkpoint covers, which is durable by construction.
package log

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// MaxEntrySize is the largest entry: entry bundles prefix each entry with a
// uint16 length.
const MaxEntrySize = proofs.MaxEntrySize

// Errors returned by the log. The api package maps them to HTTP statuses.
var (
	// ErrEmptyEntry: an entry must have at least one byte.
	ErrEmptyEntry = errors.New("entry is empty")
	// ErrEntryTooLarge: an entry is larger than MaxEntrySize.
	ErrEntryTooLarge = fmt.Errorf("entry is larger than %d bytes", MaxEntrySize)
	// ErrPushback: the pending pool is full; retry later. No index was used.
	ErrPushback = errors.New("too many pending entries, retry later")
	// ErrClosed: the log is closed or closing.
	ErrClosed = errors.New("log is closed")
	// ErrNotFound: a tile, bundle or node beyond the published tree.
	ErrNotFound = errors.New("not found")
	// ErrBatchFailed: the batch holding the entry failed before its commit
	// (the checkpoint could not be signed, or the dedup index could not be
	// read); nothing of it was logged, and the log goes on. Retry.
	ErrBatchFailed = errors.New("the batch failed before it was committed; nothing was logged, retry")
	// ErrTimeout: the batch holding the entry has taken longer than
	// Config.CommitTimeout. Its outcome is unknown: the entry may still be
	// logged. Retry (the same bytes get the same index).
	ErrTimeout = errors.New("timed out waiting for the commit; the entry may still be logged, retry")
	// ErrStorage: the store failed to commit; the log stopped sequencing and
	// must be restarted (restart re-verifies the store). Pebble treats most
	// write failures as fatal and exits the process instead, which is as
	// safe as a crash: nothing unacknowledged is assumed.
	ErrStorage = errors.New("storage failure, log stopped")
	// ErrHalted: the log stopped signing because a safety check outside it
	// failed (a witness has cosigned a history this store does not extend:
	// a restored backup, a key used by another store). Nothing more is
	// signed until an operator restarts it.
	ErrHalted = errors.New("the log stopped signing after a failed safety check; an operator must look")
	// ErrCorrupt: the store is inconsistent with its signed checkpoint or
	// with itself. The log refuses to open.
	ErrCorrupt = errors.New("store is corrupt")
	// ErrLocked: another process has the store open.
	ErrLocked = errors.New("data directory is in use by another process")
)

// Log is an open transparency log. Its methods are safe for concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger
	db     *pebble.DB
	origin string

	// pool carries pending entries from Add to the sequencer. Sends happen
	// under closeMu.RLock after checking closed and failure, which Close and
	// fail set under closeMu.Lock: once they hold it, no send can follow.
	pool         chan *Future
	pending      atomic.Int64 // reserved pool slots, see AddAll
	pendingBytes atomic.Int64 // reserved pool bytes, see AddAll
	closeMu      sync.RWMutex
	closed       bool
	// stopped is set when the log stopped for good: the sentinel waiting
	// adds get (ErrStorage, ErrHalted).
	stopped atomic.Pointer[error]
	// readers counts reads in progress; Close waits for them before it
	// closes the store. Add is called under closeMu.RLock with closed false.
	readers sync.WaitGroup

	// published is the latest committed checkpoint; readers serve only the
	// tree it covers.
	published atomic.Pointer[Published]
	// publishedAt is when published was last stored (Config.Now, Unix
	// nanoseconds): at Open for the stored checkpoint, then per batch.
	publishedAt atomic.Int64

	// stall lets waiting adds give up on a stalled batch.
	stall *stallGuard

	stats stats

	cache *tileCache
	nodes *nodeCache

	quit chan struct{} // closed by Close: the sequencer drains and stops
	done chan struct{} // closed by the sequencer when it has stopped
}

// Published is a checkpoint the log committed and serves.
type Published struct {
	signer.Checkpoint
	// Note is the signed checkpoint note, as served.
	Note []byte
}

// Result is the outcome of an Add.
type Result struct {
	// Index is the entry's index in the log.
	Index uint64
	// Duplicate is true when the same bytes were already in the log (or
	// earlier in the same batch); Index is then the original's index.
	Duplicate bool
}

// Entry is an entry with what is stored beside it. Terms and blobs are
// written in the same Pebble batch as the entry, and only when the entry is
// new: a duplicate's were written with the original.
type Entry struct {
	// Data is the entry itself: the leaf bytes, 1…MaxEntrySize bytes.
	Data []byte
	// Terms are opaque search terms (at most MaxTermSize bytes each) the
	// entry is found under with Search.
	Terms [][]byte
	// Blobs are stored content-addressed under their SHA-256, readable
	// with Blob: documents too large for an entry that the entry names by
	// digest.
	Blobs [][]byte
}

// MaxTermSize is the largest search term.
const MaxTermSize = 4096

// ErrTermTooLarge: a search term is longer than MaxTermSize.
var ErrTermTooLarge = fmt.Errorf("search term is longer than %d bytes", MaxTermSize)

// ErrTooMany: an AddAll with more entries than the pool can ever hold
// (Config.PoolSize); retrying cannot help, smaller calls do.
var ErrTooMany = errors.New("too many entries at once")

// Future is a pending Add. Wait for it with Wait.
type Future struct {
	entry []byte
	terms [][]byte
	blobs []blob
	leaf  proofs.Hash
	size  int64       // bytes of entry and blobs, reserved in the pool
	stall *stallGuard // nil for futures resolved at once
	// res and err are written once, by the sequencer (or by Add for
	// futures resolved at once), before done is closed; readers read them
	// only after done is closed.
	res  Result
	err  error
	done chan struct{}
	// group, for futures of one AddAll, counts its unresolved futures;
	// done is then shared and closed when the last one resolves.
	group *atomic.Int64
}

type blob struct {
	sum  [32]byte
	data []byte
}

// Wait blocks until the entry is durably in the log, or fails, or ctx ends,
// or the batch holding it stalls beyond Config.CommitTimeout (ErrTimeout).
// If ctx ends or the wait times out, the entry may still be logged later.
// A future of AddAll returns once every entry of that call has resolved.
func (f *Future) Wait(ctx context.Context) (Result, error) {
	var stalled <-chan struct{}
	if f.stall != nil {
		stalled = f.stall.channel()
	}
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-stalled:
		select {
		case <-f.done: // resolved after all
			return f.res, f.err
		default:
			return Result{}, ErrTimeout
		}
	}
}

func (f *Future) resolve(res Result, err error) {
	f.res, f.err = res, err
	if f.group == nil || f.group.Add(-1) == 0 {
		close(f.done)
	}
}

func resolved(res Result, err error) *Future {
	f := &Future{done: make(chan struct{})}
	f.resolve(res, err)
	return f
}

// Add submits an entry. The returned Future resolves once the entry (or an
// earlier identical one) is committed with fsync and covered by the
// published checkpoint, or with an error: ErrEmptyEntry, ErrEntryTooLarge,
// ErrPushback, ErrClosed, ErrStorage. Add never blocks.
//
// Add keeps entry; the caller must not modify it afterwards.
func (l *Log) Add(entry []byte) *Future {
	return l.AddEntry(Entry{Data: entry})
}

// AddEntry is Add for an entry with search terms and blobs.
func (l *Log) AddEntry(e Entry) *Future {
	fs, err := l.AddAll([]Entry{e})
	if err != nil {
		return resolved(Result{}, err)
	}
	return fs[0]
}

// AddAll submits entries together: all of them go into the pool, or none
// and an error (ErrEmptyEntry, ErrEntryTooLarge, ErrTermTooLarge,
// ErrTooMany, ErrPushback, ErrClosed, ErrStorage, ErrHalted). The futures share one
// wait: each resolves when all have. Entries may land in different batches;
// each is durable when its own future resolves. AddAll never blocks.
//
// AddAll keeps the entries' bytes; the caller must not modify them.
func (l *Log) AddAll(es []Entry) ([]*Future, error) {
	for _, e := range es {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
	}
	if len(es) == 0 {
		return nil, nil
	}
	fs := make([]Future, len(es))
	out := make([]*Future, len(es))
	var size int64
	var group *atomic.Int64
	done := make(chan struct{})
	if len(es) > 1 {
		group = new(atomic.Int64)
		group.Store(int64(len(es)))
	}
	for i, e := range es {
		f := &fs[i]
		*f = Future{entry: e.Data, terms: e.Terms, leaf: proofs.HashLeaf(e.Data), stall: l.stall, done: done, group: group}
		f.size = int64(len(e.Data))
		if len(e.Blobs) > 0 {
			f.blobs = make([]blob, len(e.Blobs))
			for j, b := range e.Blobs {
				f.blobs[j] = blob{sha256.Sum256(b), b}
				f.size += int64(len(b))
			}
		}
		size += f.size
		out[i] = f
	}

	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if err := l.stopped.Load(); err != nil {
		return nil, *err
	}
	// Reserve room for all of them first, so that the sends below never
	// block and never stop half way. The sequencer releases a slot for
	// each future it takes from the pool.
	n := int64(len(es))
	if n > int64(cap(l.pool)) {
		return nil, fmt.Errorf("%w: %d entries in one request, the log's pending pool holds %d; send smaller batches", ErrTooMany, n, cap(l.pool))
	}
	if size > l.cfg.PoolBytes {
		return nil, fmt.Errorf("%w: %d bytes in one request, the log's pending pool holds %d", ErrTooMany, size, l.cfg.PoolBytes)
	}
	// Both reservations are made before either is tested, so that the
	// rollback below undoes exactly what was added.
	slots, bytes := l.pending.Add(n), l.pendingBytes.Add(size)
	if slots > int64(cap(l.pool)) || bytes > l.cfg.PoolBytes {
		l.pending.Add(-n)
		l.pendingBytes.Add(-size)
		l.stats.pushback.Add(uint64(n))
		return nil, ErrPushback
	}
	for _, f := range out {
		l.pool <- f
	}
	return out, nil
}

func checkEntry(e Entry) error {
	switch {
	case len(e.Data) == 0:
		return ErrEmptyEntry
	case len(e.Data) > MaxEntrySize:
		return ErrEntryTooLarge
	}
	for _, t := range e.Terms {
		if len(t) > MaxTermSize {
			return ErrTermTooLarge
		}
	}
	return nil
}

// take receives a future from the pool and releases its slot and bytes.
func (l *Log) take(f *Future) *Future {
	l.pending.Add(-1)
	l.pendingBytes.Add(-f.size)
	return f
}

// Published returns the latest published checkpoint.
func (l *Log) Published() *Published { return l.published.Load() }

// Checkpoint returns the latest signed checkpoint note.
func (l *Log) Checkpoint() []byte { return l.published.Load().Note }

// Origin returns the log's origin (its key name).
func (l *Log) Origin() string { return l.origin }

// VerifierKey returns the verifier key string of the log's signer.
func (l *Log) VerifierKey() string { return l.cfg.Signer.VerifierKey() }

// Healthy returns nil while the log accepts entries, or the reason it does
// not: ErrClosed once Close was called (whatever stopped it before),
// else ErrStorage or ErrHalted once it stopped.
func (l *Log) Healthy() error {
	l.closeMu.RLock()
	closed := l.closed
	l.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := l.stopped.Load(); err != nil {
		return *err
	}
	return nil
}

// Close stops accepting entries and reads, lets the sequencer integrate
// every entry already in the pool, waits for reads in progress, and closes
// the store. It is safe to call more than once. Reads after Close fail with
// ErrClosed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	already := l.closed
	l.closed = true
	l.closeMu.Unlock()
	if already {
		<-l.done
		return nil
	}
	close(l.quit)
	<-l.done
	l.readers.Wait()
	return l.db.Close()
}

// enter registers a read of the store; it fails once the log is closed.
// Every successful enter must be followed by leave.
func (l *Log) enter() error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.readers.Add(1)
	return nil
}

func (l *Log) leave() { l.readers.Done() }

// stats are counters for monitoring; updated with atomics.
type stats struct {
	entries, duplicates, batches, failedBatches, pushback atomic.Uint64
}

// Stats is a snapshot of the log's counters since it opened.
type Stats struct {
	// Size is the published tree size.
	Size uint64
	// Entries counts new entries logged; Duplicates, adds answered with
	// an existing index.
	Entries, Duplicates uint64
	// Batches counts commits; FailedBatches, batches refused before their
	// commit.
	Batches, FailedBatches uint64
	// Pushback counts adds refused because the pool was full.
	Pushback uint64
	// Pending is the number of entries waiting in the pool.
	Pending int
	// PublishedAt is when this process published the checkpoint of Size,
	// by Config.Now: when its batch committed, or, for the checkpoint
	// found in the store, when the log opened. A checkpoint is signed
	// only for a batch with new entries, so on an idle log it grows old.
	PublishedAt time.Time
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Size:          l.published.Load().Size,
		Entries:       l.stats.entries.Load(),
		Duplicates:    l.stats.duplicates.Load(),
		Batches:       l.stats.batches.Load(),
		FailedBatches: l.stats.failedBatches.Load(),
		Pushback:      l.stats.pushback.Load(),
		Pending:       len(l.pool),
		PublishedAt:   time.Unix(0, l.publishedAt.Load()),
	}
}
