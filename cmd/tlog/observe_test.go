package main

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlogai/tlog/internal/metricstest"
)

// tlog serve --log-format json --debug-listen 127.0.0.1:0: every stderr
// line is JSON (start-up lines and access lines alike); an access line
// carries the request id answered; pprof and the metrics are on the debug
// listener, pprof never on the public one; /readyz and /healthz answer.
// A non-loopback --debug-listen is refused before anything starts.
func TestServeObservabilityFlags(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if r := runTlog(t, "serve", "--data", data, "--debug-listen", "0.0.0.0:0"); r.code == 0 ||
		!strings.Contains(r.stderr, "--debug-listen") || !strings.Contains(r.stderr, "loopback") {
		t.Fatalf("--debug-listen 0.0.0.0:0: exit %d, stderr %q; want a refusal naming the flag", r.code, r.stderr)
	}
	if r := runTlog(t, "serve", "--data", data, "--log-format", "yaml"); r.code == 0 || !strings.Contains(r.stderr, "--log-format") {
		t.Fatalf("--log-format yaml: exit %d, stderr %q", r.code, r.stderr)
	}

	cmd := exec.Command(tlogBin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--origin", "example.com/obs",
		"--log-format", "json", "--debug-listen", "127.0.0.1:0")
	cmd.Env = childEnv()
	stderr := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	var public, debug string
	for deadline := time.Now().Add(startTimeout); public == "" || debug == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no listening and debug listener lines within %v", startTimeout)
		}
		for _, m := range metricstest.JSONLines(t, stderr.String()) {
			switch m["msg"] {
			case "listening":
				public, _ = m["addr"].(string)
			case "debug listener (pprof, metrics)":
				debug, _ = m["addr"].(string)
			}
		}
	}
	if !strings.HasPrefix(public, "127.0.0.1:") || !strings.HasPrefix(debug, "127.0.0.1:") {
		t.Fatalf("public %q, debug %q", public, debug)
	}
	client := &http.Client{Timeout: httpTimeout}
	do := func(method, url string, body []byte) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("X-Request-Id", "obs-"+method)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
		if resp, _ := do(http.MethodGet, "http://"+public+p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, body := do(http.MethodGet, "http://"+debug+"/debug/pprof/goroutine?debug=1", nil); resp.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("debug /debug/pprof/goroutine: %d", resp.StatusCode)
	}
	for _, p := range []string{"/readyz", "/healthz"} {
		if resp, _ := do(http.MethodGet, "http://"+public+p, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	resp, _ := do(http.MethodPost, "http://"+public+"/add", []byte("observed entry"))
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "obs-POST" {
		t.Fatalf("POST /add: %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	m := metricstest.Scrape(t, client, "http://"+debug+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"tlog_tree_size", nil}, {"tlog_batch_commit_seconds", nil}, {"tlog_build_info", nil},
		{"tlog_http_requests_total", []string{"route", "/add", "method", "POST", "code", "200"}},
	} {
		if got := m.Value(t, c.name, c.labels...); got != 1 {
			t.Errorf("debug /metrics: %s%v = %v, want 1", c.name, c.labels, got)
		}
	}
	var add map[string]any
	for deadline := time.Now().Add(exitTimeout); add == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range metricstest.JSONLines(t, stderr.String()) {
			if m["msg"] == "request" && m["route"] == "/add" {
				add = m
			}
		}
	}
	if add == nil || add["request_id"] != "obs-POST" || add["status"] != float64(200) || add["method"] != "POST" || add["bytes"] != float64(2) {
		t.Errorf("access line of POST /add: %v", add)
	}
}
