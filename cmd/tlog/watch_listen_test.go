package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// witness watch --listen publishes what it cosigns: the read API of the
// checkpoints it cosigned from its own rounds, and nothing it can be told
// to write (add-checkpoint is 405).
func TestWatchPublishesReads(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	origin := "example.com/watched"
	keyFile, pubFile, vkey := runKeygen(t, dir, origin, "log")
	l := startServer(t, "log", filepath.Join(dir, "log"), "--key", keyFile)
	for _, e := range distinctEntries(5, "watched") {
		l.mustAdd(e)
	}
	w := newWitnessNode(t, dir, "W", "witness.example/watch", vkey)
	s, err := tryStartProc(t, "witness watch", witnessBin(t), "watch", "--log", l.url(""), "--log-key", pubFile,
		"--key", w.keyFile, "--data", w.data, "--interval", "100ms", "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	w.waitSize(vkey, origin, 5)
	l.mustAdd([]byte("one more"))
	w.waitSize(vkey, origin, 6)
	if code, _, _, err := w.s.get("/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz: %d %v", code, err)
	}
	resp, err := http.Post(w.url()+"/add-checkpoint", "text/plain", bytes.NewReader([]byte("old 0\n\n"+string(w.latest(origin)))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /add-checkpoint to witness watch: %d (Allow %q); want 405", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// Refused like any other request: counted by route and status.
	if _, body, _, err := w.s.get("/metrics"); err != nil || !strings.Contains(string(body), `witness_http_requests_total{code="405",method="POST",route="/add-checkpoint"} 1`) {
		t.Fatalf("the refused add-checkpoint is not in the metrics (%v):\n%s", err, body)
	}
}
