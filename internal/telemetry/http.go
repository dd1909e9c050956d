package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/serving"
)

// RouteUnmatched is the route label of a request that matched no route
// (404 from the router): the raw path is never a label, so the series stay
// as few as the routes.
const RouteUnmatched = "unmatched"

// HeaderRequestID carries the request id, in and out.
const HeaderRequestID = "X-Request-Id"

// maxRequestID bounds an incoming X-Request-Id that is kept.
const maxRequestID = 64

// HTTP holds the request metrics of one server:
//
//	<program>_http_requests_total{route,method,code}        counter
//	<program>_http_request_duration_seconds{route}          histogram
//
// route is the Echo route pattern ("/api/v1/entries/:index"), or
// RouteUnmatched; method is one of the standard methods or OTHER; code is
// the status answered.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the request metrics of program on reg.
func NewHTTP(reg prometheus.Registerer, program string) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: program + "_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    program + "_http_request_duration_seconds",
			Help:    "Time from routing a request to the end of its answer, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(h.requests, h.duration)
	return h
}

// Options of Middleware.
type Options struct {
	// AccessLog receives one line per request at info level (nil: none):
	// message "request", fields request_id, method, route, status,
	// latency_ms, bytes, remote and, when Writer names one, writer.
	AccessLog *slog.Logger
	// Writer, if set, names the authenticated writer of a request once it
	// has been handled ("" for none).
	Writer func(echo.Context) string
}

// Middleware returns the Echo middleware that must come first (e.Use
// before any other): it gives the request its id — the incoming
// X-Request-Id when well formed (1 to 64 letters, digits and -._:),
// else a fresh one — sets it on the answer and in the request's context
// (RequestID), lets the error handler answer any error the chain returns
// (so that the status is known), then counts, times and logs the request.
// h may be nil: no metrics.
func (h *HTTP) Middleware(o Options) echo.MiddlewareFunc {
	var (
		once   sync.Once
		routes map[string]bool
	)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			r := c.Request()
			id := r.Header.Get(HeaderRequestID)
			if !validRequestID(id) {
				id = serving.NewRequestID()
			}
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
			c.SetRequest(r)
			c.Response().Header().Set(HeaderRequestID, id)

			if err := next(c); err != nil {
				c.Error(err)
			}

			once.Do(func() {
				routes = map[string]bool{}
				for _, rt := range c.Echo().Routes() {
					routes[rt.Path] = true
				}
			})
			route := c.Path()
			if !routes[route] {
				route = RouteUnmatched
			}
			res := c.Response()
			status := res.Status
			elapsed := time.Since(start)
			if h != nil {
				h.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Inc()
				h.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			}
			if o.AccessLog != nil && o.AccessLog.Enabled(r.Context(), slog.LevelInfo) {
				attrs := []slog.Attr{
					slog.String("request_id", id),
					slog.String("method", clip(r.Method, 16)),
					slog.String("route", route),
					slog.Int("status", status),
					slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
					slog.Int64("bytes", res.Size),
					slog.String("remote", r.RemoteAddr),
				}
				if o.Writer != nil {
					if w := o.Writer(c); w != "" {
						attrs = append(attrs, slog.String("writer", w))
					}
				}
				o.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
			}
			return nil
		}
	}
}

type requestIDKey struct{}

// RequestID returns the id Middleware gave the request of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID reports whether an incoming id is kept: 1 to 64 ASCII
// letters, digits, '-', '_', '.' or ':' (UUIDs, ULIDs, trace ids, ours),
// nothing that could forge a log field or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}

// methodLabel keeps the method label to the standard methods: anyone can
// send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
