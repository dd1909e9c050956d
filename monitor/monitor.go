// Package monitor follows a tlog log and reports the entries an auditor
// watches for — every release of a model, every entry naming a digest,
// the records of a system — and releases signed by anyone not on a list
// of allowed signers, with none missing.
//
// A Monitor reads every entry of the log from its entry bundles through
// package client (Client.EntriesIn), each bundle authenticated against a
// checkpoint verified with the log's key (or a witness policy) and proven
// consistent with the checkpoint the monitor kept. It never uses the
// log's search API, whose answers nothing signs: a log could leave
// entries out of them, not out of its tiles.
//
// # State
//
// The monitor keeps its own state file: the signed checkpoint it trusts
// and the next index to read, replaced atomically (written, synced,
// renamed). A report line is written and accepted by the webhook before
// the state moves past its entry, so a run that fails resumes without
// losing a line; one killed between a line and the next save (at most
// SaveEvery apart) reports the lines since that save again:
// at-least-once, each line carrying its index. The state is one position
// for whatever is watched: watching something new from the log's start
// needs a new state file. One monitor per state file.
//
// # Decoding
//
// Entries are decoded per kind: model-release/v1 strictly (exact field
// names, none twice or unknown), decision/v1, access/v1 and evaluation/v1
// with the attest package's parsers, and only when the entry is exactly
// the canonical form of the record they read. Raw entries (POST /add) are
// matched only by Watch.Digests, against the SHA-256 of their bytes. An
// entry in the form of an AI entry that does not decode — which the log
// refuses at admission, so only a log that misbehaves can hold one — is
// reported as unexpected when the watch looks at its kind. The release
// fields are the log's statement of what it verified at admission (the
// signer's fingerprint, the certificate identity it validated); the
// monitor does not fetch the envelope to verify the signature again.
//
// # Outcomes
//
// Pass and Follow return a Summary and an error: a *ForkError when the log
// contradicted the kept checkpoint (evidence written beside the state
// file), any other error when the monitor could not check (the log
// unreachable, a checkpoint that does not verify, tiles that do not match
// their signed root, a webhook that did not accept a line).
package monitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Config configures a Monitor.
type Config struct {
	// Client reads the log; it must verify checkpoints (client.WithLogKey
	// or client.WithPolicy). It needs no state file of its own: the
	// monitor seeds it with the checkpoint of its state.
	Client *client.Client
	// State is the monitor's state file (required; missing: start at
	// index 0 with no checkpoint kept).
	State string
	// Watch is what to report.
	Watch Watch
	// Out gets the report lines, JSON, one per line (required).
	Out io.Writer
	// Status gets progress and status lines; nil discards them.
	Status io.Writer
	// Webhook, when set, must accept each report line before it is
	// written to Out.
	Webhook *Webhook
	// SaveEvery is how often the state is saved during a long pass
	// (always at its end); 0: one second.
	SaveEvery time.Duration
	// ProgressEvery is how often a long pass prints its progress to
	// Status; 0: five seconds.
	ProgressEvery time.Duration
	// Parallel is how many chunks of 512 entries are fetched and
	// authenticated at once, ahead of the matching; 0: 8 (enough for a
	// log 20 ms away to be read at over 40,000 entries/s). What is read
	// ahead is at most (Parallel+1)×512 entries: a few MiB of decision
	// records, 288 MiB if every entry had the 64 KiB maximum.
	Parallel int
}

// Monitor follows one log. It is not safe for concurrent use.
type Monitor struct {
	cfg    Config
	c      *client.Client
	out    *bufio.Writer
	status io.Writer
	next   uint64
	saved  state
}

// state is the content of the state file.
type state struct {
	// Checkpoint is the signed checkpoint note kept; empty before the
	// first pass.
	Checkpoint string `json:"checkpoint"`
	// Next is the next index to read.
	Next uint64 `json:"next"`
}

// New loads the state file (verifying its checkpoint with the client's
// key; no request is made unless the client already keeps a checkpoint)
// and returns a monitor positioned after it.
func New(ctx context.Context, cfg Config) (*Monitor, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("monitor: no client")
	case cfg.State == "":
		return nil, errors.New("monitor: no state file")
	case cfg.Out == nil:
		return nil, errors.New("monitor: no output")
	}
	if err := cfg.Watch.Validate(); err != nil {
		return nil, err
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	m := &Monitor{cfg: cfg, c: cfg.Client, out: bufio.NewWriterSize(cfg.Out, 64<<10), status: cfg.Status}
	if m.status == nil {
		m.status = io.Discard
	}
	b, err := os.ReadFile(cfg.State)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read the state file: %w", err)
	}
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("the state file %s is not a monitor's state: %v", cfg.State, err)
	}
	if st.Checkpoint == "" {
		if st.Next != 0 {
			return nil, fmt.Errorf("the state file %s has next index %d but no checkpoint", cfg.State, st.Next)
		}
		return m, nil
	}
	cp, err := m.c.VerifyCheckpoint(ctx, []byte(st.Checkpoint))
	if err != nil {
		var inc *client.InconsistentError
		if errors.As(err, &inc) {
			return nil, m.fork(inc)
		}
		return nil, fmt.Errorf("the checkpoint of the state file %s: %w", cfg.State, err)
	}
	if st.Next > cp.Size {
		return nil, fmt.Errorf("the state file %s has next index %d beyond its checkpoint's tree size %d", cfg.State, st.Next, cp.Size)
	}
	m.next, m.saved = st.Next, st
	return m, nil
}

// Next returns the next index the monitor will read.
func (m *Monitor) Next() uint64 { return m.next }

// Summary is what a pass (or a Follow) did.
type Summary struct {
	// From is the first index read and Next the next one to read.
	From, Next uint64
	// TreeSize is the size of the last verified checkpoint read against.
	TreeSize uint64
	// Entries is how many entries were read, Matched how many were
	// reported, Unexpected how many of those were unexpected.
	Entries, Matched, Unexpected uint64
	// Elapsed is the time the pass took.
	Elapsed time.Duration
}

// Rate is the entries read per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Entries) / s.Elapsed.Seconds()
}

// ForkError is a log that contradicts the checkpoint the monitor kept:
// the client's evidence (both signed checkpoints), and the file it was
// written to.
type ForkError struct {
	*client.InconsistentError
	// Evidence is the file holding the evidence ("" if it could not be
	// written: WriteErr says why).
	Evidence string
	WriteErr error
}

func (e *ForkError) Error() string {
	if e.Evidence == "" {
		return fmt.Sprintf("%v (and the evidence could not be written: %v)", e.InconsistentError, e.WriteErr)
	}
	return fmt.Sprintf("%v (evidence written to %s)", e.InconsistentError, e.Evidence)
}

func (e *ForkError) Unwrap() error { return e.InconsistentError }

// Pass reads the log from the monitor's position to the tree size of its
// latest checkpoint (verified, and proven consistent with the kept one),
// writes a report line for each entry that matches and saves the state.
// On an error the state is saved up to the last entry whose line (if
// any) was accepted, so the next pass resumes there.
func (m *Monitor) Pass(ctx context.Context) (Summary, error) {
	start := time.Now()
	s := Summary{From: m.next, Next: m.next}
	done := func(err error) (Summary, error) {
		s.Next, s.Elapsed = m.next, time.Since(start)
		if ferr := m.out.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("couldn't write the report: %w", ferr)
		}
		if serr := m.save(); serr != nil && err == nil {
			err = serr
		}
		return s, err
	}
	cp, err := m.c.Latest(ctx)
	if err != nil {
		var inc *client.InconsistentError
		if errors.As(err, &inc) {
			return done(m.fork(inc))
		}
		return done(fmt.Errorf("the log's checkpoint: %w", err))
	}
	s.TreeSize = cp.Size
	if cp.Size < m.next {
		// An older checkpoint, proven consistent with the kept one (a
		// cache in front of the log, say): nothing new to read yet.
		fmt.Fprintf(m.status, "the log served the checkpoint of tree size %d, older than the %d entries read; nothing new\n", cp.Size, m.next)
		return done(nil)
	}
	lastSave, lastProgress := time.Now(), time.Now()
	bundles, stop := m.fetch(ctx, cp)
	defer stop()
	for b := range bundles {
		for _, e := range b.entries {
			s.Entries++
			if r := m.cfg.Watch.match(e.Index, e.Data); r != nil {
				if err := m.recheck(ctx, e.Data, r); err != nil {
					return done(err)
				}
				if err := m.emit(ctx, r); err != nil {
					return done(err)
				}
				s.Matched++
				if r.Unexpected {
					s.Unexpected++
				}
			}
			m.next = e.Index + 1
		}
		if b.err != nil {
			err := b.err
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return done(fmt.Errorf("reading entry %d: %w", m.next, err))
		}
		// At each bundle's end: lines out, the state now and then.
		if err := m.out.Flush(); err != nil {
			return done(fmt.Errorf("couldn't write the report: %w", err))
		}
		if now := time.Now(); now.Sub(lastSave) >= m.cfg.SaveEvery {
			if err := m.save(); err != nil {
				return done(err)
			}
			lastSave = now
		}
		if now := time.Now(); now.Sub(lastProgress) >= m.cfg.ProgressEvery {
			el := now.Sub(start)
			fmt.Fprintf(m.status, "read %d of %d entries (%.0f entries/s)\n", m.next, cp.Size, float64(s.Entries)/el.Seconds())
			lastProgress = now
		}
	}
	if m.next < cp.Size {
		// The reading stopped early without an error of its own.
		err := ctx.Err()
		if err == nil {
			err = errors.New("the entries ended early")
		}
		return done(fmt.Errorf("reading entry %d of %d: %w", m.next, cp.Size, err))
	}
	return done(nil)
}

// bundle is the authenticated entries of one entry bundle, or the error
// that ended the reading (after the entries read before it).
type bundle struct {
	entries []client.LoggedEntry
	err     error
}

// chunkBundles is how many bundles one reader authenticates in one walk
// (one client.EntriesIn call, whose cache of the partial hash tiles it
// then shares).
const chunkBundles = 2

// fetch reads the entries from m.next to cp's tree size, in chunks of
// chunkBundles bundles, Config.Parallel chunks at once, and delivers them
// bundle by bundle in index order: fetching and authenticating overlap
// each other (a distant log's round trips) and the decoding. The channel
// ends after the last bundle or one with an error; stop ends the reading
// early and waits for every goroutine.
func (m *Monitor) fetch(ctx context.Context, cp signer.Checkpoint) (<-chan bundle, func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan bundle)
	// At most Parallel chunks wait in the queue, and one is being
	// delivered: that bounds the memory of what is read ahead.
	queue := make(chan chan bundle, m.cfg.Parallel)
	from := m.next
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(queue)
		for next := from; next < cp.Size; {
			start, end := next, min((next/proofs.TileWidth+chunkBundles)*proofs.TileWidth, cp.Size)
			// Room for every bundle of the chunk: a reader never blocks.
			c := make(chan bundle, chunkBundles)
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer close(c)
				m.readChunk(ctx, cp, start, end, c)
			})
			next = end
		}
	})
	wg.Go(func() {
		defer close(out)
		for c := range queue {
			for b := range c {
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
				if b.err != nil {
					return
				}
			}
		}
	})
	return out, func() {
		cancel()
		wg.Wait()
	}
}

// readChunk sends the entries start…end-1 to c, a bundle at a time, each
// authenticated against cp by client.EntriesIn; an error ends it (sent
// with the entries read before it).
func (m *Monitor) readChunk(ctx context.Context, cp signer.Checkpoint, start, end uint64, c chan<- bundle) {
	var cur []client.LoggedEntry
	for e, err := range m.c.EntriesIn(ctx, cp, start) {
		if err != nil {
			c <- bundle{cur, err}
			return
		}
		cur = append(cur, e)
		if next := e.Index + 1; next%proofs.TileWidth == 0 || next == end {
			c <- bundle{entries: cur}
			cur = nil
			if next == end {
				return
			}
		}
	}
}

// emit delivers one report: to the webhook, then to Out.
func (m *Monitor) emit(ctx context.Context, r *Report) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if m.cfg.Webhook != nil {
		if err := m.cfg.Webhook.Post(ctx, line); err != nil {
			return err
		}
	}
	line = append(line, '\n')
	if _, err := m.out.Write(line); err != nil {
		return fmt.Errorf("couldn't write the report: %w", err)
	}
	return nil
}

// recheck re-verifies a reported key-signed release from the documents
// the log keeps beside it (attest.RecheckRelease): the envelope and the
// signer key, fetched by the digests the entry names and checked against
// them. A release that does not re-verify is unexpected whatever its
// signer: the log logged a signature that is not there. A keyless release
// is marked as not re-checked. An error is "could not check" (the log
// did not answer the documents).
func (m *Monitor) recheck(ctx context.Context, entry []byte, r *Report) error {
	if r.Kind != attest.KindRelease {
		return nil
	}
	if r.Identity != "" {
		r.Signature = "not re-checked: a keyless release is validated only at admission (its bundle's timestamps are not kept)"
		return nil
	}
	if len(r.Signers) != 1 || r.EnvelopeDigest == "" {
		r.Signature = "does not verify"
		r.Unexpected, r.Reason = true, "the release entry names no single signer key and envelope to check"
		return nil
	}
	env, err := m.c.Blob(ctx, r.EnvelopeDigest)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("entry %d: the release's envelope: %w", r.Index, err)
	}
	var key []byte
	if err == nil {
		key, err = m.c.Blob(ctx, r.Signers[0])
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("entry %d: the release's signer key: %w", r.Index, err)
		}
	}
	if err != nil {
		r.Signature = "does not verify"
		r.Unexpected, r.Reason = true, "the log does not have the release's signed envelope and key: "+err.Error()
		return nil
	}
	if err := attest.RecheckRelease(entry, env, key); err != nil {
		r.Signature = "does not verify"
		r.Unexpected, r.Reason = true, err.Error()
		return nil
	}
	r.Signature = "verified"
	return nil
}

// save writes the state: the client's kept checkpoint and the next index,
// unless unchanged.
func (m *Monitor) save() error {
	_, note, ok := m.c.Verified()
	if !ok {
		return nil
	}
	st := state{Checkpoint: string(note), Next: m.next}
	if st == m.saved {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := keyfile.Replace(m.cfg.State, append(b, '\n')); err != nil {
		return fmt.Errorf("couldn't save the state file: %w", err)
	}
	m.saved = st
	return nil
}

// evidence is the content of an evidence file.
type evidence struct {
	Log    string `json:"log"`
	Time   string `json:"time"`
	Reason string `json:"reason"`
	// Kept is the checkpoint the monitor had verified, Seen the log's
	// checkpoint that contradicts it: signed notes, verbatim.
	Kept string `json:"kept_checkpoint"`
	Seen string `json:"log_checkpoint"`
}

// fork writes the evidence of inc next to the state file: STATE.evidence,
// or STATE.evidence.N when that holds other evidence already (the same
// evidence is not written twice).
func (m *Monitor) fork(inc *client.InconsistentError) *ForkError {
	fe := &ForkError{InconsistentError: inc}
	ev := evidence{Log: m.c.URL(), Time: time.Now().UTC().Format(time.RFC3339), Reason: inc.Reason, Kept: string(inc.Kept), Seen: string(inc.Seen)}
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		fe.WriteErr = err
		return fe
	}
	b = append(b, '\n')
	for n := 0; n < 100; n++ {
		path := m.cfg.State + ".evidence"
		if n > 0 {
			path += "." + strconv.Itoa(n)
		}
		if old, err := os.ReadFile(path); err == nil {
			var prev evidence
			if json.Unmarshal(old, &prev) == nil && prev.Kept == ev.Kept && prev.Seen == ev.Seen {
				fe.Evidence = path
				return fe
			}
			continue
		}
		err := keyfile.WriteSynced(path, b, os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			fe.WriteErr = err
			return fe
		}
		fe.Evidence = path
		return fe
	}
	fe.WriteErr = errors.New("100 evidence files already")
	return fe
}

// Transient reports whether a pass that failed with err may succeed
// later unchanged: the log or the webhook could not be reached or
// answered an error. A fork, a checkpoint that does not verify, tiles
// that do not match their signed root and a state file that cannot be
// written are not transient.
func Transient(err error) bool {
	var (
		se *client.StatusError
		we *WebhookError
		ne net.Error
	)
	switch {
	case err == nil || errors.Is(err, client.ErrInconsistent) || errors.Is(err, proofs.ErrTileMismatch):
		return false
	case errors.As(err, &we), errors.As(err, &se), errors.As(err, &ne):
		return true
	}
	return false
}

// Follow runs passes until ctx is done, waiting interval between them. A
// pass that fails transiently (see Transient) is retried at the next
// interval, its error printed to Status; any other error ends Follow. It
// returns the totals and, when ctx ends it, nil — or the error of the
// last pass if that one failed.
func (m *Monitor) Follow(ctx context.Context, interval time.Duration) (Summary, error) {
	if interval <= 0 {
		return Summary{}, errors.New("monitor: the interval must be positive")
	}
	total := Summary{From: m.next}
	start := time.Now()
	var last error
	for {
		s, err := m.Pass(ctx)
		total.Entries += s.Entries
		total.Matched += s.Matched
		total.Unexpected += s.Unexpected
		total.Next, total.TreeSize = m.next, max(total.TreeSize, s.TreeSize)
		total.Elapsed = time.Since(start)
		if ctx.Err() != nil {
			return total, last
		}
		switch {
		case err == nil:
			last = nil
			if s.Entries > 0 {
				fmt.Fprintf(m.status, "%s\n", s)
			}
		case Transient(err):
			last = err
			fmt.Fprintf(m.status, "could not check: %v (retrying in %v)\n", err, interval)
		default:
			return total, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return total, last
		case <-t.C:
		}
	}
}

// String is a one-line account of a pass.
func (s Summary) String() string {
	if s.Entries == 0 {
		return fmt.Sprintf("checked up to tree size %d: no new entries", s.TreeSize)
	}
	return fmt.Sprintf("checked entries %d…%d of tree size %d: %d read, %d reported, %d unexpected (%.0f entries/s)",
		s.From, s.Next-1, s.TreeSize, s.Entries, s.Matched, s.Unexpected, s.Rate())
}

// Exit statuses of a monitor run, for cron: see ExitCode.
const (
	ExitOK            = 0 // checked, nothing unexpected
	ExitUnexpected    = 1 // an unexpected entry was reported
	ExitCouldNotCheck = 2 // the log could not be checked (or forked)
)

// ExitCode is the exit status of a run that ended with s and err:
// ExitUnexpected whenever an unexpected entry was reported in this run
// (even if the run then failed: its state has moved past that entry, so
// no later run will say so again), else ExitCouldNotCheck for any error,
// a fork included, else ExitOK.
func ExitCode(s Summary, err error) int {
	switch {
	case s.Unexpected > 0:
		return ExitUnexpected
	case err != nil:
		return ExitCouldNotCheck
	}
	return ExitOK
}
