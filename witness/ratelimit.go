package witness

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of Config.RateLimit and Config.RateBurst: a log pushes about
// once a second per origin, so ten a second with a burst of twenty leaves
// it room to retry, while a stranger's flood is cut to the same.
const (
	DefaultRateLimit = 10.0
	DefaultRateBurst = 20
)

// maxAddrBuckets bounds the per-address buckets: beyond it, idle buckets
// are dropped first, then arbitrary ones (a dropped bucket is a full one
// the next time that address comes, never more than the burst).
const maxAddrBuckets = 65536

// bucket is a token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// limiter is a set of token buckets by key. Safe for concurrent use.
type limiter struct {
	rate  float64
	burst float64
	max   int // most buckets kept
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter(rate float64, burst int, max int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket. When there is none it returns
// false and how long until there will be one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// evict makes room for a bucket: it drops every bucket that has refilled
// (idle long enough to be the same as a new one), and if none has, about a
// quarter of them, arbitrarily (map order). Called with mu held.
func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max*3/4 {
			break
		}
		delete(l.buckets, k)
	}
}

// size is the number of buckets held (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// clientKey is the rate limit key of a request's remote address: the IP
// address, or for IPv6 its /64 (one host usually holds a whole /64, so
// counting addresses would let it pick a fresh one per request).
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// retryAfter is d in whole seconds for a Retry-After header, at least 1.
func retryAfter(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// logLimiter lets one log line through per key per interval and counts
// the ones it holds back, to report with the next. Safe for concurrent use.
type logLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*logSlot
}

type logSlot struct {
	next       time.Time
	suppressed int64
}

// allow reports whether to log for key now, and if so how many lines were
// suppressed since the last one.
func (l *logLimiter) allow(key string) (bool, int64) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*logSlot{}
	}
	s, ok := l.keys[key]
	if !ok {
		s = &logSlot{}
		l.keys[key] = s
	}
	if now.Before(s.next) {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.next, s.suppressed = now.Add(l.interval), 0
	return true, n
}
