package witness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/signer"
)

// Handler returns the witness's HTTP surface:
//
//	POST /add-checkpoint                c2sp.org/tlog-witness
//	GET  /<hex sha256(origin)>/checkpoint  latest cosigned checkpoint
//	GET  /forks[?limit=N&cursor=C]      fork evidence records, text
//	GET  /metrics                       Prometheus: forks, bad proofs, logs, requests, Go, process
//	GET  /healthz                       liveness: 200 while it serves
//	GET  /readyz                        200 once the store is open, 503 once closed
//
// Every GET route answers HEAD too (the headers, no body).
//
// POST /add-checkpoint is rate limited per client address (IPv6: per /64)
// and per log origin, with token buckets of Config.RateLimit requests per
// second and Config.RateBurst in reserve; over either it answers 429 with
// a Retry-After header (seconds). The origin's bucket counts requests with
// the log's valid signature that do not move the witness to a larger size
// (replays, conflicts, failing proofs). The address is the connection's peer:
// behind a reverse proxy every client shares the proxy's bucket, so limit
// there instead (or set a negative Config.RateLimit). A checkpoint signed
// by the log with a proof that fails is 422 and not kept as evidence.
//
// GET /forks pages the records in store order (by origin, then time):
// limit is 1 to MaxForksLimit (default DefaultForksLimit); when more
// records follow, the answer has a Next-Cursor header whose value, passed
// as cursor, gets the next page. No header: the last page. Records are
// separated by an empty line. A bad limit or cursor is 400.
func Handler(w *Witness) http.Handler { return NewHandler(w, HandlerOptions{}) }

// HandlerOptions are how NewHandler's server is observed.
type HandlerOptions struct {
	// Registry is served at GET /metrics, and the HTTP request metrics
	// (witness_http_requests_total, witness_http_request_duration_seconds)
	// are registered on it. It should come from w.NewRegistry. Nil: a new
	// w.NewRegistry().
	Registry *prometheus.Registry
	// AccessLog, if set, receives one line per request at info level,
	// once it is answered: message "request", fields request_id (also
	// answered in X-Request-Id), method, route (the route pattern, or
	// "unmatched"), status, latency_ms, bytes (of the answer's body) and
	// remote.
	AccessLog *slog.Logger
	// ReadOnly serves the read API only: POST /add-checkpoint answers 405
	// (witness watch --listen, whose witness cosigns from its own rounds).
	ReadOnly bool
}

// errReadOnly is the 405 of a read-only handler's add-checkpoint.
var errReadOnly = echo.NewHTTPError(http.StatusMethodNotAllowed, "this witness publishes reads only: it cosigns from its own rounds (witness watch)")

// NewHandler is Handler with its metrics on o.Registry and access lines to
// o.AccessLog. Every request gets an id (the client's X-Request-Id when
// well formed), answered in X-Request-Id.
func NewHandler(w *Witness, o HandlerOptions) http.Handler {
	if o.Registry == nil {
		o.Registry = w.NewRegistry()
	}
	var byAddr, byOrigin *limiter
	if w.cfg.RateLimit > 0 {
		byAddr = newLimiter(w.cfg.RateLimit, w.cfg.RateBurst, maxAddrBuckets, w.cfg.clock)
		// Origins are the configured logs (checked before the bucket is
		// taken), so this map is as small as the logs file.
		byOrigin = newLimiter(w.cfg.RateLimit, w.cfg.RateBurst, maxAddrBuckets, w.cfg.clock)
	}
	opts := addOpts{}
	if byOrigin != nil {
		opts.allowOrigin = byOrigin.allow
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := status(err)
		var ce *ConflictError
		var rl *RateLimitError
		if errors.As(err, &rl) {
			c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfter(rl.RetryAfter)))
		}
		if errors.As(err, &ce) {
			_ = c.Blob(code, "text/x.tlog.size", []byte(strconv.FormatUint(ce.Size, 10)+"\n"))
			return
		}
		if code >= 500 {
			w.logger.Error("request failed", "path", c.Request().URL.Path, "err", err)
		}
		_ = c.Blob(code, "text/plain; charset=utf-8", []byte(msg+"\n"))
	}
	e.Use(telemetry.NewHTTP(o.Registry, "witness").Middleware(telemetry.Options{AccessLog: o.AccessLog}))
	e.POST("/add-checkpoint", func(c echo.Context) error {
		if o.ReadOnly {
			c.Response().Header().Set("Allow", "GET, HEAD")
			return errReadOnly
		}
		r := c.Request()
		if ok, wait := byAddr.allow(clientKey(r.RemoteAddr)); !ok {
			w.rateLimited.Add(1)
			return &RateLimitError{What: "client address", RetryAfter: wait}
		}
		if r.ContentLength > MaxBodySize {
			return errTooLarge
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
		if err != nil {
			return fmt.Errorf("%w: couldn't read the body", ErrMalformedRequest)
		}
		if len(body) > MaxBodySize {
			return errTooLarge
		}
		lines, err := w.add(r.Context(), body, opts)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", lines)
	})
	get := func(path string, h echo.HandlerFunc) {
		e.GET(path, h)
		e.HEAD(path, h) // net/http sends no body for HEAD
	}
	get("/forks", func(c echo.Context) error {
		q, err := url.ParseQuery(c.Request().URL.RawQuery)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "malformed query")
		}
		for k, v := range q {
			if k != "limit" && k != "cursor" {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("unknown parameter %.64q (want limit, cursor)", k))
			}
			if len(v) != 1 {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("parameter %q given %d times", k, len(v)))
			}
		}
		limit := DefaultForksLimit
		if q.Has("limit") {
			l := q.Get("limit")
			n, err := signer.ParseDecimal(l)
			if err != nil || n < 1 || n > MaxForksLimit {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", MaxForksLimit))
			}
			limit = int(n)
		}
		cursor := q.Get("cursor")
		if cursor == "" && q.Has("cursor") {
			return echo.NewHTTPError(http.StatusBadRequest, "empty cursor: omit it for the first page")
		}
		fs, next, err := w.ForksPage(cursor, limit)
		if errors.Is(err, ErrBadCursor) {
			return echo.NewHTTPError(http.StatusBadRequest, "bad cursor: use the Next-Cursor header of the previous page")
		}
		if err != nil {
			return err
		}
		if next != "" {
			c.Response().Header().Set("Next-Cursor", next)
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", bytes.Join(fs, []byte("\n")))
	})
	get("/metrics", echo.WrapHandler(telemetry.MetricsHandler(o.Registry)))
	get("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	get("/readyz", func(c echo.Context) error {
		if w.closed.Load() {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the witness store is closed")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	get("/:hash/checkpoint", func(c echo.Context) error {
		note, err := w.Latest(c.Param("hash"))
		if err != nil {
			return err
		}
		if note == nil {
			return echo.NewHTTPError(http.StatusNotFound, "no cosigned checkpoint for that origin hash")
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", note)
	})
	return e
}

var errTooLarge = fmt.Errorf("%w: body larger than %d bytes", errBodyTooLarge, MaxBodySize)
var errBodyTooLarge = errors.New("request too large")

// status maps errors to the statuses of c2sp.org/tlog-witness; the one
// place where that happens.
func status(err error) (int, string) {
	var ce *ConflictError
	var he *echo.HTTPError
	var rl *RateLimitError
	switch {
	case errors.As(err, &ce):
		return http.StatusConflict, ce.Error()
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, rl.Error()
	case errors.As(err, &he):
		return he.Code, fmt.Sprint(he.Message)
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, ErrMalformedRequest), errors.Is(err, ErrOldTooLarge):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrUnknownLog):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrUnauthorized):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ErrBadProof):
		return http.StatusUnprocessableEntity, err.Error()
	default:
		return http.StatusInternalServerError, "internal error"
	}
}
