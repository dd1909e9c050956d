package witness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// LogSource is what a log gives its collector: its latest signed
// checkpoint, and its node hashes to build consistency proofs.
type LogSource interface {
	proofs.HashReader
	// Latest returns the latest signed checkpoint and its note.
	Latest() (signer.Checkpoint, []byte)
}

// CollectorConfig configures a Collector.
type CollectorConfig struct {
	// Policy names the witnesses (with their URLs) and the quorum a
	// published checkpoint needs. Required.
	Policy *signer.Policy
	// Log is the log whose checkpoints are witnessed. Required.
	Log LogSource
	// Interval is the least time between two rounds: new checkpoints are
	// coalesced, and at most one round is in flight. Default 1s.
	Interval time.Duration
	// Timeout bounds each request to a witness. Default 10s: witnesses
	// answer in milliseconds; a slow one must not hold up a round.
	Timeout time.Duration
	// HTTP is the client; nil makes one with Timeout.
	HTTP *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
	// OnWitnessed, if set, is called with each newly published witnessed
	// checkpoint (the log stores it, to serve it again after a restart).
	OnWitnessed func(*Witnessed) error
	// Registerer, if set, gets the collector's metrics, per witness of
	// the policy (label witness, the policy's name for it):
	//
	//	tlog_witness_cosigned_size            gauge: the latest tree size the witness is known to have cosigned for this log (from its last answer; 0 until it answers)
	//	tlog_witness_cosign_duration_seconds  histogram: time to get its cosignature, or to fail to, per round (409 retries included)
	//	tlog_witness_cosign_failures_total    counter: rounds in which it gave no valid cosignature
	Registerer prometheus.Registerer
}

// collectorMetrics are the collector's metrics (CollectorConfig.Registerer).
type collectorMetrics struct {
	size     *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
}

func newCollectorMetrics(reg prometheus.Registerer, p *signer.Policy) (*collectorMetrics, error) {
	m := &collectorMetrics{
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlog_witness_cosigned_size",
			Help: "Latest tree size the witness is known to have cosigned for this log (from its last answer; 0 until it answers).",
		}, []string{"witness"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlog_witness_cosign_duration_seconds",
			Help:    "Time to get the witness's cosignature of a checkpoint, or to fail to, per round (retries after a 409 included).",
			Buckets: prometheus.DefBuckets,
		}, []string{"witness"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlog_witness_cosign_failures_total",
			Help: "Rounds in which the witness gave no valid cosignature (unreachable, an error status, a conflict, a claimed fork).",
		}, []string{"witness"}),
	}
	for _, c := range []prometheus.Collector{m.size, m.duration, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("witness collector metrics: %w", err)
		}
	}
	// Every witness of the policy has its series from the start.
	for _, w := range p.Witnesses {
		m.size.WithLabelValues(w.Name)
		m.duration.WithLabelValues(w.Name)
		m.failures.WithLabelValues(w.Name)
	}
	return m, nil
}

// observe records one witness's answer in a round.
func (m *collectorMetrics) observe(witness string, size uint64, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.size.WithLabelValues(witness).Set(float64(size))
	m.duration.WithLabelValues(witness).Observe(took.Seconds())
	if err != nil {
		m.failures.WithLabelValues(witness).Inc()
	}
}

// Witnessed is a checkpoint whose cosignatures meet the policy's quorum.
type Witnessed struct {
	signer.Checkpoint
	// Note is the checkpoint with the log's signature and the witnesses'
	// cosignatures.
	Note []byte
	// By names the witnesses (policy names) that cosigned.
	By []string
}

// SafetyError means a witness knows a history of this log that the log's
// store does not extend: it cosigned a larger tree, a different root at
// our size, or refused our consistency proof. The log must not sign
// anything until an operator looks (a restored backup, a forked key).
type SafetyError struct {
	Witness string
	Reason  string
}

func (e *SafetyError) Error() string {
	return fmt.Sprintf("witness %s: %s; refusing to sign: this store is behind or off the history witnesses have cosigned (restored from a backup? the key used by another store?)", e.Witness, e.Reason)
}

// Collector gathers witness cosignatures for a log's checkpoints.
type Collector struct {
	cfg    CollectorConfig
	logger *slog.Logger
	// known is each witness's latest cosigned size as far as we know;
	// owned by the goroutine running rounds (Round is not concurrent).
	known     map[string]uint64
	roundMu   sync.Mutex
	witnessed atomic.Pointer[Witnessed]
	metrics   *collectorMetrics // nil without CollectorConfig.Registerer
}

// NewCollector makes a collector; last, if not nil, is the last witnessed
// checkpoint note (from the log's store), published until a new round
// meets the quorum.
func NewCollector(cfg CollectorConfig, last []byte) (*Collector, error) {
	if cfg.Policy == nil || cfg.Log == nil {
		return nil, errors.New("witness: CollectorConfig.Policy and Log are required")
	}
	for _, w := range cfg.Policy.Witnesses {
		if w.URL == "" {
			return nil, fmt.Errorf("witness %s has no URL in the policy", w.Name)
		}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Collector{cfg: cfg, logger: cfg.Logger, known: map[string]uint64{}}
	if cfg.Registerer != nil {
		m, err := newCollectorMetrics(cfg.Registerer, cfg.Policy)
		if err != nil {
			return nil, err
		}
		c.metrics = m
	}
	if last != nil {
		if w, err := c.checkLast(last); err != nil {
			c.logger.Error("not serving the stored witnessed checkpoint", "err", err)
		} else {
			c.witnessed.Store(w)
		}
	}
	return c, nil
}

// checkLast checks a stored witnessed checkpoint before it is served again:
// it must meet the (possibly changed) policy and be a checkpoint of this
// store's tree.
func (c *Collector) checkLast(last []byte) (*Witnessed, error) {
	cp, n, err := c.cfg.Policy.Check(last)
	if err != nil {
		return nil, fmt.Errorf("it does not meet the policy: %w", err)
	}
	latest, _ := c.cfg.Log.Latest()
	if cp.Size > latest.Size {
		return nil, fmt.Errorf("its size %d is beyond this store's %d", cp.Size, latest.Size)
	}
	root, err := proofs.TreeHash(cp.Size, c.cfg.Log)
	if err != nil {
		return nil, err
	}
	if root != cp.Hash {
		return nil, fmt.Errorf("its root at size %d is not this store's", cp.Size)
	}
	return &Witnessed{Checkpoint: cp, Note: last, By: names(n, c.cfg.Policy)}, nil
}

// Witnessed returns the latest checkpoint that met the quorum, or nil.
func (c *Collector) Witnessed() *Witnessed { return c.witnessed.Load() }

// Round asks every witness to cosign the log's latest checkpoint. It
// returns the witnessed checkpoint when the quorum is met (and publishes
// it), a *SafetyError when a witness proves the log's store is behind or
// off its history, or another error when too few witnesses answered.
func (c *Collector) Round(ctx context.Context) (*Witnessed, error) {
	c.roundMu.Lock()
	defer c.roundMu.Unlock()
	cp, note := c.cfg.Log.Latest()
	type answer struct {
		w    *signer.PolicyWitness
		sigs []signer.Signature
		err  error
	}
	answers := make(chan answer, len(c.cfg.Policy.Witnesses))
	known := make(map[string]uint64, len(c.known))
	for k, v := range c.known {
		known[k] = v
	}
	var mu sync.Mutex
	for _, w := range c.cfg.Policy.Witnesses {
		go func() {
			mu.Lock()
			old := known[w.Name]
			mu.Unlock()
			start := time.Now()
			sigs, size, err := c.ask(ctx, w, cp, note, old)
			c.metrics.observe(w.Name, size, time.Since(start), err)
			mu.Lock()
			known[w.Name] = size
			mu.Unlock()
			answers <- answer{w, sigs, err}
		}()
	}
	var (
		got     []signer.Signature
		by      = map[string]bool{}
		safety  *SafetyError
		failing []string
	)
	for range c.cfg.Policy.Witnesses {
		a := <-answers
		var se *SafetyError
		switch {
		case errors.As(a.err, &se):
			safety = se
		case a.err != nil:
			failing = append(failing, fmt.Sprintf("%s: %v", a.w.Name, a.err))
		case len(a.sigs) > 0:
			got = append(got, a.sigs...)
			by[a.w.Name] = true
		}
	}
	c.known = known
	if safety != nil {
		return nil, safety
	}
	if !c.cfg.Policy.QuorumMet(by) {
		sort.Strings(failing)
		return nil, fmt.Errorf("%w for size %d: cosigned by %d of %d witnesses; %s", signer.ErrQuorum, cp.Size, len(by), len(c.cfg.Policy.Witnesses), strings.Join(failing, "; "))
	}
	full := append([]byte(nil), note...)
	for _, s := range got {
		full = append(full, s.Line()...)
	}
	w := &Witnessed{Checkpoint: cp, Note: full, By: sortedKeys(by)}
	if prev := c.witnessed.Load(); prev == nil || prev.Size <= cp.Size {
		c.witnessed.Store(w)
		if c.cfg.OnWitnessed != nil {
			if err := c.cfg.OnWitnessed(w); err != nil {
				c.logger.Warn("couldn't keep the witnessed checkpoint", "size", cp.Size, "err", err)
			}
		}
	}
	return w, nil
}

// ask gets one witness's cosignature: with the size we believe it has, and
// on a 409, once more with the size it says it has. It returns the
// witness's size afterwards.
func (c *Collector) ask(ctx context.Context, w *signer.PolicyWitness, cp signer.Checkpoint, note []byte, old uint64) ([]signer.Signature, uint64, error) {
	client := &Client{URL: w.URL, HTTP: c.cfg.HTTP}
	if old > cp.Size {
		// What we knew of the witness is ahead of this store.
		return nil, old, c.confirm(ctx, w, cp, fmt.Sprintf("it cosigned tree size %d, larger than this log's %d", old, cp.Size))
	}
	for attempt := 0; ; attempt++ {
		var proof [][]byte
		if old > 0 && old < cp.Size {
			p, err := proofs.ProveConsistency(old, cp.Size, c.cfg.Log)
			if err != nil {
				return nil, old, fmt.Errorf("couldn't build the consistency proof %d → %d: %w", old, cp.Size, err)
			}
			proof = p
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		body, err := client.AddCheckpoint(rctx, Request{OldSize: old, Proof: proof, Checkpoint: note})
		cancel()
		var ce *ConflictError
		var se *StatusError
		switch {
		case err == nil:
			sigs := Cosignatures(cp.Text(), body, w.Verifier)
			if len(sigs) == 0 {
				return nil, old, fmt.Errorf("200 without a valid cosignature by %s", w.Verifier.Name())
			}
			return sigs, cp.Size, nil
		case errors.As(err, &ce):
			if ce.Size == old || attempt > 0 {
				if ce.Size == cp.Size && old == cp.Size {
					return nil, old, c.confirm(ctx, w, cp, fmt.Sprintf("it cosigned a different root for tree size %d", cp.Size))
				}
				return nil, ce.Size, fmt.Errorf("still in conflict at size %d", ce.Size)
			}
			if ce.Size < old {
				c.logger.Warn("a witness's cosigned size went backwards (its state was lost or rolled back?)", "witness", w.Name, "was", old, "now", ce.Size)
			}
			old = ce.Size // adopt the witness's size and retry once
			if old > cp.Size {
				return nil, old, c.confirm(ctx, w, cp, fmt.Sprintf("it cosigned tree size %d, larger than this log's %d", old, cp.Size))
			}
		case errors.As(err, &se) && se.Code == http.StatusUnprocessableEntity:
			return nil, old, c.confirm(ctx, w, cp, fmt.Sprintf("it rejects the consistency proof from its cosigned size %d to %d: %s", old, cp.Size, se.Msg))
		default:
			return nil, old, err
		}
	}
}

// confirm turns a witness's claim that the log's store is behind or off
// what it cosigned into a *SafetyError only with proof signed by the log
// itself: the witness's latest cosigned checkpoint (from its read API)
// must carry this log's valid signature and be larger than this tree, or
// have another root than this tree at its size. A witness that cannot show
// that — a liar, a broken one, someone on the network path — is counted as
// failing this round, and cannot stop the log on its word.
func (c *Collector) confirm(ctx context.Context, w *signer.PolicyWitness, cp signer.Checkpoint, claim string) error {
	unconfirmed := func(why string) error {
		c.logger.Error("a witness claims this log's store is behind or off its history, but "+why+"; not stopping on its word", "witness", w.Name, "claim", claim)
		return fmt.Errorf("witness %s: %s (unconfirmed: %s)", w.Name, claim, why)
	}
	var logKey *signer.Verifier
	for _, l := range c.cfg.Policy.Logs {
		if l.Verifier.Name() == cp.Origin {
			logKey = l.Verifier
		}
	}
	if logKey == nil {
		return unconfirmed("the policy has no key for this log to check the witness's evidence with")
	}
	h := sha256.Sum256([]byte(cp.Origin))
	u := strings.TrimSuffix(w.URL, "/") + "/" + hex.EncodeToString(h[:]) + "/checkpoint"
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return unconfirmed(err.Error())
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return unconfirmed("its checkpoint could not be fetched: " + err.Error())
	}
	defer resp.Body.Close()
	note, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
	if err != nil || resp.StatusCode != http.StatusOK {
		return unconfirmed(fmt.Sprintf("its checkpoint could not be fetched (%s)", resp.Status))
	}
	theirs, _, err := signer.OpenCheckpoint(note, logKey)
	if err != nil {
		return unconfirmed("its checkpoint does not carry this log's signature: " + err.Error())
	}
	if theirs.Size > cp.Size {
		return &SafetyError{Witness: w.Name, Reason: fmt.Sprintf("it holds a checkpoint of size %d signed by this log's key, larger than this log's %d", theirs.Size, cp.Size)}
	}
	ours, err := proofs.TreeHash(theirs.Size, c.cfg.Log)
	if err != nil {
		return unconfirmed("this log could not compute its root at size " + fmt.Sprint(theirs.Size) + ": " + err.Error())
	}
	if ours != theirs.Hash {
		return &SafetyError{Witness: w.Name, Reason: fmt.Sprintf("it holds a checkpoint of size %d signed by this log's key with root %x, and this store has %x at that size", theirs.Size, theirs.Hash, ours)}
	}
	return unconfirmed(fmt.Sprintf("its latest checkpoint (size %d) is consistent with this store", theirs.Size))
}

// Run does rounds until ctx ends: one at start, then one per Interval when
// the log has a checkpoint newer than the last witnessed one. A
// *SafetyError ends Run: the caller must stop the log from signing.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	var lastErr string
	for {
		cp, _ := c.cfg.Log.Latest()
		if w := c.Witnessed(); w == nil || w.Size < cp.Size {
			_, err := c.Round(ctx)
			var se *SafetyError
			switch {
			case errors.As(err, &se):
				c.logger.Error("witness safety check failed", "err", err)
				return err
			case err != nil && err.Error() != lastErr:
				c.logger.Warn("checkpoint not witnessed; still serving the last witnessed one", "size", cp.Size, "err", err)
				lastErr = err.Error()
			case err == nil && lastErr != "":
				c.logger.Info("witness quorum met again", "size", cp.Size)
				lastErr = ""
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func names(n *signer.Note, p *signer.Policy) []string {
	var out []string
	for _, w := range p.Witnesses {
		for _, s := range n.Sigs {
			if s.Name == w.Verifier.Name() && s.KeyHash == w.Verifier.KeyHash() {
				out = append(out, w.Name)
				break
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
