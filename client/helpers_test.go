package client_test

// Helpers of the client tests: a real log (log.Log on a t.TempDir, served
// by api on 127.0.0.1) that can be killed and restarted on the same
// directory and port, a proxy in front of it that can refuse, tamper
// with and count requests, and decision records.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

const testOrigin = "example.com/client-test"

// testCtx is a context bounded well below the package's time budget.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newKey returns a fresh log key of testOrigin.
func newKey(t *testing.T) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := signer.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// testLogger routes warnings and errors to t.Log while the test runs and
// discards them after (a goroutine logging late must not fail the test).
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) }) // registered first: runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	}
	return len(p), nil
}

// testLog is a log served over HTTP on 127.0.0.1.
type testLog struct {
	t        *testing.T
	dir      string
	signer   *signer.Signer
	vkey     string
	verifier *signer.Verifier
	mod      func(*api.Config)
	logger   *slog.Logger

	mu   sync.Mutex
	log  *log.Log
	srv  *httptest.Server
	addr string // 127.0.0.1:port, kept across restarts
}

// newTestLog starts a log with a fresh key.
func newTestLog(t *testing.T, mod func(*api.Config)) *testLog {
	t.Helper()
	skey, _ := newKey(t)
	return newTestLogWithKey(t, skey, mod)
}

// newTestLogWithKey starts a log signed by skey in a new directory; mod may
// change the API's Config.
func newTestLogWithKey(t *testing.T, skey string, mod func(*api.Config)) *testLog {
	t.Helper()
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{t: t, dir: t.TempDir(), signer: s, vkey: s.VerifierKey(), verifier: v, mod: mod, logger: testLogger(t)}
	tl.start()
	t.Cleanup(tl.stop)
	return tl
}

// start opens the log on its directory and serves it, on the port of the
// previous run if there was one.
func (tl *testLog) start() {
	tl.t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	l, err := log.Open(log.Config{Dir: tl.dir, Signer: tl.signer, Logger: tl.logger, CacheSize: 8 << 20})
	if err != nil {
		tl.t.Fatal(err)
	}
	cfg := api.Config{Log: l, Logger: tl.logger}
	if tl.mod != nil {
		tl.mod(&cfg)
	}
	srv := httptest.NewUnstartedServer(api.New(cfg))
	if tl.addr != "" {
		var ln net.Listener
		// The port was ours a moment ago; rebinding it can take a few tries
		// while the kernel lets go of it.
		for i := 0; ; i++ {
			if ln, err = net.Listen("tcp", tl.addr); err == nil || i == 100 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			l.Close()
			tl.t.Fatalf("couldn't listen on %s again: %v", tl.addr, err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	tl.addr = srv.Listener.Addr().String()
	tl.log, tl.srv = l, srv
}

// kill stops the log abruptly: every connection is cut, the log stops
// signing at once (entries waiting are failed, not integrated: only a
// batch already being committed completes) and is closed.
func (tl *testLog) kill() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.srv == nil {
		return
	}
	tl.srv.Listener.Close()
	tl.srv.CloseClientConnections()
	tl.log.Halt(errors.New("killed by the test"))
	tl.srv.CloseClientConnections()
	tl.srv.Close()
	tl.log.Close()
	tl.srv, tl.log = nil, nil
}

func (tl *testLog) stop() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.srv != nil {
		tl.srv.Close()
		tl.log.Close()
		tl.srv, tl.log = nil, nil
	}
}

// URL is the log's URL (the same across restarts).
func (tl *testLog) URL() string { return "http://" + tl.addr }

// Log is the running log.
func (tl *testLog) Log() *log.Log {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.log
}

// checkpoint is the log's latest signed checkpoint note.
func (tl *testLog) checkpoint() []byte { return tl.Log().Checkpoint() }

// client is a client of url that verifies with the log's key.
func (tl *testLog) client(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, append([]client.Option{client.WithLogKey(tl.verifier)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// addRaw adds entries through POST /add, concurrently, and returns the
// entry of each index.
func addRaw(t *testing.T, c *client.Client, entries [][]byte) map[uint64][]byte {
	t.Helper()
	ctx := testCtx(t)
	var (
		mu   sync.Mutex
		out  = map[uint64][]byte{}
		wg   sync.WaitGroup
		errs = make(chan error, len(entries))
		work = make(chan []byte)
	)
	for range 16 {
		wg.Go(func() {
			for e := range work {
				i, err := c.Add(ctx, e, client.RetryPolicy{})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				out[i] = e
				mu.Unlock()
			}
		})
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("add: %v", err)
	}
	if len(out) != len(entries) {
		t.Fatalf("%d entries got %d distinct indices", len(entries), len(out))
	}
	return out
}

// rawEntry is a raw test entry of varied length that is not an AI entry.
func rawEntry(tag string, i int) []byte {
	return append([]byte(fmt.Sprintf("raw %s %d ", tag, i)), bytes.Repeat([]byte{'a' + byte(i%26)}, i%300)...)
}

// ---- decision records ----

// record is a valid decision record of system, numbered i, with real
// salted commitments.
func record(system string, i int) []byte {
	salt := sha256.Sum256([]byte(fmt.Sprint("salt ", system, " ", i)))
	in, err := attest.Commit(salt[:], []byte(fmt.Sprint("input ", i)))
	if err != nil {
		panic(err)
	}
	out, err := attest.Commit(salt[:], []byte(fmt.Sprint("output ", i)))
	if err != nil {
		panic(err)
	}
	return []byte(fmt.Sprintf(`{"system":%q,"decision_id":"d-%d","time":"2026-03-01T%02d:%02d:%02dZ","model":{"name":"acme/chat","version":"1.2"},"outcome":"answered","commitments":{"input":%q,"output":%q}}`,
		system, i, (i/3600)%24, (i/60)%60, i%60, in, out))
}

func records(system string, from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = record(system, from+i)
	}
	return out
}

// entryOf is the canonical entry the log makes of a record.
func entryOf(t testing.TB, rec []byte) []byte {
	t.Helper()
	_, e, err := attest.ParseDecision(rec)
	if err != nil {
		t.Fatalf("record %s: %v", rec, err)
	}
	return e
}

// ---- proxy ----

// proxy forwards requests to a target, unless its handler answers them
// itself; it numbers and records every request.
type proxy struct {
	*httptest.Server
	target string
	hc     *http.Client
	handle func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte)

	mu   sync.Mutex
	reqs []proxyReq
	// arrived gets every request's record (dropped when full).
	arrived chan proxyReq
}

type proxyReq struct {
	N            int
	Method, Path string
	Query        string
	At           time.Time
}

// newProxy starts a proxy to target; handle nil forwards everything.
func newProxy(t *testing.T, target string, handle func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte)) *proxy {
	t.Helper()
	p := &proxy{target: target, handle: handle, arrived: make(chan proxyReq, 1<<16),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.CloseClientConnections()
		p.Close()
		p.hc.CloseIdleConnections()
	})
	return p
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	pr := proxyReq{N: len(p.reqs) + 1, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, At: time.Now()}
	p.reqs = append(p.reqs, pr)
	p.mu.Unlock()
	select {
	case p.arrived <- pr:
	default:
	}
	if p.handle == nil {
		p.forward(w, r, body, nil)
		return
	}
	p.handle(p, pr.N, w, r, body)
}

// forward sends the request to the target and its answer back, a 200
// answer's body passed through tamper when set.
func (p *proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, tamper func(path string, body []byte) []byte) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, h := range []string{"Content-Type", "Authorization", "User-Agent"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	if tamper != nil && resp.StatusCode == http.StatusOK {
		b = tamper(r.URL.Path, b)
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" || k == "Content-Encoding" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

// count is the number of requests of method to path ("" matches any).
func (p *proxy) count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.reqs {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) {
			n++
		}
	}
	return n
}

// requests returns the requests of method to path.
func (p *proxy) requests(method, path string) []proxyReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []proxyReq
	for _, r := range p.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// hijackClose cuts the connection of a request without an answer.
func hijackClose(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// apiError answers a JSON error.
func apiError(w http.ResponseWriter, code int, retryAfter string, msg string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

const decisionsPath = "/api/v1/decisions"

// ---- receipts and notes ----

// editReceipts applies edit to every receipt of an answer (one JSON object,
// or NDJSON lines), as generic JSON.
func editReceipts(t testing.TB, body []byte, edit func(i int, r map[string]any)) []byte {
	var out bytes.Buffer
	i := 0
	for line := range bytes.Lines(body) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("proxy: receipt %q: %v", line, err)
			return body
		}
		edit(i, m)
		i++
		b, _ := json.Marshal(m)
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func leafB64(entry []byte) string {
	h := proofs.HashLeaf(entry)
	return b64(h[:])
}

// resign returns note's checkpoint signed by s instead.
func resign(t testing.TB, note []byte, s signer.NoteSigner) []byte {
	t.Helper()
	n, err := signer.ParseNote(note)
	if err != nil {
		t.Fatal(err)
	}
	out, err := signer.SignNote(n.Text, s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forge signs a checkpoint of size with a made-up root, with s.
func forge(t testing.TB, s *signer.Signer, size uint64, tag string) []byte {
	t.Helper()
	cp := signer.Checkpoint{Origin: s.Name(), Size: size, Hash: sha256.Sum256([]byte(tag))}
	note, err := signer.SignCheckpoint(cp, s)
	if err != nil {
		t.Fatal(err)
	}
	return note
}

// otherSigner is a signer of the same origin with another key.
func otherSigner(t testing.TB) *signer.Signer {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustContain(t testing.TB, err error, substr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %v, want one saying %q", err, substr)
	}
}

// notInconsistent requires a plain error: "could not check", not evidence.
func notInconsistent(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var inc *client.InconsistentError
	if errors.Is(err, client.ErrInconsistent) || errors.As(err, &inc) {
		t.Fatalf("error %v is ErrInconsistent; want a plain error", err)
	}
}
