package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/tlogai/tlog/internal/serving"
	"github.com/tlogai/tlog/internal/telemetry"
)

// Context keys the guard sets for handlers.
const (
	ctxWriter    = "tlog.writer"     // *Writer, when the request authenticated
	ctxRequestID = "tlog.request_id" // string
)

// writeKinds maps each write route to the kind it logs.
var writeKinds = map[string]string{
	"/add":                 KindRaw,
	"/api/v1/attestations": KindRelease,
	"/api/v1/decisions":    KindDecision,
	"/api/v1/access":       KindAccess,
	"/api/v1/evaluations":  KindEvaluation,
}

// guard is the middleware in front of every route: request id, headers,
// Host check, the cap on requests in flight, and, on write routes,
// authentication, scopes, content types and rate limits.
func (s *server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		h := c.Response().Header()
		// The id the telemetry middleware gave the request (the client's
		// X-Request-Id when well formed), already on the answer.
		id := telemetry.RequestID(r.Context())
		if id == "" {
			id = serving.NewRequestID()
			h.Set(telemetry.HeaderRequestID, id)
		}
		c.Set(ctxRequestID, id)
		h.Set("X-Content-Type-Options", "nosniff")

		if err := s.checkHost(r.Host); err != nil {
			return err
		}
		// Browsers' cross-origin writes (Sec-Fetch-Site, or Origin
		// against Host) are refused: a page on another site cannot make
		// a visitor's browser write to the log. Reads are safe methods
		// and pass.
		if err := s.cop.Check(r); err != nil {
			return forbidden("cross-origin request refused: write from a client, not from a web page")
		}
		if !s.inFlight.TryAcquire(1) {
			return errTooBusy
		}
		defer s.inFlight.Release(1)

		kind, write := writeKinds[r.URL.Path]
		if !write || r.Method != http.MethodPost {
			if err := s.limit(c, rateKey(clientAddr(r))); err != nil {
				return err
			}
			return next(c)
		}
		if err := s.authorize(c, kind); err != nil {
			return err
		}
		key := rateKey(clientAddr(r))
		if w := writerOf(c); w != nil {
			key = "writer:" + w.Name
		}
		if err := s.limit(c, key); err != nil {
			return err
		}
		if kind == KindRaw {
			// The JSON endpoints take JSON types only (their handlers
			// check); POST /add takes bytes, so forms are refused here.
			if err := writeContentType(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// limit takes a token from key's bucket, when rate limits are on: 429 with
// Retry-After otherwise.
func (s *server) limit(c echo.Context, key string) error {
	if s.limiter == nil {
		return nil
	}
	if d, ok := s.limiter.allow(key); !ok {
		return &rateLimited{retryAfter: d}
	}
	return nil
}

// authorize checks the bearer token of a write, when the log has writers,
// and that the writer may log kind.
func (s *server) authorize(c echo.Context, kind string) error {
	ws := s.writers.Load()
	if ws == nil && !s.cfg.ClientCertWriters {
		return nil // an open log
	}
	r := c.Request()
	auth := r.Header.Get(echo.HeaderAuthorization)
	if auth == "" && s.cfg.ClientCertWriters && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		name := cert.Subject.CommonName
		if name == "" {
			return errUnauthorized("client certificate has no subject common name to name its writer")
		}
		w := &Writer{Name: name}
		if named := ws.byName(name); named != nil {
			w = named
		}
		c.Set(ctxWriter, w)
		if !w.MayLog(kind) {
			return forbidden(fmt.Sprintf("writer %q may not log %s entries (its kinds: %s)", w.Name, kind, strings.Join(w.Kinds, ",")))
		}
		return nil
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if auth == "" {
		return errUnauthorized("this log takes writes only from its writers: send Authorization: Bearer <token>")
	}
	if ws == nil {
		return errUnauthorized("this log takes writes from client certificates only")
	}
	if !ok || strings.TrimSpace(tok) == "" {
		return errUnauthorized("Authorization: want Bearer <token>")
	}
	w, ok := ws.Authenticate(strings.TrimSpace(tok))
	if !ok {
		return errUnauthorized("unknown or revoked writer token")
	}
	c.Set(ctxWriter, w)
	if !w.MayLog(kind) {
		return forbidden(fmt.Sprintf("writer %q may not log %s entries (its kinds: %s)", w.Name, kind, strings.Join(w.Kinds, ",")))
	}
	return nil
}

// checkSystems refuses records in the name of a system outside the writer's
// systems= scope, naming the first one.
func checkSystems(c echo.Context, systems func(yield func(int, string) bool)) error {
	w := writerOf(c)
	if w == nil || w.Systems == nil {
		return nil
	}
	for i, sys := range systems {
		if !w.MayLogSystem(sys) {
			return forbidden(fmt.Sprintf("writer %q may not log records of system %q (record %d; its systems: %s)", w.Name, sys, i+1, strings.Join(w.Systems, ",")))
		}
	}
	return nil
}

func writerOf(c echo.Context) *Writer {
	w, _ := c.Get(ctxWriter).(*Writer)
	return w
}

func writerName(c echo.Context) string {
	if w := writerOf(c); w != nil {
		return w.Name
	}
	return ""
}

// writeContentType refuses the content types an HTML form or a script's
// "simple" cross-origin request may send without a CORS preflight, unless
// the request carries credentials (an Authorization header is never
// simple, so a browser would have asked first, and this server grants no
// preflight). A web page visited by someone on the log's network can then
// not write to it.
func writeContentType(c echo.Context) error {
	if c.Request().Header.Get(echo.HeaderAuthorization) != "" {
		return nil
	}
	switch mt := mediaType(c); mt {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is what web forms send and is not taken for writes: send application/octet-stream (POST /add) or application/json", mt)}
	}
	return nil
}

// checkHost refuses a Host not in Config.AllowedHosts (when set): a DNS
// rebinding page, or a request meant for another site, then gets nothing.
func (s *server) checkHost(host string) error {
	if len(s.cfg.AllowedHosts) == 0 {
		return nil
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, a := range s.cfg.AllowedHosts {
		if name == a || host == a {
			return nil
		}
	}
	return &httpError{http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not served here", truncateHost(host))}
}

func truncateHost(h string) string {
	if len(h) > 64 {
		return h[:64] + "…"
	}
	return h
}

// clientAddr is the request's peer address without its port.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// rateKey is the bucket of a client address: the address itself for IPv4,
// its /64 for IPv6, where one host commonly holds a whole /64 and could
// otherwise take a fresh bucket per request.
func rateKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return "addr:" + addr
	}
	return "addr:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// maxBuckets bounds the rate limiter's memory (about 100 bytes a bucket):
// past it, a client without a bucket is refused until idle ones expire.
const maxBuckets = 100000

// rateLimiter keeps one token bucket per writer or client address. Buckets
// idle long enough to be full again are dropped, so strangers cannot grow
// the map beyond the addresses seen in one refill period.
type rateLimiter struct {
	rate  rate.Limit
	burst int

	now func() time.Time // the clock; tests set their own

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // guarded by mu
	swept   time.Time                // guarded by mu
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate.Limit(perSecond), burst: burst, now: time.Now, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token from key's bucket, or says how long until one.
func (l *rateLimiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// A bucket refills in burst/rate; one untouched that long is full,
	// the same as a new one, and can go.
	refill := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	if now.Sub(l.swept) > refill {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			return refill, false
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	if b.AllowN(now, 1) {
		return 0, true
	}
	need := 1 - b.TokensAt(now)
	return time.Duration(need / float64(l.rate) * float64(time.Second)), false
}

// rateLimited is a 429 with the wait until the next token.
type rateLimited struct{ retryAfter time.Duration }

func (e *rateLimited) Error() string {
	return "too many requests: rate limit exceeded; retry after the time in Retry-After"
}

// retryAfterSeconds rounds up to whole seconds, at least 1.
func (e *rateLimited) retryAfterSeconds() string {
	return strconv.Itoa(max(1, int((e.retryAfter+time.Second-1)/time.Second)))
}

// submissions bounds the memory that large submissions (attestations,
// decision batches) may hold at once: each reserves its bytes before its
// body is read, and waits briefly for room or is refused with 503.
type submissions struct {
	sem *semaphore.Weighted
	max int64
}

// submissionWait is how long a large submission waits for memory before
// 503: long enough to ride out a burst of batches (each takes well under a
// second), short enough not to pile up connections.
const submissionWait = 5 * time.Second

// reserve takes n bytes (capped at the whole budget, so that one request
// the size of the budget can still run alone) and returns the release.
func (s *submissions) reserve(ctx context.Context, n int64) (func(), error) {
	n = min(max(n, 1), s.max)
	ctx, cancel := context.WithTimeout(ctx, submissionWait)
	defer cancel()
	if err := s.sem.Acquire(ctx, n); err != nil {
		return nil, errTooBusy
	}
	return func() { s.sem.Release(n) }, nil
}
