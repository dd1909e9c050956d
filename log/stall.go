package log

import (
	"sync"
	"sync/atomic"
	"time"
)

// stallGuard lets waiting adds give up when a batch takes too long (a stuck
// disk, a hung signing backend), without a timer per request: every waiter
// selects on the same channel, which the watchdog closes when the batch in
// progress has run longer than the limit. The outcome of that batch is then
// unknown to its waiters; they get ErrTimeout and may retry (dedup makes a
// retry safe).
type stallGuard struct {
	// busySince is when the oldest batch in flight started (Unix
	// nanoseconds), 0 when none is. Written under mu, read by the
	// watchdog.
	busySince atomic.Int64
	// ch is the channel waiters select on; closed when tripped.
	ch atomic.Pointer[chan struct{}]

	mu       sync.Mutex
	tripped  bool // ch is closed; guarded by mu
	inFlight int  // batches started and not done; guarded by mu
}

func newStallGuard() *stallGuard {
	g := &stallGuard{}
	ch := make(chan struct{})
	g.ch.Store(&ch)
	return g
}

// channel returns the channel that closes when the current batch stalls.
func (g *stallGuard) channel() <-chan struct{} { return *g.ch.Load() }

// batchStarted and batchDone bracket each batch, from the start of its
// integration to its resolution; a batch can be in the committer while the
// next is integrated. The guard measures the age of the oldest batch in
// flight (approximately: when one completes and another is in flight, the
// clock restarts for it).
func (g *stallGuard) batchStarted(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight++
	if g.inFlight == 1 {
		g.busySince.Store(now.UnixNano())
	}
}

// batchDone reports whether the guard had tripped (so that the caller can
// log the recovery), and re-arms it.
func (g *stallGuard) batchDone(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.inFlight == 0 {
		g.busySince.Store(0)
	} else {
		g.busySince.Store(now.UnixNano())
	}
	if !g.tripped {
		return false
	}
	ch := make(chan struct{})
	g.ch.Store(&ch)
	g.tripped = false
	return true
}

// check trips the guard if the batch in progress has run longer than limit;
// it returns how long it has run when it trips, else 0.
func (g *stallGuard) check(now time.Time, limit time.Duration) time.Duration {
	since := g.busySince.Load()
	if since == 0 {
		return 0
	}
	busy := now.Sub(time.Unix(0, since))
	if busy <= limit {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tripped || g.busySince.Load() != since {
		return 0
	}
	close(*g.ch.Load())
	g.tripped = true
	return busy
}

// watch is the watchdog goroutine: it checks the guard a few times per
// limit until the sequencer has stopped.
func (l *Log) watch() {
	limit := l.cfg.CommitTimeout
	t := time.NewTicker(max(limit/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			if busy := l.stall.check(time.Now(), limit); busy > 0 {
				l.logger.Error("a batch is stalled; waiting adds get 503 until it completes", "busy", busy.Round(time.Millisecond), "limit", limit)
			}
		}
	}
}
