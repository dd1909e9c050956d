package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tokens of the writers of these tests: 43+ printable characters.
var (
	tokAll    = strings.Repeat("a", 43)
	tokLoans  = strings.Repeat("b", 43)
	tokRaw    = strings.Repeat("c", 43)
	tokRevoke = strings.Repeat("d", 43)
)

func testWriters(t *testing.T, extra ...string) *Writers {
	t.Helper()
	text := "# writers of the guard tests\n" +
		"ops " + tokAll + "\n" +
		"\n" +
		"loans " + tokLoans + " kinds=decision systems=loan-*,kyc\n" +
		"ingest " + tokRaw + " kinds=raw\n" +
		strings.Join(extra, "\n")
	ws, err := ParseWriters([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// send posts body to path with headers (name, value pairs).
func (ts *testServer) send(t *testing.T, path, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestParseWriters(t *testing.T) {
	good := tokAll
	for _, tc := range []struct {
		name, text, err string
	}{
		{"no writers", "# nothing\n\n", "no writers"},
		{"name only", "ops\n", "want <name> <token>"},
		{"short token", "ops " + strings.Repeat("x", 42) + "\n", "token too short"},
		{"token with control byte", "ops " + good + "\x01\n", "printable ASCII"},
		{"option as token", "ops kinds=decision\n", "has no token"},
		{"unknown kind", "ops " + good + " kinds=decision,weights\n", `unknown kind "weights"`},
		{"unknown option", "ops " + good + " rate=5\n", `unknown option "rate"`},
		{"empty option", "ops " + good + " kinds=\n", "want kinds="},
		{"kinds twice", "ops " + good + " kinds=raw kinds=decision\n", "kinds= given twice"},
		{"systems with a kind without system", "ops " + good + " kinds=raw systems=loan-*\n", `kind "raw" names none`},
		{"duplicate name", "ops " + good + "\nops " + tokLoans + "\n", `"ops" named twice`},
		{"duplicate token", "ops " + good + "\nbank " + good + "\n", "token of another writer"},
		{"non-ASCII name", "öps " + good + "\n", "printable ASCII"},
		{"line number", "# c\nops " + good + "\nbad\n", "line 3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWriters([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseWriters: %v, want an error with %q", err, tc.err)
			}
		})
	}

	ws := testWriters(t)
	if ws.Len() != 3 {
		t.Fatalf("Len %d, want 3", ws.Len())
	}
	w, ok := ws.Authenticate(tokLoans)
	if !ok || w.Name != "loans" {
		t.Fatalf("Authenticate(loans' token) = %v, %v", w, ok)
	}
	if _, ok := ws.Authenticate(tokLoans + "x"); ok {
		t.Fatal("a longer token authenticated")
	}
	if _, ok := ws.Authenticate(""); ok {
		t.Fatal("the empty token authenticated")
	}
	// systems= alone limits the writer to decisions.
	ws2, err := ParseWriters([]byte("bank " + good + " systems=kyc\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := ws2.writers[0]
	if b.MayLog(KindRaw) || b.MayLog(KindRelease) || !b.MayLog(KindDecision) {
		t.Fatalf("systems= without kinds=: kinds %v, want decision only", b.Kinds)
	}
	if !b.MayLogSystem("kyc") || b.MayLogSystem("kyc2") || b.MayLogSystem("KYC") {
		t.Fatal("exact system pattern matched wrongly")
	}
	if tok := NewToken(); len(tok) != 43 || checkToken(tok) != nil {
		t.Fatalf("NewToken %q", tok)
	}
	if NewToken() == NewToken() {
		t.Fatal("two NewTokens are equal")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"loan-*", "loan-eu", true},
		{"loan-*", "loan-", true},
		{"loan-*", "loan", false},
		{"loan-*", "xloan-eu", false},
		{"*-eu", "loan-eu", true},
		{"*-eu", "loan-eux", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*b*c", "acb", false},
		{"*", "", true},
		{"*", "anything", true},
		{"kyc", "kyc", true},
		{"kyc", "kyc-", false},
		{"a*a", "a", false},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// TestWriterAuth: with writers, writes without a known token get 401 (with
// a challenge) and writers outside their scopes 403; nothing is logged by a
// refused write; reads stay public; a reload revokes.
func TestWriterAuth(t *testing.T) {
	var srv *Server
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.Writers = testWriters(t, "old "+tokRevoke) })
	// newAIServer wraps New; take the Server back to reload it.
	srv = ts.Server.Config.Handler.(*Server)

	rec := []byte(decisionRecord("loan-eu", 1))
	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		headers        []string
		status         int
		reason         string
	}{
		{"no token, raw", "/add", "application/octet-stream", []byte("x"), nil, 401, "Authorization: Bearer"},
		{"no token, decision", "/api/v1/decisions", "application/json", rec, nil, 401, "Authorization: Bearer"},
		{"no token, release", "/api/v1/attestations", "application/json", []byte("{}"), nil, 401, "Authorization: Bearer"},
		{"wrong token", "/add", "application/octet-stream", []byte("x"), bearer(strings.Repeat("z", 43)), 401, "unknown or revoked"},
		{"basic auth", "/add", "application/octet-stream", []byte("x"), []string{"Authorization", "Basic b3BzOnB3"}, 401, "want Bearer"},
		{"empty bearer", "/add", "application/octet-stream", []byte("x"), []string{"Authorization", "Bearer "}, 401, "want Bearer"},
		{"scoped writer, other kind", "/add", "application/octet-stream", []byte("x"), bearer(tokLoans), 403, `writer "loans" may not log raw entries`},
		{"scoped writer, release", "/api/v1/attestations", "application/json", []byte("{}"), bearer(tokLoans), 403, "may not log release"},
		{"scoped writer, other system", "/api/v1/decisions", "application/json", []byte(decisionRecord("payments", 1)), bearer(tokLoans), 403, `may not log records of system "payments"`},
		{"scoped writer, one bad system in a batch", "/api/v1/decisions", "application/x-ndjson",
			ndjson(decisionRecord("loan-eu", 2), decisionRecord("kyc", 3), decisionRecord("kyc-eu", 4)), bearer(tokLoans), 403, `system "kyc-eu" (record 3`},
		{"raw writer, decision", "/api/v1/decisions", "application/json", rec, bearer(tokRaw), 403, `writer "ingest" may not log decision`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.size()
			resp, body := ts.send(t, tc.path, tc.ct, tc.body, tc.headers...)
			// The JSON API escapes the reason's quotes.
			if resp.StatusCode != tc.status || !strings.Contains(strings.ReplaceAll(string(body), `\"`, `"`), tc.reason) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.reason)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="tlog writers"` {
				t.Fatalf("401 without the challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(body), tokLoans) || strings.Contains(string(body), tokRaw) {
				t.Fatal("the answer repeats a token")
			}
			time.Sleep(5 * time.Millisecond)
			if ts.size() != before {
				t.Fatalf("a refused write changed the tree: %d → %d", before, ts.size())
			}
		})
	}

	// Writers within their scopes write.
	if resp, body := ts.send(t, "/api/v1/decisions?receipts=compact", "application/x-ndjson",
		ndjson(decisionRecord("loan-eu", 5), decisionRecord("kyc", 6)), bearer(tokLoans)...); resp.StatusCode != 200 {
		t.Fatalf("scoped writer in scope: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.send(t, "/add", "application/octet-stream", []byte("raw by ingest"), bearer(tokRaw)...); resp.StatusCode != 200 {
		t.Fatalf("raw writer: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.send(t, "/add", "", []byte("raw by the revoked one"), bearer(tokRevoke)...); resp.StatusCode != 200 {
		t.Fatalf("writer before revocation: %d %s", resp.StatusCode, body)
	}
	if got := ts.size(); got != 4 {
		t.Fatalf("tree size %d, want 4", got)
	}
	// Reads need no token.
	if resp, _ := ts.do(t, http.MethodGet, "/checkpoint", nil); resp.StatusCode != 200 {
		t.Fatalf("GET /checkpoint without a token: %d", resp.StatusCode)
	}
	if resp, _ := ts.do(t, http.MethodGet, "/api/v1/entries/0", nil); resp.StatusCode != 200 {
		t.Fatalf("GET an entry without a token: %d", resp.StatusCode)
	}

	// Reload without "old": its token no longer writes.
	srv.SetWriters(testWriters(t))
	if resp, body := ts.send(t, "/add", "", []byte("after revocation"), bearer(tokRevoke)...); resp.StatusCode != 401 || !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked writer: %d %s", resp.StatusCode, body)
	}
	if got := ts.size(); got != 4 {
		t.Fatalf("tree size %d after a revoked write, want 4", got)
	}
	// Back to an open log.
	srv.SetWriters(nil)
	if resp, body := ts.send(t, "/add", "", []byte("open again"), nil...); resp.StatusCode != 200 {
		t.Fatalf("open log: %d %s", resp.StatusCode, body)
	}
}

// TestReloadUnderLoad: replacing the writers while writers write drops no
// request: every request of a writer kept in both sets succeeds.
func TestReloadUnderLoad(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.Writers = testWriters(t) })
	srv := ts.Server.Config.Handler.(*Server)
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/add", strings.NewReader(fmt.Sprintf("load %d %d", g, i)))
				req.Header.Set("Authorization", "Bearer "+tokAll)
				resp, err := ts.Client().Do(req)
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done.Add(1)
			}
		}()
	}
	for i := range 50 {
		srv.SetWriters(testWriters(t, fmt.Sprintf("extra%d %s", i, strings.Repeat(string(rune('e'+i%20)), 44))))
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || done.Load() == 0 {
		t.Fatalf("%d of %d requests failed across 50 reloads", failed.Load(), done.Load())
	}
	t.Logf("%d requests across 50 reloads, none failed", done.Load())
}

// TestBrowserWritesRefused: a web page cannot write: cross-origin requests
// (Sec-Fetch-Site, or Origin against Host) and form content types on
// POST /add write nothing.
func TestBrowserWritesRefused(t *testing.T) {
	ts := newAIServer(t, nil)
	for _, tc := range []struct {
		name, ct string
		headers  []string
		status   int
	}{
		{"form, foreign Origin", "application/x-www-form-urlencoded", []string{"Origin", "https://evil.example"}, 403},
		{"text/plain, foreign Origin", "text/plain", []string{"Origin", "https://evil.example"}, 403},
		{"no type, cross-site fetch", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"octet-stream, foreign Origin", "application/octet-stream", []string{"Origin", "https://evil.example"}, 403},
		{"form, no Origin", "application/x-www-form-urlencoded", nil, 415},
		{"multipart, no Origin", "multipart/form-data; boundary=x", nil, 415},
		{"text/plain, no Origin", "text/plain; charset=utf-8", nil, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.send(t, "/add", tc.ct, []byte("from a web page"), tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if ts.size() != 0 {
				t.Fatal("a browser's write was logged")
			}
		})
	}
	// The same origin (a page served by the log itself) and plain clients
	// may write.
	host := strings.TrimPrefix(ts.URL, "http://")
	if resp, body := ts.send(t, "/add", "application/octet-stream", []byte("same origin"), "Origin", "http://"+host); resp.StatusCode != 200 {
		t.Fatalf("same-origin write: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.send(t, "/add", "", []byte("curl-like client"), nil...); resp.StatusCode != 200 {
		t.Fatalf("client without Content-Type: %d %s", resp.StatusCode, body)
	}
	// A form content type with a token is a client, not a form.
	ts2 := newAIServer(t, func(_ *testServer, c *Config) { c.Writers = testWriters(t) })
	if resp, body := ts2.send(t, "/add", "application/x-www-form-urlencoded", []byte("curl --data-binary"), bearer(tokAll)...); resp.StatusCode != 200 {
		t.Fatalf("form type with a token: %d %s", resp.StatusCode, body)
	}
}

// TestHeadersAndHosts: every answer has nosniff and a request id, unique
// per request; a Host outside AllowedHosts gets 421 and writes nothing.
func TestHeadersAndHosts(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.AllowedHosts = []string{"log.example.org", "127.0.0.1"} })
	ids := map[string]bool{}
	for _, p := range []string{"/checkpoint", "/tile/0/000", "/nope", "/api/v1/entries/99"} {
		resp, _ := ts.do(t, http.MethodGet, p, nil)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
		id := resp.Header.Get("X-Request-Id")
		if id == "" || ids[id] {
			t.Errorf("%s: request id %q missing or repeated", p, id)
		}
		ids[id] = true
	}
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"evil.example", 421},
		{"log.example.org.evil", 421},
		{"LOG.example.org", 200},
		{"log.example.org.", 200},
		{"log.example.org:8443", 200},
	} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/add", strings.NewReader("host "+tc.host))
		req.Host = tc.host
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Host %q: %d %s, want %d", tc.host, resp.StatusCode, body, tc.status)
		}
	}
	if got := ts.size(); got != 3 {
		t.Fatalf("tree size %d, want 3 (the allowed hosts' writes only)", got)
	}
}

// TestRateLimit: beyond the burst, 429 with Retry-After and nothing
// logged; writers are limited apart from each other and from addresses;
// the bucket refills.
func TestRateLimit(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) {
		c.Writers = testWriters(t)
		c.RateLimit, c.RateBurst = 5, 3
	})
	// A still clock: no token refills between requests, however slow.
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	ts.Server.Config.Handler.(*Server).s.limiter.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	status := func(tok string, i int) (int, string) {
		resp, _ := ts.send(t, "/add", "", []byte(fmt.Sprintf("rate %s %d", tok[:1], i)), bearer(tok)...)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 3 {
		if code, _ := status(tokAll, i); code != 200 {
			t.Fatalf("request %d within the burst: %d", i, code)
		}
	}
	code, ra := status(tokAll, 3)
	if code != 429 || ra != "1" {
		t.Fatalf("beyond the burst: %d Retry-After %q, want 429 and 1", code, ra)
	}
	if ts.size() != 3 {
		t.Fatalf("tree size %d, want 3", ts.size())
	}
	// Another writer has its own bucket.
	if code, _ := status(tokRaw, 0); code != 200 {
		t.Fatalf("another writer: %d", code)
	}
	mu.Lock()
	now = now.Add(250 * time.Millisecond) // one token at 5/s
	mu.Unlock()
	if code, _ := status(tokAll, 4); code != 200 {
		t.Fatalf("after refill: %d", code)
	}
}

// TestSubmissionMemory: large submissions wait for memory and get 503
// with Retry-After when none frees in time; the request then logs nothing.
func TestSubmissionMemory(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.SubmissionMemory = 1 << 20 })
	srv := ts.Server.Config.Handler.(*Server)
	// Hold the whole budget, as a running submission would.
	release, err := srv.s.subs.reserve(t.Context(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, body := ts.send(t, "/api/v1/decisions", "application/json", []byte(decisionRecord("s", 1)))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "busy") {
		t.Fatalf("%d %s (Retry-After %q), want 503 busy", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if waited := time.Since(start); waited < submissionWait-time.Second {
		t.Fatalf("refused after %v, want a wait of about %v", waited, submissionWait)
	}
	release()
	if resp, body := ts.send(t, "/api/v1/decisions", "application/json", []byte(decisionRecord("s", 1))); resp.StatusCode != 200 {
		t.Fatalf("after release: %d %s", resp.StatusCode, body)
	}
	if ts.size() != 1 {
		t.Fatalf("tree size %d, want 1", ts.size())
	}
}

func TestRateKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7", "addr:192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "addr:2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::9", "addr:2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "addr:2001:db8:1:3::/64"},
		{"::ffff:192.0.2.7", "addr:::ffff:192.0.2.7"},
		{"pipe", "addr:pipe"},
	} {
		if got := rateKey(tc.addr); got != tc.want {
			t.Errorf("rateKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	// The limiter's map stays bounded: past maxBuckets, new keys are
	// refused until idle buckets expire.
	l := newRateLimiter(1, 1)
	now := time.Unix(1e9, 0)
	l.now = func() time.Time { return now }
	for i := range maxBuckets {
		l.allow(fmt.Sprint("k", i))
	}
	if _, ok := l.allow("one more"); ok {
		t.Fatal("a new bucket past maxBuckets")
	}
	if len(l.buckets) != maxBuckets {
		t.Fatalf("%d buckets", len(l.buckets))
	}
	now = now.Add(2 * time.Second) // every bucket refills (1 token at 1/s)
	if _, ok := l.allow("one more"); !ok {
		t.Fatal("idle buckets were not swept")
	}
}

// TestLongReasonsClipped: a reason quoting a huge input is cut to about 1
// KiB, still one line.
func TestLongReasonsClipped(t *testing.T) {
	ts := newAIServer(t, nil)
	resp, body := ts.do(t, http.MethodGet, "/api/v1/proofs/inclusion?index="+strings.Repeat("é", 20000), nil)
	if resp.StatusCode != 400 || len(body) > maxReason+64 || !strings.Contains(string(body), "… (cut)") {
		t.Fatalf("%d, %d bytes: %.80s", resp.StatusCode, len(body), body)
	}
	if got := clipReason(strings.Repeat("é", 600)); len(got) > maxReason+len("… (cut)") || !strings.HasSuffix(got, "… (cut)") {
		t.Fatalf("clipReason: %d bytes", len(got))
	}
}
