// Package witness is a transparency log witness (c2sp.org/tlog-witness):
// it cosigns a log's checkpoint only if it is consistent with every
// checkpoint of that log it cosigned before, so that a log cannot show
// different histories to different people. It also holds the client a log
// uses to collect cosignatures, and a pull mode that follows a log's tiles.
//
// The state per log origin — the latest cosigned size, root and note — lives
// in Pebble. Checking a request against it and writing the new state is one
// compare-and-swap under a per-origin lock, synced to disk before the
// answer: a cosignature is never returned for a state that a crash could
// roll back.
package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Errors of AddCheckpoint; Status maps them to c2sp.org/tlog-witness codes.
var (
	// ErrUnknownLog: the checkpoint's origin is not a configured log (404).
	ErrUnknownLog = errors.New("unknown log origin")
	// ErrUnauthorized: no trusted log signature verifies (403).
	ErrUnauthorized = errors.New("no valid signature by the log's key")
	// ErrOldTooLarge: the old size is above the checkpoint's size (400).
	ErrOldTooLarge = errors.New("old size is larger than the checkpoint size")
	// ErrBadProof: the consistency proof does not verify, or a proof came
	// with old size 0 (422). In push mode this is not evidence against the
	// log: whoever sends the request writes the proof, so it is counted
	// (BadProofCount) and logged at most once a minute per origin, and
	// nothing is stored.
	ErrBadProof = errors.New("consistency proof does not verify")
	// ErrFork: same size, different root: never cosigned, evidence kept
	// (409, as c2sp.org/tlog-witness v1.0.0 says). Returned wrapped in a
	// *ConflictError that carries the stored size.
	ErrFork = errors.New("a different root for a size already cosigned")
)

// ConflictError: the old size is not the size the witness last cosigned, or
// (with Err = ErrFork) the same size has another root (409, with the stored
// size in a text/x.tlog.size body).
type ConflictError struct {
	Size uint64
	Err  error // nil, or ErrFork
}

func (e *ConflictError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v (cosigned size %d)", e.Err, e.Size)
	}
	return fmt.Sprintf("old size does not match the latest cosigned size %d", e.Size)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// RateLimitError: the client address or the origin is over its rate limit
// (429, with RetryAfter in a Retry-After header).
type RateLimitError struct {
	What       string // "client address" or "origin"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many add-checkpoint requests for this %s; retry in %ds", e.What, retryAfter(e.RetryAfter))
}

// LogKey is a log the witness follows: its verifier key (whose name is the
// log's origin).
type LogKey struct {
	Verifier *signer.Verifier
	URL      string // where it is served, for pull mode; optional
}

// Config configures a Witness.
type Config struct {
	// Dir is the Pebble store directory. Required.
	Dir string
	// FS is the filesystem; nil is the operating system's.
	FS vfs.FS
	// Signer makes the cosignatures. Required.
	Signer *signer.Cosigner
	// Logs are the logs the witness follows; SetLogs replaces them.
	Logs []LogKey
	// Logger receives operational logs; forks are logged at error level.
	// Nil discards them.
	Logger *slog.Logger
	// Now is the clock of evidence records; nil is time.Now.
	Now func() time.Time
	// RateLimit is the add-checkpoint requests per second that Handler
	// allows each client address (IPv6: each /64) and, separately, each
	// log origin, as token buckets holding RateBurst requests. Zero is
	// DefaultRateLimit, negative is no limit. The per-origin bucket only
	// counts requests whose checkpoint the log signed, and not those that
	// move the witness forward (the log's new checkpoints), so strangers
	// replaying public checkpoints cannot lock the log out. The watcher
	// (pull mode) is never limited.
	RateLimit float64
	// RateBurst is the bucket size; zero is DefaultRateBurst.
	RateBurst int
	// clock, if set, is the clock of rate limits and of the bad-proof log
	// interval (tests); nil is time.Now.
	clock func() time.Time
	// beforeCommit, if set, is called inside the compare-and-swap, after
	// the checks and before the write: tests stall it to race requests.
	beforeCommit func(origin string)
}

// Witness is an open witness. Its methods are safe for concurrent use.
type Witness struct {
	cfg    Config
	db     *pebble.DB
	logger *slog.Logger

	logs atomic.Pointer[map[string]LogKey] // by origin

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex // per origin: the compare-and-swap

	forks       atomic.Int64 // fork evidence records, for the metric
	badProofs   atomic.Int64 // push-mode proofs that failed: not evidence
	rateLimited atomic.Int64 // add-checkpoint requests answered 429
	closed      atomic.Bool  // Close was called (GET /readyz)

	badProofLog logLimiter // one line per origin per badProofLogInterval
}

// badProofLogInterval is the least time between two log lines about
// failing proofs for one origin; the lines in between are counted in the
// next one ("suppressed").
const badProofLogInterval = time.Minute

// Open opens (creating if needed) the witness store.
func Open(cfg Config) (*Witness, error) {
	if cfg.Dir == "" || cfg.Signer == nil {
		return nil, errors.New("witness: Config.Dir and Config.Signer are required")
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.clock == nil {
		cfg.clock = time.Now
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	db, err := pebble.Open(cfg.Dir, &pebble.Options{FS: cfg.FS, Logger: pebbleLogger{cfg.Logger}})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			return nil, fmt.Errorf("witness data directory %s is in use by another process: %w", cfg.Dir, err)
		}
		return nil, fmt.Errorf("couldn't open witness store in %s: %w", cfg.Dir, err)
	}
	w := &Witness{cfg: cfg, db: db, logger: cfg.Logger, locks: map[string]*sync.Mutex{},
		badProofLog: logLimiter{interval: badProofLogInterval, now: cfg.clock}}
	w.SetLogs(cfg.Logs)
	n, err := w.countForks()
	if err != nil {
		db.Close()
		return nil, err
	}
	w.forks.Store(n)
	return w, nil
}

// Close closes the store; later calls do nothing.
func (w *Witness) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	return w.db.Close()
}

// SetLogs replaces the followed logs (for SIGHUP reloads). State of logs
// no longer followed is kept.
func (w *Witness) SetLogs(logs []LogKey) {
	m := make(map[string]LogKey, len(logs))
	for _, l := range logs {
		m[l.Verifier.Name()] = l
	}
	w.logs.Store(&m)
}

// Logs returns the followed logs by origin.
func (w *Witness) Logs() map[string]LogKey { return *w.logs.Load() }

// Name returns the witness's key name.
func (w *Witness) Name() string { return w.cfg.Signer.Name() }

// ForkCount returns how many fork evidence records the store holds.
func (w *Witness) ForkCount() int64 { return w.forks.Load() }

// BadProofCount returns how many add-checkpoint requests since Open came
// with a checkpoint signed by the log and a proof that fails: a report
// anyone can make, so not evidence, counted apart from forks.
func (w *Witness) BadProofCount() int64 { return w.badProofs.Load() }

// RateLimitedCount returns how many requests since Open got a 429.
func (w *Witness) RateLimitedCount() int64 { return w.rateLimited.Load() }

// state is what the witness stores per origin.
type state struct {
	size uint64
	root proofs.Hash
	note []byte // the cosigned checkpoint: log signature and our cosignature
	// logged is note without our cosignature: the log-signed checkpoint.
	logged []byte
}

// Store keys: "s" origin → size(8) root(32) note; "f" origin 0x00
// time(8) seq(8) → evidence record; "e" id(16) → marks a record kept.
func stateKey(origin string) []byte { return append([]byte{'s'}, origin...) }

func (w *Witness) lock(origin string) *sync.Mutex {
	w.locksMu.Lock()
	defer w.locksMu.Unlock()
	m, ok := w.locks[origin]
	if !ok {
		m = &sync.Mutex{}
		w.locks[origin] = m
	}
	return m
}

func (w *Witness) load(origin string) (state, error) {
	v, closer, err := w.db.Get(stateKey(origin))
	if errors.Is(err, pebble.ErrNotFound) {
		return state{}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("couldn't read state of %s: %w", origin, err)
	}
	defer closer.Close()
	if len(v) < 40 {
		return state{}, fmt.Errorf("corrupt state of %s", origin)
	}
	s := state{size: binary.BigEndian.Uint64(v), note: bytes.Clone(v[40:])}
	copy(s.root[:], v[8:40])
	// Our cosignature is the last line of the stored note.
	if i := bytes.LastIndex(s.note[:len(s.note)-1], []byte("\n")); i >= 0 && len(s.note) > 0 {
		s.logged = s.note[:i+1]
	}
	return s, nil
}

// AddCheckpoint runs c2sp.org/tlog-witness add-checkpoint on a request
// body and returns the cosignature lines to answer with. The new state is
// on disk before it returns.
//
// Evidence is kept only for what proves a fork: a checkpoint signed by the
// log at the size already cosigned with another root. A proof that fails
// is ErrBadProof and nothing is kept, because the sender, not the log,
// wrote it (the Watcher, whose proofs come from the log's own tiles, is
// different: see Watcher.Step).
func (w *Witness) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	return w.add(ctx, body, addOpts{})
}

// addOpts are how a request came.
type addOpts struct {
	// fromLog: the proof was built from the log's own tiles, authenticated
	// against the checkpoint (Watcher), so a failing one is evidence.
	fromLog bool
	// allowOrigin, if set, takes a token of the origin's rate limit once
	// the log's signature has verified.
	allowOrigin func(origin string) (bool, time.Duration)
}

func (w *Witness) add(ctx context.Context, body []byte, o addOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, err := ParseRequest(body)
	if err != nil {
		return nil, err
	}
	n, err := signer.ParseNote(req.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformedRequest, err)
	}
	cp, err := signer.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedRequest, err)
	}
	logKey, ok := w.Logs()[cp.Origin]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLog, cp.Origin)
	}
	// Only the log's own signature lines are kept: anything else in the
	// note, including lines forged under our name, is dropped here.
	verified, err := signer.OpenNote(req.Checkpoint, logKey.Verifier)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	// The origin's rate limit is taken from every request except one that
	// may move the witness forward (from the stored size to a larger one):
	// those come at most once per checkpoint the log signs, so strangers
	// replaying the log's public checkpoints cannot lock the log out. One
	// of them whose proof then fails is charged too.
	charged := o.allowOrigin == nil
	charge := func() error {
		if charged {
			return nil
		}
		charged = true
		if ok, wait := o.allowOrigin(cp.Origin); !ok {
			w.rateLimited.Add(1)
			return &RateLimitError{What: "origin", RetryAfter: wait}
		}
		return nil
	}
	if !charged {
		peek, err := w.load(cp.Origin)
		if err != nil {
			return nil, err
		}
		if !(req.OldSize == peek.size && cp.Size > peek.size) {
			if err := charge(); err != nil {
				return nil, err
			}
		}
	}
	logger := w.logger.With("origin", cp.Origin, "size", cp.Size, "old", req.OldSize)
	// rejectProof answers a pushed proof that does not verify.
	rejectProof := func(err error) error {
		if e := charge(); e != nil {
			return e
		}
		return w.badProof(logger, cp.Origin, err)
	}
	if req.OldSize > cp.Size {
		return nil, fmt.Errorf("%w: old %d, checkpoint %d", ErrOldTooLarge, req.OldSize, cp.Size)
	}
	if cp.Size == 0 && cp.Hash != proofs.EmptyRoot {
		return nil, rejectProof(fmt.Errorf("%w: a checkpoint of size 0 must have the empty tree's root", ErrBadProof))
	}
	logged := []byte(n.Text + "\n")
	for _, s := range verified.Sigs {
		logged = append(logged, s.Line()...)
	}

	mu := w.lock(cp.Origin)
	mu.Lock()
	defer mu.Unlock()
	st, err := w.load(cp.Origin)
	if err != nil {
		return nil, err
	}
	if req.OldSize != st.size {
		if err := charge(); err != nil {
			return nil, err
		}
		return nil, &ConflictError{Size: st.size}
	}
	switch {
	case req.OldSize == 0 && len(req.Proof) > 0:
		return nil, rejectProof(fmt.Errorf("%w: a proof was given with old size 0", ErrBadProof))
	case req.OldSize == cp.Size:
		if len(req.Proof) > 0 {
			return nil, rejectProof(fmt.Errorf("%w: a proof between equal sizes must be empty", ErrBadProof))
		}
		if cp.Size > 0 && cp.Hash != st.root {
			w.keepEvidence(logger, cp.Origin, "same-size-different-root", st, logged, req)
			return nil, &ConflictError{Size: st.size, Err: ErrFork}
		}
	case req.OldSize > 0:
		if err := proofs.CheckConsistency(req.Proof, req.OldSize, cp.Size, st.root, cp.Hash); err != nil {
			err = fmt.Errorf("%w: %v", ErrBadProof, err)
			if !o.fromLog {
				return nil, rejectProof(err)
			}
			w.keepEvidence(logger, cp.Origin, "consistency-proof-fails", st, logged, req)
			return nil, err
		}
	}

	sig, err := w.cfg.Signer.Sign([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("couldn't cosign: %w", err)
	}
	line := signer.Signature{Name: w.cfg.Signer.Name(), KeyHash: w.cfg.Signer.KeyHash(), Sig: sig}.Line()
	if cp.Size == st.size && cp.Hash == st.root && st.note != nil {
		// The same checkpoint again: a fresh cosignature, but nothing new
		// to store (and no fsync for a request anyone can repeat).
		return []byte(line), nil
	}
	if w.cfg.beforeCommit != nil {
		w.cfg.beforeCommit(cp.Origin)
	}
	v := binary.BigEndian.AppendUint64(nil, cp.Size)
	v = append(v, cp.Hash[:]...)
	v = append(v, logged...)
	v = append(v, line...)
	// The durability step: the new state is synced before the cosignature
	// leaves. If we crash before, the old state stands and nothing was
	// answered; after, the next start knows this size, so no older one is
	// ever cosigned again.
	if err := w.db.Set(stateKey(cp.Origin), v, pebble.Sync); err != nil {
		return nil, fmt.Errorf("couldn't store state: %w", err)
	}
	logger.Debug("cosigned")
	return []byte(line), nil
}

// badProof counts a push-mode proof that fails and logs it, at most once
// per origin per badProofLogInterval with the number of lines held back:
// anyone can send a genuine checkpoint with a junk proof, so this is
// neither evidence nor worth more than a warning. Returns err.
func (w *Witness) badProof(logger *slog.Logger, origin string, err error) error {
	w.badProofs.Add(1)
	if ok, suppressed := w.badProofLog.allow(origin); ok {
		logger.Warn("refused a checkpoint signed by the log with a proof that does not verify (422); not evidence of a fork, since whoever sends a request writes its proof",
			"err", err, "suppressed", suppressed, "per", badProofLogInterval)
	}
	return err
}

// Latest returns the latest cosigned checkpoint of the log whose origin
// hashes (SHA-256, hex) to originHash, with the log's signature and this
// witness's cosignature; nil if none.
func (w *Witness) Latest(originHash string) ([]byte, error) {
	for origin := range w.Logs() {
		h := sha256.Sum256([]byte(origin))
		if hex.EncodeToString(h[:]) == originHash {
			st, err := w.load(origin)
			if err != nil || st.note == nil {
				return nil, err
			}
			return st.note, nil
		}
	}
	return nil, nil
}

// State returns the latest cosigned size and root of an origin.
func (w *Witness) State(origin string) (size uint64, root proofs.Hash, err error) {
	st, err := w.load(origin)
	return st.size, st.root, err
}

// pebbleLogger keeps Pebble's chatter at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "fatal", true)
	panic(fmt.Sprintf(format, args...))
}
