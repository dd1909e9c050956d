// Package publish copies a log to S3-compatible object storage, so that the
// bucket alone (and any static host or CDN in front of it) serves the
// whole c2sp.org/tlog-tiles read API: checkpoint, hash tiles and entry
// bundles, byte-identical to the log's own.
//
// A round publishes the log's latest committed checkpoint: first every
// full tile and entry bundle it completed, then its partial tiles, then
// the checkpoint. Every tile object is immutable: a full tile never
// changes, and a partial tile of width W is the same bytes for as long as
// the tree exists. So tiles are written with If-None-Match: *, never
// overwritten; one already there is read back and must be the same bytes.
//
// The checkpoint is the fence. It is written with If-Match on the ETag the
// publisher last wrote or read (If-None-Match: * for a bucket without one),
// and each round starts with a conditional HEAD of it, so a second
// sequencer given the same bucket and key (a restored backup, a second
// machine started by mistake) can never replace a checkpoint it did not
// write: its round fails with a FenceError before it writes a tile in
// every case but a race of milliseconds, and before its checkpoint in
// every case. Tiles a losing sequencer wrote in that race lie beyond the
// winner's checkpoint, where no reader looks; the winner then finds them
// different and stops too, for an operator (tlog publish --once names
// them).
//
// On start (Resume) the publisher trusts nothing in the bucket: its
// checkpoint must verify with the log's key, be no larger than the store,
// have the store's root at its size, and the tiles at its right edge must
// be the store's bytes. Anything else is a FenceError.
//
// Rounds are asynchronous to the log's acknowledgements: a slow or absent
// bucket makes the bucket lag (tlog_publish_lag_entries), never an add
// wait. Failed rounds are retried with backoff.
package publish

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Cache-Control of the published objects: tiles never change; the
// checkpoint does, every round.
const (
	TileCacheControl       = "public, max-age=31536000, immutable"
	CheckpointCacheControl = "public, max-age=5"
)

// Defaults of Config.
const (
	DefaultInterval = time.Second
	DefaultParallel = 16
	// maxBackoff is the longest wait between two failed rounds.
	maxBackoff = 30 * time.Second
)

// Source is the log being published (a *log.Log).
type Source interface {
	Published() *log.Published
	ReadTile(ctx context.Context, t proofs.Tile) ([]byte, error)
	ReadEntryBundle(ctx context.Context, t proofs.Tile) ([]byte, error)
	ReadHashes(ids []proofs.NodeID) ([][]byte, error)
	VerifierKey() string
}

// Config configures a Publisher.
type Config struct {
	Log    Source
	Bucket *Bucket
	// Interval is the least time between two rounds. Default 1s.
	Interval time.Duration
	// Parallel is how many uploads a round has in flight. Default 16.
	Parallel int
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Registerer, if set, gets the publisher's metrics.
	Registerer prometheus.Registerer
	// Progress, if set, gets a line per second during long rounds.
	Progress io.Writer
}

// FenceError says the bucket holds another history than this log's, or is
// being written by another sequencer: publishing stopped, and the log must
// stop signing until an operator looks.
type FenceError struct{ Reason string }

func (e *FenceError) Error() string { return "publishing refused: " + e.Reason }

// Publisher publishes one log to one bucket. Its methods must not be
// called concurrently, except Lag and BucketSize.
type Publisher struct {
	cfg      Config
	logger   *slog.Logger
	verifier *signer.Verifier

	// What the bucket holds, as far as this publisher knows: its
	// checkpoint's size, bytes and ETag ("" for none).
	size    atomic.Uint64
	note    []byte
	etag    string
	resumed bool
	// attempted is the checkpoint of a write whose outcome is unknown
	// (the connection broke before the answer): if the bucket holds
	// exactly it, the write landed.
	attempted  []byte
	tilesUpTo  uint64 // full tiles and bundles are in the bucket up to this size
	lastErrMu  sync.Mutex
	lastErr    error
	metrics    *metrics
	progressAt atomic.Int64 // Unix nanoseconds of the last progress line
}

// New returns a publisher; it sends nothing until Resume.
func New(cfg Config) (*Publisher, error) {
	if cfg.Log == nil || cfg.Bucket == nil {
		return nil, errors.New("publish: Config.Log and Config.Bucket are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := signer.NewVerifier(cfg.Log.VerifierKey())
	if err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, logger: cfg.Logger, verifier: v}
	p.metrics = newMetrics(p, cfg.Registerer)
	return p, nil
}

// BucketSize is the size of the checkpoint the bucket is known to hold.
func (p *Publisher) BucketSize() uint64 { return p.size.Load() }

// Lag is how many committed entries the bucket does not have yet.
func (p *Publisher) Lag() uint64 {
	n, b := p.cfg.Log.Published().Size, p.size.Load()
	if b >= n {
		return 0
	}
	return n - b
}

func (p *Publisher) fence(format string, args ...any) error {
	return &FenceError{Reason: fmt.Sprintf(format, args...)}
}

// Resume reads the bucket's checkpoint and checks it against the store:
// signed by the log's key, no larger than the store's tree, the store's
// root at its size, and the tiles at its right edge the store's bytes. A
// bucket without a checkpoint is new. Any disagreement is a FenceError;
// other errors (the bucket unreachable) may be retried.
func (p *Publisher) Resume(ctx context.Context) error {
	note, etag, err := p.cfg.Bucket.Get(ctx, "checkpoint")
	if errors.Is(err, ErrNotExist) {
		p.note, p.etag, p.resumed, p.tilesUpTo = nil, "", true, 0
		p.size.Store(0)
		p.logger.Info("bucket has no checkpoint: publishing this log from its first entry", "bucket", p.cfg.Bucket.String())
		return nil
	}
	if err != nil {
		return err
	}
	cp, _, err := signer.OpenCheckpoint(note, p.verifier)
	if err != nil {
		return p.fence("%s/checkpoint is not a checkpoint of this log (key %s): %v", p.cfg.Bucket, p.cfg.Log.VerifierKey(), err)
	}
	have := p.cfg.Log.Published().Size
	if cp.Size > have {
		return p.fence("%s holds a checkpoint of size %d, but this store has only %d entries: another sequencer publishes there, or this store is an older copy of the log (a restored backup); signing here would fork the log", p.cfg.Bucket, cp.Size, have)
	}
	root, err := proofs.TreeHash(cp.Size, p.cfg.Log)
	if err != nil {
		return fmt.Errorf("reading this store's root at size %d: %w", cp.Size, err)
	}
	if root != cp.Hash {
		return p.fence("%s holds a checkpoint of size %d with root %x, but this store's root at that size is %x: the bucket holds another history under this log's key (a fork)", p.cfg.Bucket, cp.Size, cp.Hash, root)
	}
	complete := true
	for _, o := range edge(cp.Size) {
		want, err := p.read(ctx, o)
		if err != nil {
			return err
		}
		got, _, err := p.cfg.Bucket.Get(ctx, o.path())
		switch {
		case errors.Is(err, ErrNotExist):
			complete = false
		case err != nil:
			return err
		case !bytes.Equal(got, want):
			return p.fence("%s/%s differs from this store's %s at the bucket's checkpoint (size %d)", p.cfg.Bucket, o.path(), o.path(), cp.Size)
		}
	}
	p.note, p.etag, p.resumed = note, etag, true
	p.size.Store(cp.Size)
	p.tilesUpTo = cp.Size
	if !complete {
		// Someone deleted objects: check and re-create them all.
		p.tilesUpTo = 0
		p.logger.Warn("the bucket's checkpoint verifies but tiles at its edge are missing: re-checking every tile", "bucket", p.cfg.Bucket.String(), "size", cp.Size)
	}
	p.logger.Info("bucket verified: resuming publication", "bucket", p.cfg.Bucket.String(), "bucket_size", cp.Size, "store_size", have)
	return nil
}

// object is a tile or an entry bundle.
type object struct {
	t       proofs.Tile
	entries bool
}

func (o object) path() string {
	if o.entries {
		return o.t.EntriesPath()
	}
	return o.t.Path()
}

func (o object) kind() string {
	switch {
	case !o.t.Full():
		return "partial"
	case o.entries:
		return "bundle"
	}
	return "tile"
}

func (p *Publisher) read(ctx context.Context, o object) ([]byte, error) {
	if o.entries {
		return p.cfg.Log.ReadEntryBundle(ctx, o.t)
	}
	return p.cfg.Log.ReadTile(ctx, o.t)
}

// levelSize is the number of hashes at tree level 8·L of a tree of size.
func levelSize(level uint8, size uint64) uint64 {
	if uint(level)*proofs.TileHeight >= 64 {
		return 0
	}
	return size >> (uint(level) * proofs.TileHeight)
}

// fullTiles are the full tiles and bundles a tree of size new has and one
// of size old does not.
func fullTiles(old, new uint64) []object {
	var out []object
	for level := uint8(0); levelSize(level, new) >= proofs.TileWidth; level++ {
		for k := levelSize(level, old) / proofs.TileWidth; k < levelSize(level, new)/proofs.TileWidth; k++ {
			t := proofs.Tile{Level: level, Index: k, Width: proofs.TileWidth}
			out = append(out, object{t: t})
			if level == 0 {
				out = append(out, object{t: t, entries: true})
			}
		}
	}
	return out
}

// partialTiles are the partial tiles and bundle of a tree of size new
// that a tree of size old does not have (its levels that did not grow).
func partialTiles(old, size uint64) []object {
	var out []object
	for level := uint8(0); levelSize(level, size) > 0; level++ {
		n := levelSize(level, size)
		if w := n % proofs.TileWidth; w > 0 && n != levelSize(level, old) {
			t := proofs.Tile{Level: level, Index: n / proofs.TileWidth, Width: uint16(w)}
			out = append(out, object{t: t})
			if level == 0 {
				out = append(out, object{t: t, entries: true})
			}
		}
	}
	return out
}

// edge are the tiles and bundle holding the last hash of every level of a
// tree of size: what a client of that checkpoint reads first.
func edge(size uint64) []object {
	var out []object
	for level := uint8(0); levelSize(level, size) > 0; level++ {
		n := levelSize(level, size)
		t := proofs.Tile{Level: level, Index: n / proofs.TileWidth, Width: uint16(n % proofs.TileWidth)}
		if t.Width == 0 {
			t.Index, t.Width = t.Index-1, proofs.TileWidth
		}
		out = append(out, object{t: t})
		if level == 0 {
			out = append(out, object{t: t, entries: true})
		}
	}
	return out
}

// Publish runs one round: it publishes the log's latest checkpoint if it is
// larger than the bucket's, and returns the bucket's size. Resume must
// have succeeded first.
func (p *Publisher) Publish(ctx context.Context) (uint64, error) {
	if !p.resumed {
		return 0, errors.New("publish: Resume first")
	}
	pub := p.cfg.Log.Published()
	if pub.Size <= p.size.Load() {
		return p.size.Load(), nil
	}
	start := time.Now()
	// The fence, first: the checkpoint must still be the one this
	// publisher last saw, or another sequencer has written here.
	err := p.cfg.Bucket.Check(ctx, "checkpoint", p.etag)
	if errors.Is(err, ErrPrecondition) && p.attempted != nil {
		err = p.adoptAttempted(ctx)
	}
	if errors.Is(err, ErrPrecondition) {
		return p.size.Load(), p.fence("%s/checkpoint changed since this log last wrote or read it (%v): another sequencer publishes to this bucket", p.cfg.Bucket, err)
	}
	if err != nil {
		return p.size.Load(), err
	}
	if pub.Size <= p.size.Load() {
		return p.size.Load(), nil // the lost write had covered it
	}
	// Partial tiles of levels that did not grow are in the bucket since
	// its checkpoint, unless Resume found its edge incomplete.
	partialsFrom := p.size.Load()
	if p.tilesUpTo < partialsFrom {
		partialsFrom = 0
	}
	if err := p.upload(ctx, fullTiles(p.tilesUpTo, pub.Size), pub.Size); err != nil {
		return p.size.Load(), err
	}
	p.tilesUpTo = pub.Size
	if err := p.upload(ctx, partialTiles(partialsFrom, pub.Size), pub.Size); err != nil {
		return p.size.Load(), err
	}
	if err := p.putCheckpoint(ctx, pub); err != nil {
		return p.size.Load(), err
	}
	p.metrics.round.Observe(time.Since(start).Seconds())
	return pub.Size, nil
}

// upload creates objs in the bucket, Parallel at a time; an object already
// there must hold the same bytes.
func (p *Publisher) upload(ctx context.Context, objs []object, size uint64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.cfg.Parallel)
	var done atomic.Int64
	for _, o := range objs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			data, err := p.read(gctx, o)
			if err != nil {
				return fmt.Errorf("reading %s from the store: %w", o.path(), err)
			}
			if err := p.create(gctx, o, data); err != nil {
				return err
			}
			if n := done.Add(1); n == int64(len(objs)) || p.progressDue() {
				p.progress("publish: %d/%d objects for size %d\n", n, len(objs), size)
			}
			return nil
		})
	}
	return g.Wait()
}

// progressDue reports whether a progress line is due (one a second).
func (p *Publisher) progressDue() bool {
	last := p.progressAt.Load()
	now := time.Now().UnixNano()
	return p.cfg.Progress != nil && now-last >= int64(time.Second) && p.progressAt.CompareAndSwap(last, now)
}

var progressMu sync.Mutex

func (p *Publisher) progress(format string, args ...any) {
	if p.cfg.Progress != nil {
		progressMu.Lock()
		fmt.Fprintf(p.cfg.Progress, format, args...)
		progressMu.Unlock()
	}
}

// create writes one immutable object (If-None-Match: *). One already there
// is read back: the same bytes (a round before a crash, a retried PUT that
// had landed) are fine; other bytes are a FenceError.
func (p *Publisher) create(ctx context.Context, o object, data []byte) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		_, err = p.cfg.Bucket.Create(ctx, o.path(), data, meta{"application/octet-stream", TileCacheControl})
		if err == nil {
			p.metrics.objects.WithLabelValues(o.kind(), "uploaded").Inc()
			return nil
		}
		if errors.Is(err, ErrPrecondition) {
			got, _, gerr := p.cfg.Bucket.Get(ctx, o.path())
			if gerr != nil {
				err = gerr
				continue
			}
			if !bytes.Equal(got, data) {
				return p.fence("%s/%s holds other bytes than this log's %s: another sequencer writes to this bucket, or it holds another log", p.cfg.Bucket, o.path(), o.path())
			}
			p.metrics.objects.WithLabelValues(o.kind(), "present").Inc()
			return nil
		}
		p.metrics.errors.WithLabelValues("put").Inc()
	}
	return err
}

// adoptAttempted is the fence check's second look after a checkpoint
// write whose answer was lost: if the bucket holds the very checkpoint
// this publisher tried to write, it landed, and its ETag is adopted.
// Otherwise the precondition failure stands.
func (p *Publisher) adoptAttempted(ctx context.Context) error {
	got, etag, err := p.cfg.Bucket.Get(ctx, "checkpoint")
	if err != nil {
		return err
	}
	if !bytes.Equal(got, p.attempted) {
		return fmt.Errorf("%w: it holds %q, not the checkpoint this log last tried to write", ErrPrecondition, firstLines(got))
	}
	cp, _, err := signer.OpenCheckpoint(got, p.verifier)
	if err != nil {
		return err
	}
	p.logger.Info("the checkpoint write whose answer was lost had landed", "bucket", p.cfg.Bucket.String(), "size", cp.Size)
	p.note, p.etag, p.attempted = got, etag, nil
	p.size.Store(cp.Size)
	return nil
}

// putCheckpoint replaces the bucket's checkpoint with pub's, conditionally.
func (p *Publisher) putCheckpoint(ctx context.Context, pub *log.Published) error {
	m := meta{"text/plain; charset=utf-8", CheckpointCacheControl}
	var (
		etag string
		err  error
	)
	if p.etag == "" {
		etag, err = p.cfg.Bucket.Create(ctx, "checkpoint", pub.Note, m)
	} else {
		etag, err = p.cfg.Bucket.Replace(ctx, "checkpoint", pub.Note, m, p.etag)
	}
	if errors.Is(err, ErrPrecondition) {
		// Our own write may have landed before its answer was lost.
		got, gotTag, gerr := p.cfg.Bucket.Get(ctx, "checkpoint")
		if gerr != nil {
			p.attempted = pub.Note
			return gerr
		}
		if !bytes.Equal(got, pub.Note) {
			return p.fence("the conditional write of %s/checkpoint (size %d) was refused: another sequencer wrote it (it now holds %q)", p.cfg.Bucket, pub.Size, firstLines(got))
		}
		etag, err = gotTag, nil
	}
	if err != nil {
		// The write may still have landed: the next fence check looks.
		p.attempted = pub.Note
		p.metrics.errors.WithLabelValues("put").Inc()
		return err
	}
	p.metrics.objects.WithLabelValues("checkpoint", "uploaded").Inc()
	p.note, p.etag, p.attempted = pub.Note, etag, nil
	p.size.Store(pub.Size)
	return nil
}

// firstLines is a checkpoint's origin and size, for a message.
func firstLines(note []byte) string {
	lines := bytes.SplitN(note, []byte("\n"), 3)
	if len(lines) < 2 {
		return string(note)
	}
	return string(lines[0]) + " " + string(lines[1])
}

// Run resumes (retrying until the bucket answers), calls ready once it
// has, and then publishes every Interval until ctx ends. Failed rounds are
// retried with backoff (1s doubling to 30s). It returns a FenceError when
// the bucket belongs to another history or sequencer, else ctx's error.
func (p *Publisher) Run(ctx context.Context, ready func()) error {
	backoff := time.Second
	wait := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		return nil
	}
	for {
		err := p.Resume(ctx)
		if err == nil {
			break
		}
		if fe := (*FenceError)(nil); errors.As(err, &fe) || ctx.Err() != nil {
			p.metrics.fenced.Set(1)
			return err
		}
		p.metrics.errors.WithLabelValues("resume").Inc()
		p.setErr(err)
		p.logger.Warn("cannot read the bucket; writes wait until its checkpoint is checked", "bucket", p.cfg.Bucket.String(), "err", err, "retry_in", backoff)
		if err := wait(); err != nil {
			return err
		}
	}
	backoff = time.Second
	if ready != nil {
		ready()
	}
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		_, err := p.Publish(ctx)
		if fe := (*FenceError)(nil); errors.As(err, &fe) {
			p.metrics.fenced.Set(1)
			return err
		}
		if err != nil && ctx.Err() == nil {
			p.metrics.errors.WithLabelValues("round").Inc()
			p.setErr(err)
			p.logger.Warn("publishing failed; retrying", "bucket", p.cfg.Bucket.String(), "bucket_size", p.size.Load(), "lag", p.Lag(), "err", err, "retry_in", backoff)
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			if p.lastErrOnce() {
				p.logger.Info("publishing again", "bucket", p.cfg.Bucket.String(), "bucket_size", p.size.Load())
			}
			backoff = time.Second
		}
	}
}

func (p *Publisher) setErr(err error) {
	p.lastErrMu.Lock()
	p.lastErr = err
	p.lastErrMu.Unlock()
}

// lastErrOnce reports whether the previous round had failed, and forgets it.
func (p *Publisher) lastErrOnce() bool {
	p.lastErrMu.Lock()
	defer p.lastErrMu.Unlock()
	had := p.lastErr != nil
	p.lastErr = nil
	return had
}

// Report is what Sync found and did.
type Report struct {
	// Size is the checkpoint the bucket holds afterwards.
	Size uint64
	// Checked objects were in the bucket with this log's bytes; Uploaded
	// were missing and written; Foreign are objects under tile/ that are
	// not tiles of this log's tree (named, at most 20); Ignored are keys
	// that are no tile path.
	Checked, Uploaded, Ignored int
	Foreign                    []string
}

// Sync makes the bucket a complete, verified copy of the log, for tlog
// publish --once: Resume's checks, then every object under tile/ read
// back (its ETag compared with the MD5 of the store's bytes, or its bytes
// when the ETag is not an MD5) — an object that is not this log's is a
// FenceError naming it —, then every missing tile and bundle written, and
// the checkpoint last.
func (p *Publisher) Sync(ctx context.Context) (Report, error) {
	var rep Report
	if err := p.Resume(ctx); err != nil {
		return rep, err
	}
	p.tilesUpTo = 0
	size := p.cfg.Log.Published().Size
	present := map[string]bool{}
	var foreign []string
	err := p.cfg.Bucket.List(ctx, func(path, etag string) error {
		t, entries, err := proofs.ParseTilePath(path)
		if err != nil {
			rep.Ignored++
			return nil
		}
		o := object{t: t, entries: entries}
		if !proofs.TileInTree(t, size) {
			foreign = append(foreign, path+" (beyond this log's tree of size "+fmt.Sprint(size)+")")
			return nil
		}
		want, err := p.read(ctx, o)
		if err != nil {
			return fmt.Errorf("reading %s from the store: %w", path, err)
		}
		sum := md5.Sum(want)
		if etag != hex.EncodeToString(sum[:]) {
			got, _, err := p.cfg.Bucket.Get(ctx, path)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				foreign = append(foreign, path+" (other bytes than this log's)")
				return nil
			}
		}
		present[path] = true
		rep.Checked++
		if p.progressDue() {
			p.progress("publish: %d objects checked\n", rep.Checked)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if len(foreign) > 0 {
		rep.Foreign = foreign[:min(len(foreign), 20)]
		return rep, p.fence("%d objects in %s are not this log's: %v", len(foreign), p.cfg.Bucket, rep.Foreign)
	}
	var missing []object
	for _, o := range append(fullTiles(0, size), partialTiles(0, size)...) {
		if !present[o.path()] {
			missing = append(missing, o)
		}
	}
	if err := p.upload(ctx, missing, size); err != nil {
		return rep, err
	}
	rep.Uploaded = len(missing)
	p.tilesUpTo = size
	if size > p.size.Load() {
		if err := p.putCheckpoint(ctx, p.cfg.Log.Published()); err != nil {
			return rep, err
		}
	}
	rep.Size = p.size.Load()
	return rep, nil
}

// metrics are the publisher's Prometheus series.
type metrics struct {
	objects *prometheus.CounterVec
	errors  *prometheus.CounterVec
	round   prometheus.Histogram
	fenced  prometheus.Gauge
}

func newMetrics(p *Publisher, reg prometheus.Registerer) *metrics {
	m := &metrics{
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlog_publish_objects_total",
			Help: "Objects published to the bucket, by kind (tile, bundle, partial, checkpoint) and result (uploaded, or present: already there with the same bytes).",
		}, []string{"kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlog_publish_errors_total",
			Help: "Failed bucket operations, by operation (put, resume, round); they are retried.",
		}, []string{"op"}),
		round: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tlog_publish_round_seconds",
			Help:    "Time of a successful publishing round, from the fence check to the checkpoint written.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		fenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlog_publish_fenced",
			Help: "1 once publishing stopped because the bucket holds another history or another sequencer writes to it.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.objects, m.errors, m.round, m.fenced,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tlog_publish_lag_entries",
				Help: "Committed entries the bucket's checkpoint does not cover yet.",
			}, func() float64 { return float64(p.Lag()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tlog_publish_bucket_size",
				Help: "Tree size of the checkpoint in the bucket.",
			}, func() float64 { return float64(p.size.Load()) }))
	}
	return m
}
