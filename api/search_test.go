package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tlogai/tlog/log"
)

const searchPath = "/api/v1/search"

// Search pages newest first: with limit=2 over five entries of a system,
// next_cursor chains the pages, the last page has no next_cursor, and
// cursor=0 (nothing older than index 0) is empty. Entries of other
// systems, including one whose name extends this one's, are not found.
func TestSearchPagination(t *testing.T) {
	ts := newAIServer(t, nil)
	var mine []uint64
	post := func(rec string) uint64 {
		t.Helper()
		resp, body := ts.post(t, decisionsPath, "application/json", []byte(rec))
		return receiptOK(t, resp, body).Index
	}
	for i := 0; i < 5; i++ {
		mine = append(mine, post(decisionRecord("pager", i)))
		post(decisionRecord("pager-2", i)) // a longer name with the same prefix
		post(decisionRecord("pag", i))     // a shorter one
	}
	slices.Reverse(mine) // newest first

	var got []uint64
	q := "system=pager&limit=2"
	var pages [][]uint64
	for {
		idx, next := ts.searchPage(t, q)
		pages = append(pages, idx)
		got = append(got, idx...)
		if next == nil {
			break
		}
		if want := fmt.Sprint(idx[len(idx)-1]); *next != want {
			t.Fatalf("next_cursor %q, want the last index of the page %s", *next, want)
		}
		if len(pages) > 5 {
			t.Fatal("pagination does not end")
		}
		q = "system=pager&limit=2&cursor=" + *next
	}
	if len(pages) != 3 || len(pages[0]) != 2 || len(pages[1]) != 2 || len(pages[2]) != 1 {
		t.Fatalf("pages %v, want 2, 2, 1 results", pages)
	}
	if !slices.Equal(got, mine) {
		t.Fatalf("paged results %v, want %v", got, mine)
	}
	// A cursor is exclusive: results are strictly older than it.
	if idx, _ := ts.searchPage(t, fmt.Sprintf("system=pager&cursor=%d", mine[1])); !slices.Equal(idx, mine[2:]) {
		t.Fatalf("cursor %d: %v, want %v", mine[1], idx, mine[2:])
	}
	for _, c := range []string{"0", fmt.Sprint(mine[len(mine)-1])} {
		if idx, next := ts.searchPage(t, "system=pager&cursor="+c); len(idx) != 0 || next != nil {
			t.Fatalf("cursor=%s: %v next %v, want nothing", c, idx, next)
		}
	}
	// A cursor beyond the tree is the same as none.
	if idx, _ := ts.searchPage(t, "system=pager&cursor=18446744073709551615"); !slices.Equal(idx, mine) {
		t.Fatalf("cursor=max: %v", idx)
	}
	for _, s := range []string{"pager-2", "pag"} {
		if idx := ts.searchAll(t, "system", s); len(idx) != 5 || slices.ContainsFunc(idx, func(i uint64) bool { return slices.Contains(mine, i) }) {
			t.Fatalf("system=%s: %v", s, idx)
		}
	}
	// Names are matched exactly, escaped as query values.
	if idx, _ := ts.searchPage(t, "system=Pager"); len(idx) != 0 {
		t.Fatalf("system=Pager found %v", idx)
	}
	if idx, _ := ts.searchPage(t, "model="+url.QueryEscape("acme/chat-pager")+"&limit=1000"); !slices.Equal(idx, mine) {
		t.Fatalf("model=acme/chat-pager: %v", idx)
	}
}

// Bad search parameters are 400 with a JSON reason.
func TestSearchBadParams(t *testing.T) {
	ts := newAIServer(t, nil)
	resp, body := ts.post(t, decisionsPath, "application/json", []byte(decisionRecord("s", 1)))
	receiptOK(t, resp, body)
	hex64 := strings.Repeat("ab", 32)
	for _, tc := range []struct{ query, reason string }{
		{"", "give one of"},
		{"limit=2", "give one of"},
		{"system=a&model=b", "give one of"},
		{"digest=sha256:" + hex64 + "&signer=sha256:" + hex64, "give one of"},
		{"system=s&limit=0", "limit: want 1…1000"},
		{"system=s&limit=1001", "limit: want 1…1000"},
		{"system=s&limit=-1", "limit"},
		{"system=s&limit=abc", "limit"},
		{"system=s&limit=", "limit"},
		{"digest=" + hex64[:63], "digest: want sha256:<64 lowercase hex digits>"},
		{"digest=sha256:" + strings.ToUpper(hex64), "digest: want sha256"},
		{"digest=sha512:" + hex64, "digest: want sha256"},
		{"digest=sha256:" + hex64 + "00", "digest: want sha256"},
		{"digest=", "digest: want sha256"},
		{"signer=abc", "signer: want sha256"},
		{"system=", "system: want 1…"},
		{"model=", "model: want 1…"},
		{"model=" + strings.Repeat("m", log.MaxTermSize-len("model-release/v1 model=")+1), fmt.Sprintf("model: want 1…%d bytes", log.MaxTermSize-len("model-release/v1 model="))},
		{"system=s&cursor=abc", "cursor"},
		{"system=s&cursor=-1", "cursor"},
		{"system=s&cursor=01", "cursor"},
		{"system=s&cursor=1.5", "cursor"},
		{"system=s&cursor=18446744073709551616", "cursor"},
		{"system=s&foo=1", `unknown parameter "foo"`},
		{"system=s&system=t", "given 2 times"},
		{"system=s;limit=1", "malformed query"},
		{"system=%zz", "malformed query"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := ts.do(t, http.MethodGet, searchPath+"?"+tc.query, nil)
			apiError(t, resp, body, http.StatusBadRequest, tc.reason)
		})
	}
	// The largest value that is allowed is accepted.
	if idx, _ := ts.searchPage(t, "model="+strings.Repeat("m", log.MaxTermSize-len("model-release/v1 model="))+"&limit=1000"); len(idx) != 0 {
		t.Fatalf("found %v", idx)
	}
}

// Search never answers an index the published tree does not cover, while
// batches are being logged concurrently.
func TestSearchWithinPublishedTree(t *testing.T) {
	ts := newAIServer(t, nil)
	const writers, batches, perBatch = 4, 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var recs []string
				for i := 0; i < perBatch; i++ {
					recs = append(recs, decisionRecord("racing", (w*batches+b)*perBatch+i))
				}
				resp, body := ts.post(t, decisionsPath+"?receipts=compact", "application/x-ndjson", ndjson(recs...))
				if resp.StatusCode != http.StatusOK {
					t.Errorf("bulk: %d %s", resp.StatusCode, body)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	checks := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		idx, _ := ts.searchPage(t, "system=racing&limit=1000")
		size := ts.size() // read after: the published size only grows
		if len(idx) > 0 && idx[0] >= size {
			t.Fatalf("search answered index %d with the published tree at %d", idx[0], size)
		}
		checks++
	}
	if n := ts.searchAll(t, "system", "racing"); len(n) != writers*batches*perBatch || uint64(len(n)) != ts.size() {
		t.Fatalf("%d found, %d logged, size %d", len(n), writers*batches*perBatch, ts.size())
	}
	t.Logf("%d searches during the writes", checks)
}
