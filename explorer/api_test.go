package explorer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/explorer"
)

// tlog serve's handler (package api) serves the explorer at / and under
// /explorer/, behind the same guard as the API: its Host check and its
// headers; the config names the log's own key.
func TestServedByAPI(t *testing.T) {
	l := openLog(t)
	t.Cleanup(func() { l.Close() })
	srv := httptest.NewServer(api.New(api.Config{Log: l, AllowedHosts: []string{"127.0.0.1"}}))
	t.Cleanup(srv.Close)

	get := func(path, host string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
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

	resp, body := get("/", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Content-Security-Policy") != explorer.ContentSecurityPolicy || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET /: headers %v", resp.Header)
	}
	// The assets the page names are served.
	for _, m := range regexp.MustCompile(`(?:src|href)="(explorer/[^"]+)"`).FindAllSubmatch(body, -1) {
		if r, _ := get("/"+string(m[1]), ""); r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET /%s: %d, Cache-Control %q", m[1], r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}

	resp, body = get(explorer.PathConfig, "")
	var c struct {
		Origin        string `json:"origin"`
		LogKey        string `json:"log_key"`
		WitnessPolicy bool   `json:"witness_policy"`
	}
	if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", explorer.PathConfig, resp.StatusCode, err, body)
	}
	if c.Origin != l.Origin() || c.LogKey != l.VerifierKey() || c.WitnessPolicy {
		t.Errorf("config %+v, want origin %q, key %q, no witness policy", c, l.Origin(), l.VerifierKey())
	}

	for _, p := range []string{"/", explorer.PathConfig} {
		if r, _ := get(p, "evil.example"); r.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with another Host: %d, want 421", p, r.StatusCode)
		}
	}
	if r, _ := get("/explorer/nope.js", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /explorer/nope.js: %d", r.StatusCode)
	}
	if r, _ := get("/index.html", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /index.html: %d", r.StatusCode)
	}
}
