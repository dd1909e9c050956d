package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/internal/metricstest"
)

// newEchoServer serves a small Echo app behind Middleware, on 127.0.0.1.
func newEchoServer(t *testing.T, o Options) (*httptest.Server, *HTTP, func() metricstest.Families) {
	t.Helper()
	reg := NewRegistry("test")
	h := NewHTTP(reg, "test")
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		code := http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
		}
		_ = c.String(code, "refused\n")
	}
	e.Use(h.Middleware(o))
	e.GET("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "thing "+c.Param("id")+"\n") })
	e.POST("/things", func(c echo.Context) error { return echo.NewHTTPError(http.StatusBadRequest, "no") })
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	scrape := func() metricstest.Families {
		var b bytes.Buffer
		rec := httptest.NewRecorder()
		MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		b.Write(rec.Body.Bytes())
		return metricstest.Parse(t, b.String())
	}
	return ts, h, scrape
}

func do(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Every request is counted under its route pattern (never its path),
// method and status, timed, and logged as one JSON line carrying the id
// answered in X-Request-Id: the client's when well formed, else a fresh
// one. Errors are answered by the error handler before they are counted.
func TestMiddleware(t *testing.T) {
	var logs metricstest.Buffer
	logger, err := NewLogger(&logs, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ts, _, scrape := newEchoServer(t, Options{AccessLog: logger, Writer: func(c echo.Context) string {
		if c.Request().Method == http.MethodPost {
			return "a-writer"
		}
		return ""
	}})

	ids := map[string]int{} // request id → status answered
	for i, path := range []string{"/things/1", "/things/2", "/things/%2e%2e", "/nothing/here", "/nothing/there"} {
		header := []string{}
		if i == 0 {
			header = []string{"X-Request-Id", "trace-ABC.123:x_y"}
		}
		resp := do(t, http.MethodGet, ts.URL+path, header...)
		ids[resp.Header.Get("X-Request-Id")] = resp.StatusCode
		if i == 0 && resp.Header.Get("X-Request-Id") != "trace-ABC.123:x_y" {
			t.Errorf("a well-formed incoming id was replaced by %q", resp.Header.Get("X-Request-Id"))
		}
	}
	for _, bad := range []string{strings.Repeat("a", 65), "has space", `quote"`, "ünï"} {
		resp := do(t, http.MethodPost, ts.URL+"/things", "X-Request-Id", bad)
		got := resp.Header.Get("X-Request-Id")
		if got == bad || !validRequestID(got) {
			t.Errorf("incoming id %q answered as %q, want a fresh one", bad, got)
		}
		ids[got] = resp.StatusCode
	}
	resp := do(t, "BREW", ts.URL+"/things/1")
	ids[resp.Header.Get("X-Request-Id")] = resp.StatusCode
	if len(ids) != 10 {
		t.Fatalf("%d distinct request ids for 10 requests: %v", len(ids), ids)
	}

	m := scrape()
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/things/:id", "method", "GET", "code", "200"}, 3},
		{[]string{"route", RouteUnmatched, "method", "GET", "code", "404"}, 2},
		{[]string{"route", "/things", "method", "POST", "code", "400"}, 4},
		{[]string{"route", "/things/:id", "method", "OTHER", "code", "405"}, 1},
	} {
		if got := m.Value(t, "test_http_requests_total", c.labels...); got != c.want {
			t.Errorf("test_http_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := len(m.All("test_http_requests_total")); n != 4 {
		t.Errorf("%d request series, want 4 (no raw paths as labels)", n)
	}
	if got := m.Value(t, "test_http_request_duration_seconds", "route", "/things/:id"); got != 4 {
		t.Errorf("duration count of /things/:id = %v, want 4 (3 GET and the BREW)", got)
	}
	if m.Type("test_http_request_duration_seconds") != "histogram" {
		t.Errorf("duration is a %s", m.Type("test_http_request_duration_seconds"))
	}

	lines := metricstest.JSONLines(t, logs.String())
	if len(lines) != 10 {
		t.Fatalf("%d access lines for 10 requests:\n%s", len(lines), logs.String())
	}
	for _, l := range lines {
		id, _ := l["request_id"].(string)
		status, ok := ids[id]
		if !ok {
			t.Errorf("line with request id %q, answered by none: %v", id, l)
			continue
		}
		if l["msg"] != "request" || l["level"] != "INFO" || l["status"] != float64(status) {
			t.Errorf("line %v: want msg request, level INFO, status %d", l, status)
		}
		for _, k := range []string{"method", "route", "remote"} {
			if s, _ := l[k].(string); s == "" {
				t.Errorf("line %v has no %s", l, k)
			}
		}
		if r, _ := l["route"].(string); strings.Contains(r, "nothing") || strings.Contains(r, "%2e") {
			t.Errorf("route %q is a raw path", r)
		}
		if v, ok := l["latency_ms"].(float64); !ok || v < 0 {
			t.Errorf("line %v: latency_ms", l)
		}
		if v, ok := l["bytes"].(float64); !ok || v <= 0 {
			t.Errorf("line %v: bytes", l)
		}
		if w, has := l["writer"]; (l["method"] == "POST") != has || (has && w != "a-writer") {
			t.Errorf("line %v: writer only on the writes, named a-writer", l)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(&b, "text", "warn")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "level=WARN msg=shown k=v") {
		t.Errorf("text logger at warn wrote %q", s)
	}
	b.Reset()
	l, _ = NewLogger(&b, "JSON", "debug")
	l.Debug("d")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["msg"] != "d" {
		t.Errorf("json logger wrote %q (%v)", b.String(), err)
	}
	if _, err := NewLogger(&b, "xml", "info"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("format xml: %v", err)
	}
	if _, err := NewLogger(&b, "text", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("level loud: %v", err)
	}
}

// The registry has build info (1, labelled with the running Go), the Go
// and the process collectors.
func TestRegistry(t *testing.T) {
	reg := NewRegistry("prog")
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := metricstest.Parse(t, rec.Body.String())
	if v := m.Value(t, "prog_build_info", "goversion", runtime.Version()); v != 1 {
		t.Errorf("prog_build_info = %v", v)
	}
	bi := m.Metric(t, "prog_build_info")
	if metricstest.Label(bi, "version") == "" || metricstest.Label(bi, "revision") == "" {
		t.Errorf("build info labels %v", bi.GetLabel())
	}
	if v := m.Value(t, "go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}
	if runtime.GOOS == "linux" {
		if v := m.Value(t, "process_resident_memory_bytes"); v <= 0 {
			t.Errorf("process_resident_memory_bytes = %v", v)
		}
	}
	// A second registry of the same program in the same process is
	// independent (no global state).
	NewRegistry("prog")
}

// The debug listener serves pprof and the metrics, on loopback only unless
// allowed anywhere; the check refuses before anything is bound.
func TestServeDebug(t *testing.T) {
	reg := NewRegistry("dbg")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "[::]:6060", "192.0.2.1:6060", "example.com:6060", "localhost"} {
		if _, err := ServeDebug(addr, false, reg, logger); !errors.Is(err, ErrDebugNotLoopback) {
			t.Errorf("ServeDebug(%q) = %v, want ErrDebugNotLoopback", addr, err)
		}
	}
	d, err := ServeDebug("127.0.0.1:0", false, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	base := "http://" + d.Addr().String()
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if resp := do(t, http.MethodGet, base+p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the debug listener: %d", p, resp.StatusCode)
		}
	}
	if v := metricstest.Scrape(t, http.DefaultClient, base+"/metrics").Value(t, "dbg_build_info"); v != 1 {
		t.Errorf("dbg_build_info on the debug listener = %v", v)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/debug/pprof/"); err == nil {
		t.Error("the debug listener still answers after Close")
	}
}

// BenchmarkMiddleware measures what the middleware adds to a request:
// metrics only, and metrics with a JSON access line (to io.Discard).
func BenchmarkMiddleware(b *testing.B) {
	for _, withLog := range []bool{false, true} {
		name := "metrics"
		var o Options
		if withLog {
			name = "metrics+json-log"
			o.AccessLog, _ = NewLogger(io.Discard, "json", "info")
		}
		b.Run(name, func(b *testing.B) {
			e := echo.New()
			e.Use(NewHTTP(NewRegistry("bench"), "bench").Middleware(o))
			e.GET("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
			req := httptest.NewRequest(http.MethodGet, "/things/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
