package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlogai/tlog/log"
)

// Bad requests get a clear 4xx (never a 5xx), and change nothing: the
// checkpoint is byte for byte the same afterwards.
func TestBadInputs(t *testing.T) {
	ts := newServer(t, nil)
	for i := 0; i < 3; i++ {
		ts.add(t, testEntry(i))
	}
	_, before := ts.checkpoint(t)

	big := bytes.Repeat([]byte("x"), log.MaxEntrySize+1)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   io.Reader
		status int
		reason string
	}{
		{"empty body", "POST", "/add", nil, 400, "empty body"},
		{"body over 65535 bytes", "POST", "/add", bytes.NewReader(big), 413, "at most 65535 bytes"},
		{"chunked body over 65535 bytes", "POST", "/add", io.MultiReader(bytes.NewReader(big)), 413, "at most 65535 bytes"},
		{"far too large body", "POST", "/add", bytes.NewReader(make([]byte, 1<<20)), 413, "at most 65535 bytes"},
		{"GET /add", "GET", "/add", nil, 405, "Method Not Allowed"},
		{"POST /checkpoint", "POST", "/checkpoint", strings.NewReader("x"), 405, "Method Not Allowed"},
		{"tile index not 3 digits", "GET", "/tile/0/5", nil, 400, "three digits"},
		{"tile level with leading zero", "GET", "/tile/00/000", nil, 400, "level"},
		{"tile level 64", "GET", "/tile/64/000", nil, 400, "level"},
		{"tile level negative", "GET", "/tile/-1/000", nil, 400, "level"},
		{"non-canonical index", "GET", "/tile/0/x000/000", nil, 400, "canonical"},
		{"index group without x", "GET", "/tile/0/001/000", nil, 400, "start with x"},
		{"index overflow", "GET", "/tile/0/x999/x999/x999/x999/x999/x999/999", nil, 400, "malformed tile path"},
		{"width 0", "GET", "/tile/0/000.p/0", nil, 400, "width"},
		{"width 256", "GET", "/tile/0/000.p/256", nil, 400, "width"},
		{"width leading zero", "GET", "/tile/0/000.p/03", nil, 400, "width"},
		{"width not a number", "GET", "/tile/entries/000.p/abc", nil, 400, "width"},
		{"no index", "GET", "/tile/0/", nil, 400, "malformed tile path"},
		{"no level", "GET", "/tile/", nil, 400, "malformed tile path"},
		{"tile beyond the tree", "GET", "/tile/0/001", nil, 404, "not found"},
		{"full tile of a partial", "GET", "/tile/0/000", nil, 404, "not found"},
		{"partial wider than the tree", "GET", "/tile/0/000.p/4", nil, 404, "not found"},
		{"level above the tree", "GET", "/tile/1/000.p/1", nil, 404, "not found"},
		{"bundle beyond the tree", "GET", "/tile/entries/001.p/1", nil, 404, "not found"},
		{"bundle wider than the tree", "GET", "/tile/entries/000.p/4", nil, 404, "not found"},
		{"unknown path", "GET", "/nope", nil, 404, "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(t, tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reason) {
				t.Fatalf("%s %s: %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.reason)
			}
			if strings.Count(strings.TrimSuffix(string(body), "\n"), "\n") != 0 {
				t.Fatalf("reason is not one line: %q", body)
			}
			if _, after := ts.checkpoint(t); !bytes.Equal(after, before) {
				t.Fatalf("the checkpoint changed:\n%s\n%s", before, after)
			}
		})
	}
	// The largest entry is accepted.
	if got := ts.add(t, big[:log.MaxEntrySize]); got != 3 {
		t.Fatalf("largest entry got index %d", got)
	}
}

// A full pool answers 503 with Retry-After, and the refused entry
// consumes no index.
func TestPushback(t *testing.T) {
	ts := newServer(t, func(c *log.Config) {
		c.PoolSize, c.BatchMaxSize, c.BatchMaxAge = 2, 1, -1
	})
	ts.add(t, testEntry(0))
	_, before := ts.checkpoint(t)

	ts.fs.Stall()
	stuck := ts.log.Add(testEntry(1)) // the committer blocks in its fsync
	ts.fs.WaitStalled()
	// While the first batch waits for its fsync, the sequencer integrates
	// the next ones until the committer's queue is full; then the pool
	// (2 entries) fills. Add until the log pushes back.
	var pooled []*log.Future
	next := 2
	for ; ; next++ {
		if next > 20 {
			t.Fatal("the pool never filled while the commit was stuck")
		}
		f := ts.log.Add(testEntry(next))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := f.Wait(ctx)
		cancel()
		if errors.Is(err, log.ErrPushback) {
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("entry %d while the commit is stuck: %v", next, err)
		}
		pooled = append(pooled, f)
	}

	resp, body := ts.do(t, http.MethodPost, "/add", bytes.NewReader(testEntry(next)))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("full pool: %d %q, Retry-After %q; want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if _, after := ts.checkpoint(t); !bytes.Equal(after, before) {
		t.Fatal("the checkpoint changed while the commit was stuck")
	}
	ts.fs.Resume()
	for i, f := range append([]*log.Future{stuck}, pooled...) {
		if r, err := f.Wait(context.Background()); err != nil || r.Index != uint64(i+1) {
			t.Fatalf("pooled entry %d: %+v %v", i, r, err)
		}
	}
	// The refused entry is new to the log and takes the next index.
	if got := ts.add(t, testEntry(next)); got != uint64(next) {
		t.Fatalf("refused entry now got index %d, want %d", got, next)
	}
}

// The same bytes get the same index, concurrently too.
func TestAddDedup(t *testing.T) {
	ts := newServer(t, nil)
	first := ts.add(t, []byte("same"))
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := ts.add(t, []byte("same")); got != first {
				t.Errorf("duplicate got index %d, want %d", got, first)
			}
		}()
	}
	wg.Wait()
	if tree, _ := ts.checkpoint(t); tree.N != 1 {
		t.Fatalf("size %d after duplicates, want 1", tree.N)
	}
}

func TestHealthz(t *testing.T) {
	ts := newServer(t, nil)
	resp, body := ts.do(t, http.MethodGet, "/healthz", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	ts.log.Close()
	resp, body = ts.do(t, http.MethodGet, "/healthz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz of a closed log: %d %q", resp.StatusCode, body)
	}
	resp, _ = ts.do(t, http.MethodPost, "/add", strings.NewReader("late"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("add to a closed log: %d", resp.StatusCode)
	}
}

// Reads answer HEAD with the GET status and headers and no body; writes
// do not.
func TestHead(t *testing.T) {
	ts := newServer(t, nil)
	for i := 0; i < 3; i++ {
		ts.add(t, testEntry(i))
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/checkpoint", 200},
		{"/tile/0/000.p/3", 200},
		{"/tile/entries/000.p/3", 200},
		{"/tile/0/001", 404},
		{"/api/v1/proofs/inclusion?index=1", 200},
		{"/api/v1/entries/2/tlog-proof", 200},
		{"/healthz", 200},
		{"/add", 405},
	} {
		resp, body := ts.do(t, http.MethodHead, tc.path, nil)
		if resp.StatusCode != tc.status || len(body) != 0 {
			t.Errorf("HEAD %s: %d with %d body bytes, want %d and none", tc.path, resp.StatusCode, len(body), tc.status)
		}
	}
}

// /metrics counts what happened, in the Prometheus text format.
func TestMetrics(t *testing.T) {
	ts := newServer(t, nil)
	for i := 0; i < 3; i++ {
		ts.add(t, testEntry(i))
	}
	ts.add(t, testEntry(0)) // a duplicate
	resp, body := ts.do(t, http.MethodGet, "/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"# TYPE tlog_tree_size gauge\ntlog_tree_size 3\n",
		"\ntlog_entries_total 3\n",
		"\ntlog_duplicates_total 1\n",
		"\ntlog_pushback_total 0\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
