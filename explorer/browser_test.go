package explorer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

// The explorer in a real headless Chromium, against a real log served on
// 127.0.0.1: the checkpoint and its witness, recent entries of every kind,
// search with pagination, an entry verified in the browser, and "not
// verified" for a tampered proof, a wrong pinned key and a browser without
// Ed25519. Screenshots (PNG) go to $TLOG_SCREENSHOT_DIR, or to a temporary
// directory the test prints and removes.
//
// Without a browser the test fails — unless TLOG_SKIP_BROWSER=1 is set
// outside CI (CI set: it always fails). TLOG_BROWSER names the browser
// binary; otherwise chromium, chromium-browser and chromedp's default
// lookup are tried.

// Fixed facts of the test log.
const (
	origin      = "explorer.test/log"
	witnessName = "w1.example"
	releaseName = "acme/fraud-v3"
)

var cosignedAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testLog is a log with entries of every kind behind its HTTP API.
type testLog struct {
	*httptest.Server
	log *log.Log
	// The indices of the entries, by what they are.
	raw, release, decision, fraudDecision, access, evaluation uint64
	bulk                                                      []uint64
	// tamper, while set, makes the server flip a bit of the first hash of
	// every inclusion proof it answers; tampered counts those answers.
	tamper   atomic.Bool
	tampered atomic.Int64
	// tamperSig, while set, makes GET /checkpoint flip a bit of the log's
	// signature (not of its key ID); sigTampered counts those answers.
	tamperSig   atomic.Bool
	sigTampered atomic.Int64
}

// openLog opens an empty log named origin in a temporary directory.
func openLog(t *testing.T) *log.Log {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := log.Open(log.Config{Dir: t.TempDir(), Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newTestLog(t *testing.T) *testLog {
	t.Helper()
	l := openLog(t)
	wkey, _, err := signer.GenerateWitnessKey(rand.Reader, witnessName)
	if err != nil {
		t.Fatal(err)
	}
	cosigner, err := signer.NewCosigner(wkey, func() time.Time { return cosignedAt })
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{log: l}
	h := api.New(api.Config{
		Log: l,
		// A witness policy met by one witness that cosigns every
		// checkpoint at cosignedAt: GET /checkpoint serves the log's
		// latest with that cosignature.
		Witnessed: func() (uint64, []byte, bool) {
			pub := l.Published()
			text := pub.Note[:bytes.LastIndex(pub.Note, []byte("\n\n"))+1]
			sig, err := cosigner.Sign(text)
			if err != nil {
				return 0, nil, false
			}
			line := signer.Signature{Name: cosigner.Name(), KeyHash: cosigner.KeyHash(), Sig: sig}.Line()
			return pub.Size, append(bytes.Clone(pub.Note), line...), true
		},
	})
	tl.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/proofs/inclusion" && tl.tamper.Load() {
			tl.serveTampered(t, h, w, r)
			return
		}
		if r.URL.Path == "/checkpoint" && tl.tamperSig.Load() {
			tl.serveBadSignature(t, h, w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		tl.Server.Close()
		l.Close()
	})
	tl.fill(t)
	return tl
}

// serveTampered answers an inclusion proof with one bit of its first hash
// flipped.
func (tl *testLog) serveTampered(t *testing.T, h http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Errorf("tampering: the proof is not JSON: %v", err)
		return
	}
	hashes, _ := p["hashes"].([]any)
	if len(hashes) == 0 {
		t.Errorf("tampering: the proof has no hashes: %s", rec.Body.Bytes())
		return
	}
	b, err := base64.StdEncoding.DecodeString(hashes[0].(string))
	if err != nil {
		t.Errorf("tampering: %v", err)
		return
	}
	b[0] ^= 1
	hashes[0] = base64.StdEncoding.EncodeToString(b)
	out, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	w.Write(out)
	tl.tampered.Add(1)
}

// serveBadSignature answers the checkpoint with the last bit of the log's
// signature flipped: the line still names the log's key.
func (tl *testLog) serveBadSignature(t *testing.T, h http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	note := rec.Body.String()
	prefix := "\n\n\u2014 " + origin + " "
	i := strings.Index(note, prefix)
	if i < 0 {
		t.Errorf("tampering: no signature by %s in %q", origin, note)
		return
	}
	start := i + len(prefix)
	end := start + strings.IndexByte(note[start:], '\n')
	sig, err := base64.StdEncoding.DecodeString(note[start:end])
	if err != nil || len(sig) != 4+64 {
		t.Errorf("tampering: signature %q: %v", note[start:end], err)
		return
	}
	sig[len(sig)-1] ^= 1
	w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	w.WriteHeader(rec.Code)
	io.WriteString(w, note[:start]+base64.StdEncoding.EncodeToString(sig)+note[end:])
	tl.sigTampered.Add(1)
}

// post sends a body and returns the index of each receipt.
func (tl *testLog) post(t *testing.T, path, contentType string, body []byte) []uint64 {
	t.Helper()
	resp, err := http.Post(tl.URL+path, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	if path == "/add" {
		i, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("POST /add: %q", b)
		}
		return []uint64{i}
	}
	var out []uint64
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r struct {
			Index uint64 `json:"index"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, b)
		}
		out = append(out, r.Index)
	}
	return out
}

func decision(system, id, model string) string {
	return fmt.Sprintf(`{"system":%q,"decision_id":%q,"time":"2026-11-27T09:14:03Z","model":{"name":%q,"version":"3.1.0"},"outcome":"approved",`+
		`"commitments":{"input":"sha256:%064x","output":"sha256:%064x"}}`, system, id, model, len(id), len(id)+1)
}

func (tl *testLog) fill(t *testing.T) {
	t.Helper()
	const octets, jsonType = "application/octet-stream", "application/json"
	tl.raw = tl.post(t, "/add", octets, []byte("model acme/fraud-v3 released"))[0]

	// A model release: an in-toto statement in a DSSE envelope signed by
	// an Ed25519 publisher key.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadED25519SignerVerifier(priv)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	statement := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":"%064x"}}],`+
		`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/build@v1"}}}`, releaseName, 7)
	env, err := dsse.WrapSigner(sv, "application/vnd.in-toto+json").SignMessage(strings.NewReader(statement))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := json.Marshal(map[string]any{"envelope": json.RawMessage(env), "public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	tl.release = tl.post(t, "/api/v1/attestations", jsonType, sub)[0]

	tl.decision = tl.post(t, "/api/v1/decisions", jsonType, []byte(decision("support-bot", "c-1042", "acme/chat")))[0]
	tl.fraudDecision = tl.post(t, "/api/v1/decisions", jsonType, []byte(decision("loan-eu", "l-7", releaseName)))[0]
	tl.access = tl.post(t, "/api/v1/access", jsonType, []byte(`{"system":"kyc-workflow","event_id":"a-2211","time":"2026-12-01T09:12:40Z",`+
		`"actor":{"type":"person","id":"analyst-17"},"action":"read","resource":{"type":"customer-file","id":"file-9"},`+
		`"purpose":"kyc-review","legal_basis":"GDPR Art. 6(1)(c)"}`))[0]
	tl.evaluation = tl.post(t, "/api/v1/evaluations", jsonType, []byte(`{"system":"clinical-recommender","evaluation_id":"ev-2026-11",`+
		`"time":"2026-11-20T10:00:00Z","model":{"name":"acme/triage","version":"4.2"},"dataset":{"name":"holdout-2026q3","digest":"sha256:`+
		strings.Repeat("ab", 32)+`"},"metrics":{"auroc":0.912},"evaluator":"acme-clinical-qa"}`))[0]
	// More decisions of one system than a page of search results.
	var nd bytes.Buffer
	for i := range 21 {
		nd.WriteString(decision("bulk", fmt.Sprintf("b-%d", i), "acme/bulk") + "\n")
	}
	tl.bulk = tl.post(t, "/api/v1/decisions", "application/x-ndjson", nd.Bytes())
	tl.post(t, "/add", octets, []byte("the last raw entry"))
}

// findBrowser names the browser binary: TLOG_BROWSER, else chromium or
// chromium-browser on PATH or at Debian's and Snap's paths, else "" for
// chromedp's own lookup.
func findBrowser() string {
	if p := os.Getenv("TLOG_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium", "/snap/bin/chromium"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// noBrowser fails the test, unless TLOG_SKIP_BROWSER=1 outside CI.
func noBrowser(t *testing.T, why string) {
	t.Helper()
	const install = "install Chromium (Debian: apt-get install -y chromium) or set TLOG_BROWSER to a Chrome or Chromium binary"
	switch {
	case os.Getenv("CI") != "":
		t.Fatalf("no browser for the explorer test (%s): %s; CI must run it", why, install)
	case os.Getenv("TLOG_SKIP_BROWSER") == "1":
		t.Skipf("SKIPPED, TLOG_SKIP_BROWSER=1: no browser for the explorer test (%s); %s", why, install)
	default:
		t.Fatalf("no browser for the explorer test (%s): %s, or set TLOG_SKIP_BROWSER=1 to skip it knowingly", why, install)
	}
}

// startBrowser starts headless Chromium and returns a tab's context. Only
// 127.0.0.1 resolves in it, so the page cannot reach anything else.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findBrowser()
	if env := os.Getenv("TLOG_BROWSER"); env != "" {
		if _, err := os.Stat(env); err != nil {
			noBrowser(t, "TLOG_BROWSER: "+err.Error())
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(375, 812),
	)
	if path != "" {
		opts = append(opts, chromedp.ExecPath(path))
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses root
	}
	// A hard bound on the browser's life, whatever happens.
	bound, cancelBound := context.WithTimeout(context.Background(), 90*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(bound, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBound()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		if path == "" {
			noBrowser(t, "chromium and chromium-browser are not installed, and chromedp's lookup failed: "+err.Error())
		}
		t.Fatalf("starting %s: %v", path, err)
	}
	if path == "" {
		path = "chromedp's default lookup"
	}
	t.Logf("browser: %s", path)
	return ctx
}

// consoleErrors collects the page's uncaught exceptions and its
// Content-Security-Policy violations.
func consoleErrors(ctx context.Context) func() []string {
	var (
		mu   sync.Mutex
		errs []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// step runs actions within a bound, failing the test with what it was.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, pageText(ctx))
	}
}

// pageText is what the page shows, for failure messages.
func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, pageText(ctx))
	}
	return v
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return run(t, ctx, "text of "+css, chromedp.TextContent(chromedp.CSS(css)))
}

func wantContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q does not contain %q", what, got, w)
		}
	}
}

// goHash moves the page to a view (#/…) as its links do, without loading
// the page again; to the view it shows already, by reloading it.
func goHash(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	if run(t, ctx, "location", chromedp.Evaluate[string](`location.hash`)) == hash {
		step(t, ctx, "reload "+hash, chromedp.Reload())
		return
	}
	step(t, ctx, "go to "+hash, chromedp.Evaluate[chromedp.Void](`location.hash = `+strconv.Quote(hash)))
}

// openEntry goes to an entry's page and waits for its verdict: its status
// ("verified", "not-verified") and the reasons given.
func openEntry(t *testing.T, ctx context.Context, index uint64) (status, reasons string) {
	t.Helper()
	goHash(t, ctx, fmt.Sprintf("#/entry/%d", index))
	return waitVerdict(t, ctx, index)
}

func waitVerdict(t *testing.T, ctx context.Context, index uint64) (status, reasons string) {
	t.Helper()
	status = run(t, ctx, fmt.Sprintf("verdict of entry %d", index), chromedp.Poll[string](
		`(() => { const s = document.querySelector('#status'); return s && s.dataset.status !== 'pending' && document.querySelector('h1').textContent === 'Entry #`+strconv.FormatUint(index, 10)+`' && s.dataset.status; })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if status == "error" {
		t.Fatalf("entry %d: %s", index, text(t, ctx, "#status"))
	}
	return status, text(t, ctx, "#status-reasons")
}

// screenshot saves a PNG of the whole page and checks it is one, 375
// pixels wide.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	b := run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if cfg.Width != 375 || cfg.Height < 300 {
		t.Errorf("screenshot %s is %d×%d, want 375 wide", name, cfg.Width, cfg.Height)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot %s: %v, %v", p, fi, err)
	}
	t.Logf("screenshot: %s (%d bytes, %d×%d)", p, len(b), cfg.Width, cfg.Height)
}

// noHorizontalScroll checks the page fits the 375-pixel screen.
func noHorizontalScroll(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	w := run(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if w > 375 {
		t.Errorf("%s: the page is %d pixels wide on a 375-pixel screen (horizontal scrolling)", where, w)
	}
}

func TestExplorerInBrowser(t *testing.T) {
	start := time.Now()
	ctx := startBrowser(t)
	tl := newTestLog(t)
	base := tl.URL
	size := tl.log.Published().Size
	shots := os.Getenv("TLOG_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", shots)
	errs := consoleErrors(ctx)
	step(t, ctx, "phone screen", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))

	t.Run("checkpoint", func(t *testing.T) {
		step(t, ctx, "open /", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-sig")))
		if got := text(t, ctx, "#cp-size"); got != strconv.FormatUint(size, 10) {
			t.Errorf("tree size %q, want %d", got, size)
		}
		wantContains(t, "origin", text(t, ctx, "#cp-origin"), origin)
		root := tl.log.Published().Hash
		if got := text(t, ctx, "#cp-root"); got != base64.StdEncoding.EncodeToString(root[:]) {
			t.Errorf("root %q", got)
		}
		status := run(t, ctx, "signature status", chromedp.Evaluate[string](`document.querySelector('#cp-sig').dataset.status`))
		if status != "verified" {
			t.Errorf("checkpoint signature: %s: %s", status, text(t, ctx, "#cp-sig"))
		}
		if got := text(t, ctx, "#key-used"); got != tl.log.VerifierKey() {
			t.Errorf("key used %q, want the log's %q", got, tl.log.VerifierKey())
		}
		wantContains(t, "witnesses", text(t, ctx, "#witnesses"), witnessName, "cosigned at 2026-12-01T12:00:00Z")

		// The recent entries, decoded per kind, once all have loaded.
		step(t, ctx, "recent entries", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#recent .entry-row .kind').length === 20`, chromedp.WithPollingTimeout(10*time.Second)))
		recent := text(t, ctx, "#recent")
		wantContains(t, "recent entries", recent, "#"+strconv.FormatUint(size-1, 10), "raw", "18 bytes", "decision b-20 by bulk: acme/bulk 3.1.0 → approved")
		noHorizontalScroll(t, ctx, "front page")
		screenshot(t, ctx, shots, "explorer-checkpoint.png")

		// The older entries of each kind, as the front page shows them.
		for _, e := range []struct {
			index uint64
			want  string
		}{
			{tl.raw, "28 bytes"},
			{tl.release, "release of " + releaseName},
			{tl.decision, "decision c-1042 by support-bot: acme/chat 3.1.0 → approved"},
			{tl.access, "access a-2211 in kyc-workflow: person analyst-17 read customer-file for kyc-review"},
			{tl.evaluation, "evaluation ev-2026-11 of acme/triage 4.2 on holdout-2026q3"},
		} {
			openEntry(t, ctx, e.index)
			wantContains(t, fmt.Sprintf("entry %d", e.index), text(t, ctx, "#entry-summary"), e.want)
		}
	})

	t.Run("search", func(t *testing.T) {
		goHash(t, ctx, "#/search")
		step(t, ctx, "search by model",
			chromedp.WaitVisible(chromedp.CSS("#search-form")),
			chromedp.SetValue(chromedp.CSS("#search-field"), "model"),
			chromedp.SendKeys(chromedp.CSS("#search-value"), releaseName),
			chromedp.Click(chromedp.CSS("#search-submit")),
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#hits .entry-row .kind').length === 2`, chromedp.WithPollingTimeout(10*time.Second)),
		)
		wantContains(t, "search warning", text(t, ctx, "#search-warning"), "Search results are not authenticated")
		hits := run(t, ctx, "hits", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#hits .entry-row')].map(e => e.dataset.index)`))
		if want := []string{strconv.FormatUint(tl.fraudDecision, 10), strconv.FormatUint(tl.release, 10)}; fmt.Sprint(hits) != fmt.Sprint(want) {
			t.Errorf("hits %v, want %v (newest first)", hits, want)
		}
		wantContains(t, "hits", text(t, ctx, "#hits"), "release of "+releaseName, "decision l-7 by loan-eu")
		noHorizontalScroll(t, ctx, "search")

		// Cursor pagination: 21 decisions of "bulk", 20 a page.
		goHash(t, ctx, "#/search?system=bulk")
		step(t, ctx, "search by system",
			// Rows fully loaded: a click lands where the link stays.
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#hits .entry-row .kind').length === 20 && document.querySelector('#next-page') !== null`, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.Click(chromedp.CSS("#next-page")),
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#hits .entry-row .kind').length === 1 && !document.querySelector('#next-page')`, chromedp.WithPollingTimeout(10*time.Second)),
		)
		if got := text(t, ctx, "#hits .entry-row"); !strings.Contains(got, "decision b-0 by bulk") {
			t.Errorf("older page: %q, want the oldest bulk decision (index %d)", got, tl.bulk[0])
		}

		// Open the release from the search results.
		goHash(t, ctx, "#/search?model="+releaseName+"&kind=model-release/v1")
		step(t, ctx, "open a hit",
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#hits .entry-row .kind').length === 1`, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#hits .entry-row[data-index="%d"] a`, tl.release))),
		)
		status, reasons := waitVerdict(t, ctx, tl.release)
		if status != "verified" || text(t, ctx, "#verdict") != "verified" {
			t.Fatalf("release %d: %s: %s", tl.release, status, reasons)
		}
		wantContains(t, "reasons", reasons, "leads through the", "to the checkpoint's root", "signature verifies with the key "+origin+"+")
		wantContains(t, "release entry", text(t, ctx, "#entry"), "subjects[0].name", releaseName, "model-release/v1")
		if got := text(t, ctx, "#status #key-used"); got != tl.log.VerifierKey() {
			t.Errorf("key used %q", got)
		}
		noHorizontalScroll(t, ctx, "entry")
		screenshot(t, ctx, shots, "explorer-entry-verified.png")
	})

	t.Run("tampered proof", func(t *testing.T) {
		tl.tamper.Store(true)
		status, reasons := openEntry(t, ctx, tl.decision)
		tl.tamper.Store(false)
		if n := tl.tampered.Load(); n == 0 {
			t.Fatal("the server tampered with no proof")
		}
		if status != "not-verified" || text(t, ctx, "#verdict") != "not verified" {
			t.Fatalf("tampered proof of %d: %s: %s", tl.decision, status, reasons)
		}
		wantContains(t, "reasons", reasons, "does not lead to the checkpoint's root")
		screenshot(t, ctx, shots, "explorer-entry-not-verified.png")
		// Untampered again: verified.
		if status, reasons := openEntry(t, ctx, tl.decision); status != "verified" {
			t.Errorf("entry %d after tampering: %s: %s", tl.decision, status, reasons)
		}
	})

	t.Run("bad checkpoint signature", func(t *testing.T) {
		tl.tamperSig.Store(true)
		defer tl.tamperSig.Store(false)
		status, reasons := openEntry(t, ctx, tl.raw)
		if tl.sigTampered.Load() == 0 {
			t.Fatal("the server tampered with no checkpoint")
		}
		if status != "not-verified" {
			t.Fatalf("entry %d under a bad checkpoint signature: %s: %s", tl.raw, status, reasons)
		}
		wantContains(t, "reasons", reasons, "leads through the", "the checkpoint's signature by "+origin+"+", "does not verify")
		goHash(t, ctx, "#/")
		step(t, ctx, "front page", chromedp.WaitVisible(chromedp.CSS("#cp-sig")))
		if got := run(t, ctx, "signature status", chromedp.Evaluate[string](`document.querySelector('#cp-sig').dataset.status`)); got != "failed" {
			t.Errorf("front page under a bad checkpoint signature: %s: %s", got, text(t, ctx, "#cp-sig"))
		}
	})

	t.Run("pinned key", func(t *testing.T) {
		_, other, err := signer.GenerateKey(rand.Reader, origin)
		if err != nil {
			t.Fatal(err)
		}
		goHash(t, ctx, "#/key")
		step(t, ctx, "pin another key",
			chromedp.WaitVisible(chromedp.CSS("#key-input")),
			chromedp.SetValue(chromedp.CSS("#key-input"), other),
			chromedp.Click(chromedp.CSS("#key-pin")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#key-msg').textContent.startsWith('Pinned')`, chromedp.WithPollingTimeout(5*time.Second)),
		)
		status, reasons := openEntry(t, ctx, tl.access)
		if status != "not-verified" {
			t.Errorf("entry %d under another pinned key: %s: %s", tl.access, status, reasons)
		}
		wantContains(t, "reasons", reasons, "the checkpoint carries no signature by the key")
		if got := text(t, ctx, "#status #key-used"); got != other {
			t.Errorf("key used %q, want the pinned %q", got, other)
		}
		wantContains(t, "key source", text(t, ctx, "#status"), "pinned in this browser")

		// A key whose key ID is not its own, or malformed, is not pinned.
		parts := strings.SplitN(tl.log.VerifierKey(), "+", 3)
		for _, bad := range []struct{ key, why string }{
			{parts[0] + "+00000000+" + parts[2], "key ID 00000000 does not match the key"},
			{parts[0] + "+0" + parts[1] + "+" + parts[2], "not a verifier key"},
			{parts[0] + "+" + parts[1] + "+" + parts[2][:12], "not an Ed25519 note key"},
		} {
			goHash(t, ctx, "#/key")
			step(t, ctx, "pin a bad key",
				chromedp.WaitVisible(chromedp.CSS("#key-input")),
				chromedp.SetValue(chromedp.CSS("#key-input"), bad.key),
				chromedp.Click(chromedp.CSS("#key-pin")),
				chromedp.Poll[chromedp.Void](`document.querySelector('#key-msg').textContent.startsWith('Not pinned')`, chromedp.WithPollingTimeout(5*time.Second)),
			)
			wantContains(t, "pinning "+bad.key, text(t, ctx, "#key-msg"), bad.why)
			if got := text(t, ctx, "#key-current"); got != other {
				t.Errorf("after a refused pin, the key in use is %q, want the pinned %q", got, other)
			}
		}
		// The log's own key pinned: verified, and so says the page.
		step(t, ctx, "pin the log's key",
			chromedp.SetValue(chromedp.CSS("#key-input"), tl.log.VerifierKey()),
			chromedp.Click(chromedp.CSS("#key-pin")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#key-msg').textContent.startsWith('Pinned')`, chromedp.WithPollingTimeout(5*time.Second)),
		)
		if status, reasons := openEntry(t, ctx, tl.access); status != "verified" {
			t.Errorf("entry %d under the pinned log key: %s: %s", tl.access, status, reasons)
		}
		goHash(t, ctx, "#/key")
		step(t, ctx, "unpin", chromedp.WaitVisible(chromedp.CSS("#key-unpin")), chromedp.Click(chromedp.CSS("#key-unpin")))
		wantContains(t, "key source after unpinning", text(t, ctx, "#key-source"), "reported by the server")
	})

	t.Run("no Ed25519", func(t *testing.T) {
		// A tab whose WebCrypto refuses Ed25519, as browsers without it do.
		tab, cancel := chromedp.NewContext(ctx)
		defer cancel()
		// The tab lives as long as the context of its first action: one
		// without a timeout.
		if err := chromedp.Do(tab); err != nil {
			t.Fatal(err)
		}
		addScript := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
				const orig = crypto.subtle.importKey.bind(crypto.subtle);
				crypto.subtle.importKey = (format, data, alg, ...rest) =>
					(alg && (alg.name || alg)) === 'Ed25519'
						? Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'))
						: orig(format, data, alg, ...rest);
			})();`})
			return chromedp.Void{}, err
		}
		step(t, tab, "tab without Ed25519", addScript, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
		step(t, tab, "open the page", chromedp.Navigate(fmt.Sprintf("%s/#/entry/%d", base, tl.evaluation)))
		status, reasons := waitVerdict(t, tab, tl.evaluation)
		if status != "not-verified" {
			t.Errorf("entry %d without Ed25519: %s: %s", tl.evaluation, status, reasons)
		}
		wantContains(t, "reasons", reasons, "leads through the", "checkpoint signature not checked: this browser has no Ed25519")
		goHash(t, tab, "#/")
		step(t, tab, "front page without Ed25519", chromedp.WaitVisible(chromedp.CSS("#cp-sig")))
		if got := run(t, tab, "signature status", chromedp.Evaluate[string](`document.querySelector('#cp-sig').dataset.status`)); got != "unchecked" {
			t.Errorf("checkpoint signature without Ed25519: %s", got)
		}
		wantContains(t, "checkpoint", text(t, tab, "#cp-sig"), "signature not checked", "this browser has no Ed25519")
	})

	if e := errs(); len(e) > 0 {
		t.Errorf("the page threw or broke its policy:\n%s", strings.Join(e, "\n"))
	}
	t.Logf("%s in all", time.Since(start).Round(time.Millisecond))
}
