package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/witness"
)

// witnessing wires a log to the witnesses of its policy: the collector, the
// published witnessed checkpoint, and the start-up safety check.
type witnessing struct {
	c      *witness.Collector
	ready  atomic.Bool // the start-up check passed: the log may sign
	logger *slog.Logger
}

// logSource adapts the log to the collector.
type logSource struct{ l *log.Log }

func (s logSource) ReadHashes(ids []proofs.NodeID) ([][]byte, error) { return s.l.ReadHashes(ids) }
func (s logSource) Latest() (signer.Checkpoint, []byte) {
	p := s.l.Published()
	return p.Checkpoint, p.Note
}

func newWitnessing(path string, interval time.Duration, l *log.Log, logger *slog.Logger, reg prometheus.Registerer) (*witnessing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	policy, err := signer.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(policy.Witnesses) == 0 {
		return nil, fmt.Errorf("%s lists no witness", path)
	}
	// Clients check this log's signature with the policy's log key: a
	// policy without it would make every published checkpoint unusable.
	listed := false
	for _, pl := range policy.Logs {
		listed = listed || pl.Verifier.String() == l.VerifierKey()
	}
	if !listed {
		return nil, fmt.Errorf("%s has no \"log %s\" line for this log's key", path, l.VerifierKey())
	}
	last, err := l.Witnessed()
	if err != nil {
		return nil, err
	}
	c, err := witness.NewCollector(witness.CollectorConfig{
		Policy:      policy,
		Log:         logSource{l},
		Interval:    interval,
		Logger:      logger.With("component", "witnessing"),
		Registerer:  reg,
		OnWitnessed: func(w *witness.Witnessed) error { return l.StoreWitnessed(w.Note) },
	}, last)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &witnessing{c: c, logger: logger}, nil
}

// apiHooks are the api.Config fields of a witnessed log.
func (w *witnessing) apiHooks(cfg *api.Config) {
	cfg.Witnessed = func() (uint64, []byte, bool) {
		if v := w.c.Witnessed(); v != nil {
			return v.Size, v.Note, true
		}
		return 0, nil, false
	}
	cfg.AddGate = func() error {
		if !w.ready.Load() {
			return api.ErrWaitingForWitnesses
		}
		return nil
	}
}

// start runs the start-up check — rounds until the witnesses' quorum
// cosigns the store's latest checkpoint, before the log signs anything new
// — and then the collector. A witness that has cosigned a history this
// store does not extend (a restored backup, the key used by another store)
// stops it: at start, fatal is called; later, the log is halted.
func (w *witnessing) start(ctx context.Context, l *log.Log, interval time.Duration, fatal func(error)) {
	go func() {
		for {
			_, err := w.c.Round(ctx)
			var se *witness.SafetyError
			switch {
			case errors.As(err, &se):
				l.Halt(err)
				fatal(err)
				return
			case err == nil:
				w.ready.Store(true)
				w.logger.Info("witnesses confirmed the log's state; accepting entries", "size", l.Published().Size)
			default:
				w.logger.Warn("waiting for the witnesses to confirm the log's state before accepting entries", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval):
				}
				continue
			}
			break
		}
		if err := w.c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			l.Halt(err)
		}
	}()
}
