package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlogai/tlog/witness"

	"github.com/tlogai/tlog/internal/metricstest"
)

// witness serve --log-format json --debug-listen 127.0.0.1:0: every stderr
// line is JSON, an access line per request carries the id answered in
// X-Request-Id; pprof is on the debug listener and not on the public one;
// /readyz is 200. --debug-listen on a non-loopback address is refused
// unless --debug-listen-any.
func TestServeObservabilityFlags(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "w")
	if r := runWitness(t, "keygen", "--name", "witness.example/obs", "--out", prefix); r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	l := newTestLog(t, "example.com/obs-log")
	logs := filepath.Join(dir, "logs")
	if err := os.WriteFile(logs, []byte("log "+l.vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--key", prefix + ".key", "--logs", logs}

	r := runWitness(t, append(base, "--debug-listen", "0.0.0.0:0")...)
	if r.code == 0 || !strings.Contains(r.stderr, "--debug-listen") || !strings.Contains(r.stderr, "loopback") {
		t.Fatalf("--debug-listen 0.0.0.0:0: exit %d, stderr %q; want a refusal naming the flag", r.code, r.stderr)
	}
	if r := runWitness(t, append(base, "--log-format", "xml")...); r.code == 0 || !strings.Contains(r.stderr, "--log-format") {
		t.Fatalf("--log-format xml: exit %d, stderr %q", r.code, r.stderr)
	}

	cmd := exec.Command(witnessBinary, append(base, "--log-format", "json", "--debug-listen", "127.0.0.1:0")...)
	stderr := new(syncBuffer)
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
	deadline := time.Now().Add(cliStartTimeout)
	for public == "" || debug == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no listening and debug listener lines within %v:\n%s", cliStartTimeout, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		text := stderr.String()
		if i := strings.LastIndexByte(text, '\n'); i >= 0 {
			text = text[:i+1] // whole lines only
		} else {
			continue
		}
		for _, m := range metricstest.JSONLines(t, text) {
			switch m["msg"] {
			case "listening":
				public, _ = m["addr"].(string)
			case "debug listener (pprof, metrics)":
				debug, _ = m["addr"].(string)
			}
		}
	}
	if !strings.HasPrefix(public, "127.0.0.1:") || !strings.HasPrefix(debug, "127.0.0.1:") || public == debug {
		t.Fatalf("public %q, debug %q", public, debug)
	}
	client := &http.Client{Timeout: cliHTTPTimeout}
	get := func(url string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("http://"+public+"/debug/pprof/", "X-Request-Id", "probe-1"); resp.StatusCode != 404 || resp.Header.Get("X-Request-Id") != "probe-1" {
		t.Errorf("public /debug/pprof/: %d (request id %q), want 404 and the id sent", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if resp, body := get("http://" + debug + "/debug/pprof/goroutine?debug=1"); resp.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("debug /debug/pprof/goroutine: %d", resp.StatusCode)
	}
	if resp, body := get("http://" + debug + "/metrics"); resp.StatusCode != 200 || !strings.Contains(body, "\nwitness_logs 1\n") || !strings.Contains(body, "witness_build_info{") {
		t.Errorf("debug /metrics: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := get("http://" + public + "/readyz"); resp.StatusCode != 200 {
		t.Errorf("/readyz: %d", resp.StatusCode)
	}
	resp, err := client.Post("http://"+public+"/add-checkpoint", "text/plain", bytes.NewReader(witness.Request{Checkpoint: l.note}.Format()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("add-checkpoint: %d", resp.StatusCode)
	}
	addID := resp.Header.Get("X-Request-Id")

	// The access lines are written as the answers end: wait for the
	// add-checkpoint's.
	var lines []map[string]any
	for deadline := time.Now().Add(cliExitTimeout); ; {
		text := stderr.String()
		lines = metricstest.JSONLines(t, text[:strings.LastIndexByte(text, '\n')+1])
		if strings.Contains(text, addID) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	found := map[string]map[string]any{}
	for _, m := range lines {
		if m["msg"] == "request" {
			found[m["route"].(string)] = m
		}
	}
	if a := found["/add-checkpoint"]; a == nil || a["request_id"] != addID || a["status"] != float64(200) || a["method"] != "POST" {
		t.Errorf("access line of add-checkpoint %v, want request id %q, POST, 200", a, addID)
	}
	if a := found["unmatched"]; a == nil || a["request_id"] != "probe-1" || a["status"] != float64(404) {
		t.Errorf("access line of the public /debug/pprof/ %v", a)
	}
}
