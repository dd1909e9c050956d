package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/internal/oracle"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// The expectations of these tests come from c2sp.org/tlog-witness and from
// independent implementations: golang.org/x/mod/sumdb/tlog builds every
// tree, root and consistency proof the tests submit, golang.org/x/mod's
// note package signs the logs' checkpoints, and filippo.io/torchwood
// computes the witness's key ID and verifies its cosignatures. The code
// under test is only ever the thing being checked.

// testLogger routes logs into t.Log (STYLE §10). Logging stops when the
// test ends, so that a straggling goroutine cannot fail the run.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	}
	return len(p), nil
}

// logKey is a log's Ed25519 note key, made by x/mod's note package.
type logKey struct {
	name       string
	skey, vkey string
	xsigner    note.Signer   // x/mod: signs the checkpoints the tests craft
	xverifier  note.Verifier // x/mod: checks what the witness stores
	verifier   *signer.Verifier
}

func newLogKey(t testing.TB, name string) logKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	xv, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{name: name, skey: skey, vkey: vkey, xsigner: xs, xverifier: xv, verifier: v}
}

// ourSigner is the log key as this project's signer (for a real log).
func (k logKey) ourSigner(t testing.TB) *signer.Signer {
	t.Helper()
	s, err := signer.NewSigner(k.skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// witnessKey is a witness's cosignature key. torchwood makes the key ID
// and the verifier; the cosigner under test is built from a key string
// carrying torchwood's key ID, so NewCosigner itself checks that the two
// implementations agree on it.
type witnessKey struct {
	name     string
	tw       *torchwood.CosignatureSigner
	cosigner *signer.Cosigner
	vkey     string // torchwood's verifier key string
}

// fixedNow is the clock of the witnesses' cosignatures in these tests.
var fixedNow = time.Unix(1_750_000_000, 0)

func newWitnessKey(t testing.TB, name string) witnessKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, tw.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{0x04}, priv.Seed()...)))
	c, err := signer.NewCosigner(skey, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatalf("our cosigner rejects a key string with torchwood's key ID: %v", err)
	}
	return witnessKey{name: name, tw: tw, cosigner: c, vkey: tw.Verifier().String()}
}

// ourVerifier parses torchwood's verifier key string with our parser.
func (k witnessKey) ourVerifier(t testing.TB) *signer.CosignatureVerifier {
	t.Helper()
	v, err := signer.NewCosignatureVerifier(k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// xlog is a log kept only in the test: x/mod's tree over its entries and
// x/mod's note signer. It is the reference the witness is checked against.
type xlog struct {
	key     logKey
	tree    oracle.Tree
	entries [][]byte
}

func newXLog(t testing.TB, key logKey, n int, prefix string) *xlog {
	l := &xlog{key: key}
	l.grow(t, n, prefix)
	return l
}

func (l *xlog) grow(t testing.TB, n int, prefix string) {
	t.Helper()
	for range n {
		e := fmt.Appendf(nil, "%s entry %d", prefix, len(l.entries))
		if err := l.tree.Add(e); err != nil {
			t.Fatal(err)
		}
		l.entries = append(l.entries, e)
	}
}

func (l *xlog) root(t testing.TB, size int) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(int64(size), &l.tree)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// text is the checkpoint note text (c2sp.org/tlog-checkpoint) of size.
func (l *xlog) text(t testing.TB, size int) string {
	h := l.root(t, size)
	return checkpointText(l.key.name, size, h[:])
}

func checkpointText(origin string, size int, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

// checkpoint is the checkpoint of size signed by x/mod with the log key.
func (l *xlog) checkpoint(t testing.TB, size int) []byte {
	t.Helper()
	return signText(t, l.text(t, size), l.key.xsigner)
}

func signText(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proof is x/mod's consistency proof from old to size.
func (l *xlog) proof(t testing.TB, old, size int) [][]byte {
	t.Helper()
	p, err := tlog.ProveTree(int64(size), int64(old), &l.tree)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = bytes.Clone(h[:])
	}
	return out
}

// body is an add-checkpoint body, written here by hand (not with
// Request.Format, which is under test).
func reqBody(old int, proof [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return b.Bytes()
}

// tw is a witness under test, served by Handler on 127.0.0.1.
type testWitness struct {
	w   *Witness
	key witnessKey
	srv *httptest.Server
	h   http.Handler
	fs  vfs.FS
}

type twOpts struct {
	fs           vfs.FS
	beforeCommit func(origin string)
	wrap         func(http.Handler) http.Handler
	// config, if set, edits the witness's Config before Open.
	config func(*Config)
}

func newTW(t testing.TB, key witnessKey, logs []logKey, o twOpts) *testWitness {
	t.Helper()
	if o.fs == nil {
		o.fs = vfs.NewMem()
	}
	var lk []LogKey
	for _, l := range logs {
		lk = append(lk, LogKey{Verifier: l.verifier})
	}
	cfg := Config{Dir: "/witness", FS: o.fs, Signer: key.cosigner, Logs: lk,
		Logger: testLogger(t), Now: func() time.Time { return fixedNow }, beforeCommit: o.beforeCommit}
	if o.config != nil {
		o.config(&cfg)
	}
	w, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = Handler(w)
	if o.wrap != nil {
		h = o.wrap(h)
	}
	x := &testWitness{w: w, key: key, srv: httptest.NewServer(h), h: h, fs: o.fs}
	t.Cleanup(func() {
		x.srv.Close()
		x.w.Close()
	})
	return x
}

// stop closes the witness's server: connections are refused.
func (x *testWitness) stop() { x.srv.Close() }

// restart serves the witness again on the same address and state.
func (x *testWitness) restart(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", x.srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("couldn't listen again on %s: %v", x.srv.Listener.Addr(), err)
	}
	srv := httptest.NewUnstartedServer(x.h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	x.srv = srv
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

type reply struct {
	code  int
	ctype string
	body  []byte
	err   error // a transport error (send only)
}

func (r reply) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s %q", r.code, r.ctype, firstLine(r.body))
}

// send posts an add-checkpoint body; safe to call from any goroutine.
func (x *testWitness) send(b []byte) reply {
	return x.sendReader(bytes.NewReader(b))
}

// sendReader posts a body; a reader that is not a *bytes.Reader (and the
// like) goes out chunked, without a Content-Length.
func (x *testWitness) sendReader(r io.Reader) reply {
	req, err := http.NewRequest(http.MethodPost, x.srv.URL+"/add-checkpoint", r)
	if err != nil {
		return reply{err: err}
	}
	return do(req)
}

// post is send, failing the test on a transport error.
func (x *testWitness) post(t testing.TB, b []byte) reply {
	t.Helper()
	return must(t, x.send(b))
}

func (x *testWitness) postReader(t testing.TB, r io.Reader) reply {
	t.Helper()
	return must(t, x.sendReader(r))
}

func (x *testWitness) get(t testing.TB, path string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, x.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return must(t, do(req))
}

func must(t testing.TB, r reply) reply {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r
}

func do(req *http.Request) reply {
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	return reply{code: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b}
}

// originPath is the read API path of an origin's latest checkpoint.
func originPath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return "/" + hex.EncodeToString(h[:]) + "/checkpoint"
}

// mustState returns the stored size and root of origin.
func (x *testWitness) state(t testing.TB, origin string) (uint64, proofs.Hash) {
	t.Helper()
	size, root, err := x.w.State(origin)
	if err != nil {
		t.Fatal(err)
	}
	return size, root
}

// checkCosigned checks a 200 body: every line is a signature line, and
// together with the checkpoint they open with x/mod's note.Open under
// torchwood's cosignature verifier, with the log's signature verified by
// x/mod too; our own verifier accepts the same line; the timestamp is the
// witness's clock.
func checkCosigned(t testing.TB, checkpoint []byte, lines []byte, lk logKey, wk witnessKey) {
	t.Helper()
	if len(lines) == 0 || !bytes.HasSuffix(lines, []byte("\n")) {
		t.Fatalf("200 body %q is not newline-terminated signature lines", lines)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n") {
		if !strings.HasPrefix(l, "— ") {
			t.Fatalf("200 body line %q is not a signature line", l)
		}
	}
	n, err := note.Open(append(bytes.Clone(checkpoint), lines...), note.VerifierList(lk.xverifier, wk.tw.Verifier()))
	if err != nil {
		t.Fatalf("x/mod note.Open with torchwood's cosignature verifier: %v", err)
	}
	var found *note.Signature
	for i, s := range n.Sigs {
		if s.Name == wk.name && s.Hash == wk.tw.KeyHash() {
			found = &n.Sigs[i]
		}
	}
	if found == nil {
		t.Fatalf("no cosignature by %s verifies with torchwood (sigs %v, unverified %v)", wk.name, n.Sigs, n.UnverifiedSigs)
	}
	ts, err := torchwood.CosignatureTimestamp(*found)
	if err != nil || ts != fixedNow.Unix() {
		t.Errorf("cosignature timestamp %d (%v), want the witness clock %d", ts, err, fixedNow.Unix())
	}
	if got := Cosignatures(n.Text, lines, wk.ourVerifier(t)); len(got) != 1 {
		t.Errorf("signer.CosignatureVerifier accepts %d cosignatures in %q, want 1", len(got), lines)
	}
	if _, err := signer.OpenNote(append(bytes.Clone(checkpoint), lines...), lk.verifier, wk.ourVerifier(t)); err != nil {
		t.Errorf("signer.OpenNote with our verifiers: %v", err)
	}
}

// realLog is this project's log, in process, on an in-memory filesystem,
// served over HTTP by api.New.
type realLog struct {
	l     *log.Log
	srv   *httptest.Server
	x     *xlog        // the same entries in x/mod's tree
	tiles atomic.Int64 // GET /tile/ requests served
}

func newRealLog(t testing.TB, key logKey) *realLog {
	t.Helper()
	l, err := log.Open(log.Config{Dir: "/log", FS: vfs.NewMem(), Signer: key.ourSigner(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := &realLog{l: l, x: &xlog{key: key}}
	h := api.New(api.Config{Log: l, Logger: testLogger(t)})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/tile/") {
			r.tiles.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		l.Close()
	})
	return r
}

// add appends n entries named prefix (concurrently, so that they batch)
// and waits until they are all committed; the log's published checkpoint
// must then agree with x/mod's tree over the same entries.
func (r *realLog) add(t testing.TB, n int, prefix string) {
	t.Helper()
	start := len(r.x.entries)
	r.x.grow(t, n, prefix)
	logtest.AddAll(t, r.l, r.x.entries[start:])
	p := r.l.Published()
	if p.Size != uint64(len(r.x.entries)) || p.Hash != r.x.root(t, len(r.x.entries)) {
		t.Fatalf("the log published size %d root %x; x/mod's tree has %d, %x", p.Size, p.Hash, len(r.x.entries), r.x.root(t, len(r.x.entries)))
	}
}

// note is the log's latest signed checkpoint.
func (r *realLog) note() []byte { return r.l.Published().Note }

func (r *realLog) size() uint64 { return r.l.Published().Size }

func mustParseUint(t testing.TB, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (l *xlog) rootb(t testing.TB, size int) []byte {
	h := l.root(t, size)
	return h[:]
}
