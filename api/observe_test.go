package api

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/internal/metricstest"
	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

// observedServer is a test server wired as tlog serve wires it: its
// Metrics made before the log and fed by the log's OnBatch, access lines
// in JSON into accessLog.
type observedServer struct {
	*testServer
	srv       *Server
	accessLog *metricstest.Buffer
}

func newObservedServer(t *testing.T, mod func(*Config)) *observedServer {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/observed")
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	fs := faultfs.New(vfs.NewMem())
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := log.Open(log.Config{Dir: "/log", FS: fs, Signer: s, Logger: logger, OnBatch: m.ObserveBatch})
	if err != nil {
		t.Fatal(err)
	}
	access := &metricstest.Buffer{}
	accessLogger, err := telemetry.NewLogger(access, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Log: l, Logger: logger, Metrics: m, AccessLog: accessLogger}
	if mod != nil {
		mod(&cfg)
	}
	srv := New(cfg)
	ts := &testServer{Server: httptest.NewServer(srv), log: l, signer: s, fs: fs}
	t.Cleanup(func() {
		fs.Resume()
		ts.Server.Close()
		l.Close()
	})
	return &observedServer{testServer: ts, srv: srv, accessLog: access}
}

// request sends a request with headers (name, value pairs) and returns the
// answer's status and X-Request-Id.
func (o *observedServer) request(t *testing.T, method, path string, body []byte, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, o.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := o.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

// accessLines parses every access line (all of accessLog) as JSON.
func (o *observedServer) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(o.accessLog.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// The metrics of a real running server, after writes, reads and bad
// requests, scraped over HTTP and parsed with expfmt: request counts by
// route pattern, method and code equal to the requests made; latency and
// batch histograms counted; the log's counters (names of before
// client_golang kept); checkpoint age small; build info, Go and process
// collectors. Every request has one JSON access line, whose request id is
// the one answered, with the authenticated writer on writes.
func TestObservability(t *testing.T) {
	o := newObservedServer(t, func(c *Config) { c.Writers = testWriters(t) })
	auth := bearer(tokRaw)
	type sent struct {
		status        int
		method, route string
		writer        string
	}
	byID := map[string]sent{}
	send := func(method, path, route string, body []byte, want int, headers ...string) string {
		t.Helper()
		code, id := o.request(t, method, path, body, headers...)
		if code != want {
			t.Fatalf("%s %s: %d, want %d", method, path, code, want)
		}
		if _, dup := byID[id]; dup || id == "" {
			t.Fatalf("%s %s: request id %q not fresh", method, path, id)
		}
		w := ""
		if len(headers) > 0 && headers[0] == "Authorization" {
			w = "ingest"
		}
		byID[id] = sent{code, method, route, w}
		return id
	}
	for i := range 3 {
		send(http.MethodPost, "/add", "/add", testEntry(i), 200, append(auth, "Content-Type", "application/octet-stream")...)
	}
	send(http.MethodPost, "/add", "/add", testEntry(0), 200, append(auth, "Content-Type", "application/octet-stream")...) // a duplicate
	send(http.MethodPost, "/add", "/add", nil, 400, append(auth, "Content-Type", "application/octet-stream")...)          // empty: bad
	send(http.MethodPost, "/add", "/add", testEntry(9), 401)                                                              // no token
	for range 2 {
		send(http.MethodGet, "/checkpoint", "/checkpoint", nil, 200)
	}
	send(http.MethodGet, "/tile/0/000.p/3", "/tile/*", nil, 200)
	send(http.MethodGet, "/api/v1/entries/1", "/api/v1/entries/:index", nil, 200)
	send(http.MethodGet, "/api/v1/entries/2", "/api/v1/entries/:index", nil, 200)
	send(http.MethodGet, "/api/v1/entries/x", "/api/v1/entries/:index", nil, 400)
	send(http.MethodGet, "/no/such/thing", telemetry.RouteUnmatched, nil, 404)
	kept := send(http.MethodGet, "/readyz", "/readyz", nil, 200, "X-Request-Id", "client-chosen-7")
	if kept != "client-chosen-7" {
		t.Errorf("a well-formed X-Request-Id came back as %q", kept)
	}

	m := metricstest.Scrape(t, o.Client(), o.URL+"/metrics")
	counts := map[[3]string]float64{}
	for _, s := range byID {
		counts[[3]string{s.route, s.method, strconv.Itoa(s.status)}]++
	}
	if len(counts) < 8 {
		t.Fatalf("only %d kinds of requests: %v", len(counts), counts)
	}
	for k, want := range counts {
		if got := m.Value(t, "tlog_http_requests_total", "route", k[0], "method", k[1], "code", k[2]); got != want {
			t.Errorf("tlog_http_requests_total{route=%q,method=%q,code=%q} = %v, want %v", k[0], k[1], k[2], got, want)
		}
	}
	if got, want := m.Sum(t, "tlog_http_requests_total"), float64(len(byID)); got != want {
		t.Errorf("requests counted %v, made %v (before this scrape)", got, want)
	}
	if got := m.Value(t, "tlog_http_request_duration_seconds", "route", "/add"); got != 6 {
		t.Errorf("latency histogram of /add counts %v, want 6", got)
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"tlog_tree_size", 3}, {"tlog_entries_total", 3}, {"tlog_duplicates_total", 1}, {"tlog_pushback_total", 0},
		{"tlog_pending_entries", 0}, {"tlog_unauthorized_total", 1}, {"tlog_ready", 1}, {"tlog_build_info", 1},
		{"tlog_rate_limited_total", 0}, {"tlog_busy_total", 0}, {"tlog_failed_batches_total", 0},
	} {
		if got := m.Value(t, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	for name, typ := range map[string]string{"tlog_tree_size": "gauge", "tlog_entries_total": "counter", "tlog_pending_entries": "gauge",
		"tlog_batch_commit_seconds": "histogram", "tlog_batch_entries": "histogram", "tlog_checkpoint_age_seconds": "gauge"} {
		if got := m.Type(name); got != typ {
			t.Errorf("%s is a %q, want %s", name, got, typ)
		}
	}
	// Each add was answered before the next was sent: three batches of
	// one entry (the duplicate, alone, committed nothing).
	batches := m.Value(t, "tlog_batches_total")
	if batches != 3 || m.Value(t, "tlog_batch_commit_seconds") != batches || m.Value(t, "tlog_batch_entries") != batches {
		t.Errorf("batches %v, commit histogram %v, size histogram %v: want 3 each", batches,
			m.Value(t, "tlog_batch_commit_seconds"), m.Value(t, "tlog_batch_entries"))
	}
	if h := m.Metric(t, "tlog_batch_entries").GetHistogram(); h.GetSampleSum() != 3 {
		t.Errorf("batch sizes add up to %v, want 3", h.GetSampleSum())
	}
	if h := m.Metric(t, "tlog_batch_commit_seconds").GetHistogram(); h.GetSampleSum() <= 0 || h.GetSampleSum() > 30 {
		t.Errorf("batch commit time adds up to %vs", h.GetSampleSum())
	}
	if age := m.Value(t, "tlog_checkpoint_age_seconds"); age < 0 || age > 60 {
		t.Errorf("tlog_checkpoint_age_seconds = %v, want ≥ 0 and small", age)
	}
	if _, ok := m["tlog_witnessed_tree_size"]; ok {
		t.Error("tlog_witnessed_tree_size without a witness policy")
	}
	if bi := m.Metric(t, "tlog_build_info"); metricstest.Label(bi, "goversion") != runtime.Version() {
		t.Errorf("tlog_build_info labels %v", bi.GetLabel())
	}
	if v := m.Value(t, "go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}
	if runtime.GOOS == "linux" {
		if v := m.Value(t, "process_cpu_seconds_total"); v <= 0 {
			t.Errorf("process_cpu_seconds_total = %v", v)
		}
	}
	// The scrape is counted once it is answered.
	if got := metricstest.Scrape(t, o.Client(), o.URL+"/metrics").Value(t, "tlog_http_requests_total", "route", "/metrics", "method", "GET", "code", "200"); got != 1 {
		t.Errorf("second scrape counts %v scrapes before it, want 1", got)
	}

	lines := o.accessLines(t)
	if len(lines) != len(byID)+2 {
		t.Fatalf("%d access lines for %d requests:\n%s", len(lines), len(byID)+2, o.accessLog.String())
	}
	for _, l := range lines {
		id, _ := l["request_id"].(string)
		s, ok := byID[id]
		if !ok {
			if l["route"] == "/metrics" {
				continue
			}
			t.Errorf("access line with request id %q, answered to no request: %v", id, l)
			continue
		}
		if l["msg"] != "request" || l["method"] != s.method || l["route"] != s.route || l["status"] != float64(s.status) {
			t.Errorf("access line %v, want method %s route %s status %d", l, s.method, s.route, s.status)
		}
		if r, _ := l["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("access line remote %q", r)
		}
		if v, ok := l["latency_ms"].(float64); !ok || v < 0 {
			t.Errorf("access line latency_ms %v", l["latency_ms"])
		}
		if v, ok := l["bytes"].(float64); !ok || v < 0 || (s.method == http.MethodGet && s.status == 200 && v == 0) {
			t.Errorf("access line bytes %v", l["bytes"])
		}
		if w, _ := l["writer"].(string); w != s.writer {
			t.Errorf("access line writer %q, want %q: %v", w, s.writer, l)
		}
	}
}

// /readyz is 503 with a one-line reason while the log takes no writes —
// waiting for its witnesses' start-up check, halted by a safety check,
// closed — and 200 otherwise; tlog_ready follows it. /healthz is liveness:
// a halted log stays alive (200, saying it takes no writes); a closed one
// is not.
func TestReadyz(t *testing.T) {
	var gated atomic.Bool
	gated.Store(true)
	o := newObservedServer(t, func(c *Config) {
		c.AddGate = func() error {
			if gated.Load() {
				return ErrWaitingForWitnesses
			}
			return nil
		}
	})
	probe := func(path string, want int, reason string) {
		t.Helper()
		resp, body := o.do(t, http.MethodGet, path, nil)
		if resp.StatusCode != want || !strings.Contains(string(body), reason) || strings.Count(string(body), "\n") != 1 {
			t.Fatalf("GET %s: %d %q, want %d and one line with %q", path, resp.StatusCode, body, want, reason)
		}
		if want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", path)
		}
	}
	ready := func(want float64) {
		t.Helper()
		if got := metricstest.Scrape(t, o.Client(), o.URL+"/metrics").Value(t, "tlog_ready"); got != want {
			t.Errorf("tlog_ready = %v, want %v", got, want)
		}
	}
	probe("/readyz", 503, "waiting for its witnesses")
	probe("/healthz", 200, "ok")
	ready(0)
	gated.Store(false)
	probe("/readyz", 200, "ready")
	ready(1)
	o.add(t, []byte("before the halt"))

	o.log.Halt(errors.New("a witness reported a fork (test)"))
	probe("/readyz", 503, "stopped signing")
	probe("/healthz", 200, "not taking writes")
	ready(0)
	if resp, _ := o.do(t, http.MethodGet, "/checkpoint", nil); resp.StatusCode != 200 {
		t.Errorf("a halted log serves no checkpoint: %d", resp.StatusCode)
	}

	o.log.Close()
	probe("/readyz", 503, "shutting down")
	probe("/healthz", 503, "shutting down")
	if resp, body := o.do(t, http.MethodHead, "/readyz", nil); resp.StatusCode != 503 || len(body) != 0 {
		t.Errorf("HEAD /readyz of a closed log: %d with %d bytes", resp.StatusCode, len(body))
	}
}

// pprof is on the debug listener only: never on the public one, whatever
// the path; the debug listener serves the same registry's metrics.
func TestDebugListener(t *testing.T) {
	o := newObservedServer(t, nil)
	o.add(t, []byte("one"))
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap"} {
		if resp, body := o.do(t, http.MethodGet, p, nil); resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("goroutine")) {
			t.Errorf("public GET %s: %d %.80q, want 404", p, resp.StatusCode, body)
		}
	}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, nil))
	d, err := telemetry.ServeDebug("127.0.0.1:0", false, o.srv.Metrics().Registry(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	base := "http://" + d.Addr().String()
	resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(b.String(), "goroutine") {
		t.Errorf("debug GET /debug/pprof/goroutine: %d %.200q", resp.StatusCode, b.String())
	}
	m := metricstest.Scrape(t, http.DefaultClient, base+"/metrics")
	if got := m.Value(t, "tlog_tree_size"); got != 1 {
		t.Errorf("tlog_tree_size on the debug listener = %v, want 1", got)
	}
	if got := m.Sum(t, "tlog_http_requests_total", "route", telemetry.RouteUnmatched, "code", "404"); got != 5 {
		t.Errorf("the public 404s for /debug/pprof/ counted %v times under %q, want 5", got, telemetry.RouteUnmatched)
	}
	if _, err := telemetry.ServeDebug("0.0.0.0:0", false, o.srv.Metrics().Registry(), logger); !errors.Is(err, telemetry.ErrDebugNotLoopback) {
		t.Errorf("ServeDebug on 0.0.0.0: %v", err)
	}
}
