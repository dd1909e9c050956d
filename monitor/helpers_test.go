package monitor_test

// Helpers: a real log (log.Log on a t.TempDir, served by api on
// 127.0.0.1 through a handler that can be swapped for another log's, for
// a fork at the same URL), publishers signing releases with Ed25519 keys,
// and decision records.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/monitor"
	"github.com/tlogai/tlog/signer"
)

const testOrigin = "example.com/monitor-test"

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// store is one log store with its API handler.
type store struct {
	log     *log.Log
	handler http.Handler
}

// testLog serves a store on 127.0.0.1; serve swaps in another store at
// the same URL.
type testLog struct {
	t        testing.TB
	skey     string
	verifier *signer.Verifier
	srv      *httptest.Server
	cur      atomic.Pointer[store]
	// delay is added to every request, as a distant log's round trip.
	delay atomic.Int64
	// fail, when set, answers 503 to the requests of the paths it names.
	fail atomic.Pointer[func(path string) bool]
}

func newKey(t testing.TB) string {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

// newTestLog starts a log with a fresh key.
func newTestLog(t testing.TB) *testLog {
	t.Helper()
	skey := newKey(t)
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{t: t, skey: skey, verifier: v}
	tl.cur.Store(tl.newStore())
	tl.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(tl.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		if f := tl.fail.Load(); f != nil && (*f)(r.URL.Path) {
			http.Error(w, "unavailable (test)", http.StatusServiceUnavailable)
			return
		}
		tl.cur.Load().handler.ServeHTTP(w, r)
	}))
	t.Cleanup(tl.srv.Close)
	return tl
}

// newStore opens a fresh store signed with the log's key.
func (tl *testLog) newStore() *store {
	tl.t.Helper()
	s, err := signer.NewSigner(tl.skey)
	if err != nil {
		tl.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := log.Open(log.Config{Dir: tl.t.TempDir(), Signer: s, Logger: logger})
	if err != nil {
		tl.t.Fatal(err)
	}
	tl.t.Cleanup(func() { l.Close() })
	return &store{log: l, handler: api.New(api.Config{Log: l, Logger: logger})}
}

// fork serves a fresh store with the same key at the same URL.
func (tl *testLog) fork() *store {
	st := tl.newStore()
	tl.cur.Store(st)
	return st
}

func (tl *testLog) URL() string   { return tl.srv.URL }
func (tl *testLog) Log() *log.Log { return tl.cur.Load().log }

func (tl *testLog) client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(tl.URL(), client.WithLogKey(tl.verifier))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// add appends entries to the served store.
func (tl *testLog) add(entries ...[]byte) {
	tl.t.Helper()
	logtest.AddAll(tl.t, tl.Log(), entries)
}

// publisher signs releases with an Ed25519 key.
type publisher struct {
	priv ed25519.PrivateKey
	pem  string
	fp   string
}

func newPublisher(t testing.TB) *publisher {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &publisher{priv: priv, pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), fp: "sha256:" + hex.EncodeToString(sum[:])}
}

// digestOf is the subject digest the test uses for a model's weights.
func digestOf(name, version string) string {
	sum := sha256.Sum256([]byte("weights of " + name + " " + version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// release is a signed submission of a release of name.
func (p *publisher) release(t testing.TB, name, version string) *attest.Submission {
	t.Helper()
	stmt, err := json.Marshal(map[string]any{
		"_type":         attest.StatementV1,
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": strings.TrimPrefix(digestOf(name, version), "sha256:")}}},
		"predicateType": attest.SLSAProvenanceV1,
		"predicate":     map[string]any{"buildDefinition": map[string]any{"buildType": "https://example.com/build@v1", "version": version}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(attest.InTotoPayloadType), attest.InTotoPayloadType, len(stmt), stmt)
	env, err := json.Marshal(map[string]any{
		"payloadType": attest.InTotoPayloadType,
		"payload":     base64.StdEncoding.EncodeToString(stmt),
		"signatures":  []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(ed25519.Sign(p.priv, []byte(pae)))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &attest.Submission{Envelope: env, PublicKey: p.pem}
}

// attest logs a release through the log's API and returns its index.
func (tl *testLog) attest(t testing.TB, p *publisher, name, version string) uint64 {
	t.Helper()
	r, _, err := tl.client(t).Attest(testCtx(t), p.release(t, name, version), client.SubmitOptions{})
	if err != nil {
		t.Fatalf("attest %s %s: %v", name, version, err)
	}
	return r.Index
}

// decision is the canonical decision entry of a record of system about
// model, numbered i.
func decision(t testing.TB, system, model string, i int) []byte {
	t.Helper()
	c := func(what string) string {
		s := sha256.Sum256([]byte(fmt.Sprint(what, " ", system, " ", i)))
		return "sha256:" + hex.EncodeToString(s[:])
	}
	rec := fmt.Sprintf(`{"system":%q,"decision_id":"d-%d","time":"2026-03-01T10:%02d:%02dZ","model":{"name":%q,"version":"1.0"},"commitments":{"input":%q,"output":%q}}`,
		system, i, (i/60)%60, i%60, model, c("in"), c("out"))
	_, e, err := attest.ParseDecision([]byte(rec))
	if err != nil {
		t.Fatalf("record %s: %v", rec, err)
	}
	return e
}

// watchOf is a watch with allowed signers.
func allowedOf(t testing.TB, lines ...string) *attest.Signers {
	t.Helper()
	s, err := attest.ParseSigners([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run is one monitor pass with a fresh monitor on state; it returns the
// report lines.
type run struct {
	sum   monitor.Summary
	err   error
	lines []monitor.Report
	raw   string
	code  int
}

func (tl *testLog) pass(t testing.TB, state string, w monitor.Watch, mod func(*monitor.Config)) run {
	t.Helper()
	var out bytes.Buffer
	cfg := monitor.Config{Client: tl.client(t), State: state, Watch: w, Out: &out, Status: &tWriter{t: t}}
	if mod != nil {
		mod(&cfg)
	}
	m, err := monitor.New(testCtx(t), cfg)
	if err != nil {
		return run{err: err, code: monitor.ExitCode(monitor.Summary{}, err)}
	}
	s, err := m.Pass(testCtx(t))
	return run{sum: s, err: err, lines: parseLines(t, out.String()), raw: out.String(), code: monitor.ExitCode(s, err)}
}

func parseLines(t testing.TB, out string) []monitor.Report {
	t.Helper()
	var rs []monitor.Report
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r monitor.Report
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs
}

// tWriter sends status lines to t.Log while the test runs.
type tWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func statePath(t testing.TB) string { return filepath.Join(t.TempDir(), "monitor.state") }

func readState(t testing.TB, path string) (checkpoint string, next uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Checkpoint string `json:"checkpoint"`
		Next       uint64 `json:"next"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state %s: %v", b, err)
	}
	return st.Checkpoint, st.Next
}
