package witness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/internal/metricstest"
	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/log"
)

// The witness server's metrics, scraped from a running server and parsed
// with expfmt: its counters under the names of before client_golang,
// requests by route pattern (the origin hash is never a label), method and
// code, latency, build info, Go and process collectors. One JSON access
// line per request, with the request id answered. /readyz is 200 while the
// store is open, 503 once closed; /healthz stays 200. pprof is not served.
func TestWitnessServerObservability(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 10, "main")
	w, err := Open(Config{Dir: "/witness", FS: vfs.NewMem(), Signer: wk.cosigner, Logs: []LogKey{{Verifier: lk.verifier}},
		Logger: testLogger(t), Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	var access metricstest.Buffer
	accessLog, err := telemetry.NewLogger(&access, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(w, HandlerOptions{Registry: w.NewRegistry(), AccessLog: accessLog}))
	defer srv.Close()
	defer w.Close()

	ids := map[string]int{}
	req := func(method, path string, body []byte, want int) {
		t.Helper()
		r, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %q, want %d", method, path, resp.StatusCode, b.String(), want)
		}
		ids[resp.Header.Get("X-Request-Id")] = want
	}
	req(http.MethodGet, "/readyz", nil, 200)
	req(http.MethodPost, "/add-checkpoint", reqBody(0, nil, x.checkpoint(t, 5)), 200)
	req(http.MethodPost, "/add-checkpoint", reqBody(5, x.proof(t, 5, 10), x.checkpoint(t, 10)), 200)
	req(http.MethodPost, "/add-checkpoint", []byte("not a request"), 400)
	req(http.MethodGet, originPath(testOrigin), nil, 200)
	req(http.MethodGet, originPath("example.com/unknown"), nil, 404)
	req(http.MethodGet, "/forks", nil, 200)
	req(http.MethodGet, "/debug/pprof/", nil, 404)
	req(http.MethodGet, "/debug/pprof/goroutine", nil, 404)
	if len(ids) != 9 {
		t.Fatalf("%d request ids for 9 requests", len(ids))
	}

	m := metricstest.Scrape(t, http.DefaultClient, srv.URL+"/metrics")
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/add-checkpoint", "method", "POST", "code", "200"}, 2},
		{[]string{"route", "/add-checkpoint", "method", "POST", "code", "400"}, 1},
		{[]string{"route", "/:hash/checkpoint", "method", "GET", "code", "200"}, 1},
		{[]string{"route", "/:hash/checkpoint", "method", "GET", "code", "404"}, 1},
		{[]string{"route", "/forks", "method", "GET", "code", "200"}, 1},
		{[]string{"route", "/readyz", "method", "GET", "code", "200"}, 1},
	} {
		if got := m.Value(t, "witness_http_requests_total", c.labels...); got != c.want {
			t.Errorf("witness_http_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	// The pprof paths are not routes: counted as unmatched 404s, or as
	// the /:hash/checkpoint pattern's 404 — never under their own path.
	if got := m.Sum(t, "witness_http_requests_total", "code", "404"); got != 3 {
		t.Errorf("%v 404s counted, want 3", got)
	}
	for _, s := range m.All("witness_http_requests_total") {
		if r := metricstest.Label(s, "route"); strings.Contains(r, "pprof") || strings.Contains(r, "example.com") {
			t.Errorf("route label %q is a raw path", r)
		}
	}
	if got := m.Value(t, "witness_http_request_duration_seconds", "route", "/add-checkpoint"); got != 3 {
		t.Errorf("latency histogram of /add-checkpoint counts %v, want 3", got)
	}
	for name, want := range map[string]float64{"witness_forks_total": 0, "witness_bad_proofs_total": 0, "witness_rate_limited_total": 0, "witness_logs": 1, "witness_build_info": 1} {
		if got := m.Value(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if m.Type("witness_forks_total") != "counter" || m.Type("witness_logs") != "gauge" {
		t.Errorf("types: forks %s, logs %s", m.Type("witness_forks_total"), m.Type("witness_logs"))
	}
	if bi := m.Metric(t, "witness_build_info"); metricstest.Label(bi, "goversion") != runtime.Version() {
		t.Errorf("witness_build_info labels %v", bi.GetLabel())
	}
	if v := m.Value(t, "go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}

	sc := bufio.NewScanner(strings.NewReader(access.String()))
	n := 0
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("access line is not JSON: %v: %s", err, sc.Text())
		}
		if l["route"] == "/metrics" {
			continue
		}
		n++
		id, _ := l["request_id"].(string)
		status, ok := ids[id]
		if !ok || l["status"] != float64(status) || l["msg"] != "request" {
			t.Errorf("access line %v: no request answered %q with that status", l, id)
		}
		for _, k := range []string{"method", "route", "remote"} {
			if s, _ := l[k].(string); s == "" {
				t.Errorf("access line %v has no %s", l, k)
			}
		}
		if _, ok := l["latency_ms"].(float64); !ok {
			t.Errorf("access line %v has no latency_ms", l)
		}
		if _, ok := l["bytes"].(float64); !ok {
			t.Errorf("access line %v has no bytes", l)
		}
	}
	if n != 9 {
		t.Errorf("%d access lines for 9 requests:\n%s", n, access.String())
	}

	w.Close()
	req(http.MethodGet, "/readyz", nil, 503)
	req(http.MethodGet, "/healthz", nil, 200)
}

// The log side: a log with a witness policy of three real witnesses over
// HTTP. Its tlog serve metrics, scraped from the running API server, have
// per witness the size it cosigned, the cosigning latency (one observation
// per round) and failures (a witness answering 503 for a round), and the
// witnessed tree size; the batch histograms count the log's commits.
func TestCollectorMetrics(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	m := api.NewMetrics()
	l, err := log.Open(log.Config{Dir: "/log", FS: vfs.NewMem(), Signer: lk.ourSigner(t), Logger: testLogger(t), OnBatch: m.ObserveBatch})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var c atomic.Pointer[Collector]
	srv := httptest.NewServer(api.New(api.Config{Log: l, Logger: testLogger(t), Metrics: m,
		Witnessed: func() (uint64, []byte, bool) {
			if w := c.Load().Witnessed(); w != nil {
				return w.Size, w.Note, true
			}
			return 0, nil, false
		}}))
	defer srv.Close()
	e := newCollectorEnv(t, lk, srv.URL)
	col, err := NewCollector(CollectorConfig{Policy: e.policy, Log: logSource{l}, Timeout: 5 * time.Second, Logger: testLogger(t), Registerer: m.Registry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Store(col)
	x := &xlog{key: lk}

	scrape := func() metricstest.Families { return metricstest.Scrape(t, srv.Client(), srv.URL+"/metrics") }
	before := scrape()
	for _, name := range []string{"w1", "w2", "w3"} {
		if got := before.Value(t, "tlog_witness_cosign_failures_total", "witness", name); got != 0 {
			t.Errorf("failures of %s before any round: %v", name, got)
		}
		if got := before.Value(t, "tlog_witness_cosigned_size", "witness", name); got != 0 {
			t.Errorf("cosigned size of %s before any round: %v", name, got)
		}
	}
	if got := before.Value(t, "tlog_witnessed_tree_size"); got != 0 {
		t.Errorf("tlog_witnessed_tree_size before any round: %v", got)
	}

	for _, n := range []int{7, 30} {
		start := len(x.entries)
		x.grow(t, n, "main")
		logtest.AddAll(t, l, x.entries[start:])
		if _, err := col.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	quorate := l.Published().Size
	e.switches[0].mode.Store(modeDown503)
	x.grow(t, 5, "main")
	logtest.AddAll(t, l, x.entries[37:])
	if _, err := col.Round(t.Context()); err != nil {
		t.Fatalf("two of three up: %v", err)
	}
	size := l.Published().Size

	after := scrape()
	for name, want := range map[string]struct{ size, failures float64 }{
		"w1": {float64(quorate), 1}, "w2": {float64(size), 0}, "w3": {float64(size), 0},
	} {
		if got := after.Value(t, "tlog_witness_cosigned_size", "witness", name); got != want.size {
			t.Errorf("tlog_witness_cosigned_size{witness=%q} = %v, want %v", name, got, want.size)
		}
		if got := after.Value(t, "tlog_witness_cosign_failures_total", "witness", name); got != want.failures {
			t.Errorf("tlog_witness_cosign_failures_total{witness=%q} = %v, want %v", name, got, want.failures)
		}
		if got := after.Value(t, "tlog_witness_cosign_duration_seconds", "witness", name); got != 3 {
			t.Errorf("tlog_witness_cosign_duration_seconds{witness=%q} counts %v rounds, want 3", name, got)
		}
		h := after.Metric(t, "tlog_witness_cosign_duration_seconds", "witness", name).GetHistogram()
		if h.GetSampleSum() <= 0 || h.GetSampleSum() > 15 {
			t.Errorf("cosigning time of %s adds up to %vs", name, h.GetSampleSum())
		}
	}
	if n := len(after.All("tlog_witness_cosigned_size")); n != 3 {
		t.Errorf("%d cosigned-size series, want one per witness of the policy", n)
	}
	if got := after.Value(t, "tlog_witnessed_tree_size"); got != float64(size) {
		t.Errorf("tlog_witnessed_tree_size = %v, want %d", got, size)
	}
	if got, batches := after.Value(t, "tlog_batch_commit_seconds"), after.Value(t, "tlog_batches_total"); got != batches || batches < 3 {
		t.Errorf("commit histogram counts %v, tlog_batches_total %v", got, batches)
	}
	if got := after.Metric(t, "tlog_batch_entries").GetHistogram().GetSampleSum(); got != float64(size) {
		t.Errorf("batch sizes add up to %v, want the %d entries added", got, size)
	}
	if got := after.Value(t, "tlog_http_requests_total", "route", "/metrics", "method", "GET", "code", strconv.Itoa(http.StatusOK)); got != 1 {
		t.Errorf("scrapes counted %v, want 1", got)
	}
	// A second collector on the same registry is refused, not silently
	// merged.
	if _, err := NewCollector(CollectorConfig{Policy: e.policy, Log: logSource{l}, Registerer: m.Registry()}, nil); err == nil {
		t.Error("a second collector registered the same metrics")
	}
}
