package api

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 9: the tile handler parses the path as sent, so a tile has one
// URL: "/tile/0/%30%30%30" is 400, not tile 000.
func TestTilePathPercentEncoded(t *testing.T) {
	ts := newServer(t, nil)
	for i := 0; i < 300; i++ {
		ts.add(t, testEntry(i))
	}
	ts.expectStatus(t, "/tile/0/000", http.StatusOK)
	ts.expectStatus(t, "/tile/entries/000", http.StatusOK)
	ts.expectStatus(t, "/tile/0/001.p/44", http.StatusOK)
	for _, p := range []string{
		"/tile/0/%30%30%30",
		"/tile/0/00%30",
		"/tile/%30/000",
		"/tile/entries/%30%30%30",
		"/tile/%65ntries/000",
		"/tile/0/001.p%2F44",
		"/tile/0/001.p/%344",
	} {
		resp, body := ts.do(t, http.MethodGet, p, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "percent-encoded") {
			t.Errorf("GET %s: %d %q, want 400 percent-encoded", p, resp.StatusCode, body)
		}
	}
}
