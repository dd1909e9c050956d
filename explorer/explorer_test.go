package explorer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request with h and returns the answer and its body.
func get(t *testing.T, h http.Handler, method, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func wantHeaders(t *testing.T, what string, resp *http.Response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %s %q, want %q", what, k, got, v)
		}
	}
}

var testConfig = Config{Origin: "example.com/log", LogKey: "example.com/log+0badc0de+AQ==\n", WitnessPolicy: true}

// The page: HTML, the strict policy, revalidated with an ETag, and it
// loads exactly the hashed script and style sheet, nothing inline.
func TestPage(t *testing.T) {
	h := New(testConfig)
	app, style := h.AssetPaths()
	resp, body := get(t, h, http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	wantHeaders(t, "GET /", resp, map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": ContentSecurityPolicy,
		"Cache-Control":           "no-cache",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	})
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, d) {
			t.Errorf("policy lacks %q", d)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("policy allows something unsafe: %s", ContentSecurityPolicy)
	}
	scripts := regexp.MustCompile(`<script\b[^>]*>`).FindAllString(body, -1)
	if len(scripts) != 1 || !strings.Contains(scripts[0], `src="`+strings.TrimPrefix(app, "/")+`"`) {
		t.Errorf("script tags %q, want one loading %s", scripts, app)
	}
	if !regexp.MustCompile(`<script\b[^>]*></script>`).MatchString(body) {
		t.Error("the script tag has a body (inline script)")
	}
	if !strings.Contains(body, `href="`+strings.TrimPrefix(style, "/")+`"`) {
		t.Errorf("the page does not load %s", style)
	}
	if m := regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:|https?://`).FindString(body); m != "" {
		t.Errorf("the page has %q (inline style or script, or another origin)", m)
	}

	etag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	resp, body = get(t, h, http.MethodGet, "/", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET / with its ETag: %d, %d bytes; want 304 and nothing", resp.StatusCode, len(body))
	}
	resp, body = get(t, h, http.MethodGet, "/", "If-None-Match", `"0000000000000000"`)
	if resp.StatusCode != http.StatusOK || body == "" {
		t.Errorf("GET / with another ETag: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get(t, h, http.MethodHead, "/")
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("ETag") != etag {
		t.Errorf("HEAD /: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	resp, _ = get(t, h, http.MethodPost, "/")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// The script and the style sheet are named by the hash of their content,
// served with their media types and cached as immutable; other names under
// /explorer/ are 404.
func TestAssets(t *testing.T) {
	h := New(testConfig)
	app, style := h.AssetPaths()
	for _, a := range []struct{ path, file, contentType, ext string }{
		{app, "assets/app.js", "text/javascript; charset=utf-8", ".js"},
		{style, "assets/style.css", "text/css; charset=utf-8", ".css"},
	} {
		resp, body := get(t, h, http.MethodGet, a.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", a.path, resp.StatusCode)
		}
		wantHeaders(t, "GET "+a.path, resp, map[string]string{
			"Content-Type":            a.contentType,
			"Cache-Control":           "public, max-age=31536000, immutable",
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
		})
		want, err := assets.ReadFile(a.file)
		if err != nil {
			t.Fatal(err)
		}
		if body != string(want) {
			t.Errorf("GET %s: not the embedded %s", a.path, a.file)
		}
		sum := sha256.Sum256(want)
		if name := "." + hex.EncodeToString(sum[:8]) + a.ext; !strings.HasSuffix(a.path, name) {
			t.Errorf("%s is not named by its content's hash (%s)", a.path, name)
		}
		if resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:8])+`"` {
			t.Errorf("GET %s: ETag %q", a.path, resp.Header.Get("ETag"))
		}
	}
	for _, p := range []string{
		"/explorer/app.js", "/explorer/style.css", "/explorer/", "/explorer/index.html",
		"/explorer/assets/app.js", "/explorer/app.0000000000000000.js", "/index.html", "/nope",
	} {
		if resp, _ := get(t, h, http.MethodGet, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// The script puts what the log says on the page as text only, and nothing
// the page loads names another origin.
func TestAssetsSafe(t *testing.T) {
	js, err := assets.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('", "fetch('http", "fetch(\"http", "fetch(`http"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %q", bad)
		}
	}
	css, err := assets.ReadFile("assets/style.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"url(", "@import", "http:", "https:"} {
		if strings.Contains(string(css), bad) {
			t.Errorf("style.css uses %q", bad)
		}
	}
}

// The config carries the key, origin and policy flag, the key trimmed.
func TestConfig(t *testing.T) {
	h := New(testConfig)
	resp, body := get(t, h, http.MethodGet, PathConfig)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", PathConfig, resp.StatusCode)
	}
	wantHeaders(t, "GET "+PathConfig, resp, map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-cache",
	})
	var c map[string]any
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string]any{"origin": "example.com/log", "log_key": "example.com/log+0badc0de+AQ==", "witness_policy": true}
	if len(c) != len(want) {
		t.Errorf("config %v, want %v", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("config %s = %v, want %v", k, c[k], v)
		}
	}
	_, other := get(t, New(Config{Origin: "o", LogKey: "o+00000000+AQ=="}), http.MethodGet, PathConfig)
	if other == body || !strings.Contains(other, `"witness_policy":false`) {
		t.Errorf("another config answers %s", other)
	}
}
