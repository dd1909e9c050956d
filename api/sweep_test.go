package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A bad-input sweep over every endpoint of tlog serve's handler: every
// ugly request gets a 4xx (never a 5xx) with a one-line reason (JSON
// {"error":…} under /api/, plain text ending in one newline elsewhere,
// nothing for HEAD), and changes nothing: the tree size, the checkpoint
// bytes and search results are the same before and after.
//
// Requests are written by hand over a net.Conn, so that their bytes are
// exactly those of the case (raw invalid UTF-8, Content-Length larger
// than the body, truncated chunks, bare control bytes that net/http
// itself refuses).

// sweepCase is one request of the sweep and what it must get.
type sweepCase struct {
	name        string
	method      string
	path        string // the request-target, sent as is
	contentType string
	body        []byte
	lo, hi      int // status range wanted

	header        []string // extra "Name: value" lines
	host          string   // Host header; "" is the server's address
	contentLength string   // sent instead of len(body); "none" sends none
	chunked       bool     // body is already chunk-encoded
	halfClose     bool     // close the write side after the body
	reason        string   // substring the reason must hold, if set
	netHTTP       bool     // refused by net/http before the handler: status only
	check         func(t *testing.T, resp *http.Response, body []byte)
}

// st wants exactly status; rng a range.
func st(code int) [2]int    { return [2]int{code, code} }
func rng(lo, hi int) [2]int { return [2]int{lo, hi} }
func any4xx() [2]int        { return [2]int{400, 499} }

func (c sweepCase) with(s [2]int) sweepCase {
	c.lo, c.hi = s[0], s[1]
	return c
}

// Numbers that are not canonical decimals in 0…2⁶⁴-1, as they appear in
// a URL (query value or path segment).
var sweepBadNumbers = []struct{ name, raw string }{
	{"2^64", "18446744073709551616"},
	{"20 nines", "99999999999999999999"},
	{"30 digits", strings.Repeat("9", 30)},
	{"minus one", "-1"},
	{"leading zeros", "007"},
	{"exponent", "1e3"},
	{"hex", "0x10"},
	{"plus sign", "%2B1"},
	{"leading space", "%201"},
	{"fraction", "1.0"},
	{"empty", ""},
	{"NUL", "%00"},
	{"digit then NUL", "1%00"},
	{"escaped invalid UTF-8", "%FF"},
	{"raw invalid UTF-8", "\xff"},
	{"Arabic-Indic one", "%D9%A1"},
	{"fullwidth one", "%EF%BC%91"},
	{"digit then LF", "1%0A"},
	{"digit then CRLF", "1%0D%0A"},
}

func TestBadInputSweep(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) {
		c.AttestationBodyLimit = 4096
		c.DecisionBodyLimit = 8192
		c.AllowedHosts = []string{"127.0.0.1"}
	})

	// A tree to prove things in: 300 raw entries and a few decisions.
	for i := 0; i < 300; i++ {
		ts.add(t, testEntry(i))
	}
	recs := []string{decisionRecord("sweep-a", 1), decisionRecord("sweep-a", 2), decisionRecord("sweep-a", 3)}
	if resp, body := ts.post(t, decisionsPath, "application/x-ndjson", ndjson(recs...)); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", decisionsPath, resp.StatusCode, body)
	}
	single := decisionRecord("sweep-b", 1)
	if resp, body := ts.post(t, decisionsPath, "application/json", []byte(single)); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", decisionsPath, resp.StatusCode, body)
	}

	type state struct {
		size       uint64
		checkpoint []byte
		search     [][]uint64
	}
	snapshot := func() state {
		_, cp := ts.checkpoint(t)
		return state{ts.size(), cp, [][]uint64{
			ts.searchAll(t, "system", "sweep-a"),
			ts.searchAll(t, "system", "sweep-b"),
			ts.searchAll(t, "model", "acme/chat-sweep-a"),
		}}
	}
	before := snapshot()
	if before.size != 304 || len(before.search[0]) != 3 || len(before.search[1]) != 1 {
		t.Fatalf("setup: size %d, searches %v", before.size, before.search)
	}

	// A real public key, so that attestation bodies get past it to the
	// envelope they get wrong.
	pemJSON, err := json.Marshal(newTestKey(t, "ecdsa").pem)
	if err != nil {
		t.Fatal(err)
	}
	cases := sweepCases(before.size, recs, single, string(pemJSON))
	t.Logf("%d cases", len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body, err := ts.sweepSend(c)
			if err != nil {
				t.Errorf("%s %q: %v", c.method, sweepShort(c.path), err)
				return
			}
			sweepCheck(t, c, resp, body)
			// Nothing changed, checked after every case so that a change
			// names its case.
			if got := ts.size(); got != before.size {
				t.Errorf("BUG: %s %q changed the tree size %d → %d", c.method, sweepShort(c.path), before.size, got)
				before.size = got
			}
			if _, cp := ts.checkpoint(t); !bytes.Equal(cp, before.checkpoint) {
				t.Errorf("BUG: %s %q changed the checkpoint:\n%s\n%s", c.method, sweepShort(c.path), before.checkpoint, cp)
				before.checkpoint = cp
			}
		})
	}

	after := snapshot()
	if after.size != before.size || !bytes.Equal(after.checkpoint, before.checkpoint) {
		t.Errorf("after the sweep: size %d, checkpoint\n%s\nwant size %d,\n%s", after.size, after.checkpoint, before.size, before.checkpoint)
	}
	for i := range before.search {
		if !slices.Equal(after.search[i], before.search[i]) {
			t.Errorf("after the sweep: search %d gives %v, want %v", i, after.search[i], before.search[i])
		}
	}
}

// sweepCases builds the table. size is the tree size; recs are logged
// NDJSON records and single a logged single record; pemJSON is a public
// key as a JSON string.
func sweepCases(size uint64, recs []string, single, pemJSON string) []sweepCase {
	var cs []sweepCase
	add := func(s [2]int, c sweepCase) { cs = append(cs, c.with(s)) }
	get := func(name, path string, s [2]int) {
		add(s, sweepCase{name: name, method: http.MethodGet, path: path})
	}
	post := func(name, path, ct string, body []byte, s [2]int) {
		add(s, sweepCase{name: name, method: http.MethodPost, path: path, contentType: ct, body: body})
	}
	last := strconv.FormatUint(size, 10)
	newEntry := []byte("sweep: a new entry that must never be logged")
	newRec := decisionRecord("sweep-new", 1)
	const (
		ctJSON   = "application/json"
		ctNDJSON = "application/x-ndjson"
		ctOctet  = "application/octet-stream"
	)

	// ---- every numeric query parameter × every bad number ----
	for _, n := range sweepBadNumbers {
		for _, p := range []struct{ param, path string }{
			{"index", "/api/v1/proofs/inclusion?size=10&index=" + n.raw},
			{"size", "/api/v1/proofs/inclusion?index=1&size=" + n.raw},
			{"old", "/api/v1/proofs/consistency?new=10&old=" + n.raw},
			{"new", "/api/v1/proofs/consistency?old=1&new=" + n.raw},
			{"limit", "/api/v1/search?system=sweep-a&limit=" + n.raw},
			{"cursor", "/api/v1/search?system=sweep-a&cursor=" + n.raw},
		} {
			cs = append(cs, sweepCase{name: "query " + p.param + "=" + n.name, method: http.MethodGet, path: p.path,
				reason: p.param + ":"}.with(st(400)))
		}
	}
	// ---- every numeric path parameter × every bad number ----
	for _, n := range sweepBadNumbers {
		s := st(400)
		if n.raw == "" {
			s = rng(400, 404) // an empty segment may not route
		}
		get("path :index="+n.name, "/api/v1/entries/"+n.raw, s)
		get("path tlog-proof :index="+n.name, "/api/v1/entries/"+n.raw+"/tlog-proof", s)
		add(s, sweepCase{name: "HEAD path :index=" + n.name, method: http.MethodHead, path: "/api/v1/entries/" + n.raw})
	}
	// In range of uint64 but beyond the tree.
	get("path :index=size", "/api/v1/entries/"+last, st(404))
	get("path :index=2^64-1", "/api/v1/entries/18446744073709551615", st(404))
	get("tlog-proof :index=2^64-1", "/api/v1/entries/18446744073709551615/tlog-proof", st(404))

	// Tile index N, width W and level L. Leading zeros are the canonical
	// form of tile indices ("007" is tile 7: beyond this tree, 404).
	for _, n := range []struct{ name, raw string }{
		{"minus one", "-1"}, {"not 3 digits", "7"}, {"4 digits", "0007"}, {"hex", "0x1"}, {"exponent", "1e3"},
		{"2^64", "18446744073709551616"}, {"2^64 in groups", "x018/x446/x744/x073/x709/x551/616"},
		{"canonical beyond the tree", "007"}, {"raw invalid UTF-8", "\xff"}, {"NUL", "%00"}, {"LF", "000%0A"},
		{"x group alone", "x000/000"}, {"group without x", "001/000"}, {"empty", ""}, {"fraction", "0.5"},
		{"percent-encoded 000", "%30%30%30"}, {"percent-encoded last digit", "00%30"},
	} {
		get("tile N="+n.name, "/tile/0/"+n.raw, any4xx())
		get("bundle N="+n.name, "/tile/entries/"+n.raw, any4xx())
	}
	for _, w := range []struct{ name, raw string }{
		{"0", "0"}, {"256", "256"}, {"minus one", "-1"}, {"leading zeros", "007"}, {"leading zero", "044"},
		{"exponent", "1e1"}, {"hex", "0x1"}, {"2^64", "18446744073709551616"}, {"NUL", "44%00"},
		{"raw invalid UTF-8", "\xff"}, {"empty", ""}, {"percent-encoded 44", "%34%34"}, {"escaped slash", "%2F44"},
	} {
		get("tile W="+w.name, "/tile/0/001.p/"+w.raw, any4xx())
		get("bundle W="+w.name, "/tile/entries/001.p/"+w.raw, any4xx())
	}
	for _, l := range []struct{ name, raw string }{
		{"minus one", "-1"}, {"leading zero", "00"}, {"64", "64"}, {"exponent", "1e1"}, {"hex", "0x0"},
		{"2^64", "18446744073709551616"}, {"raw invalid UTF-8", "\xff"}, {"percent-encoded 0", "%30"},
		{"percent-encoded entries", "%65ntries"}, {"ENTRIES", "ENTRIES"},
	} {
		get("tile L="+l.name, "/tile/"+l.raw+"/000", any4xx())
	}
	add(st(400), sweepCase{name: "HEAD bad tile", method: http.MethodHead, path: "/tile/0/7"})

	// ---- repeated, unknown and malformed parameters ----
	for _, q := range []struct{ name, path string }{
		{"inclusion index twice", "/api/v1/proofs/inclusion?index=1&index=2"},
		{"inclusion size twice", "/api/v1/proofs/inclusion?index=1&size=5&size=6"},
		{"inclusion unknown", "/api/v1/proofs/inclusion?index=1&foo=bar"},
		{"inclusion case of name", "/api/v1/proofs/inclusion?INDEX=1"},
		{"inclusion none", "/api/v1/proofs/inclusion"},
		{"inclusion index and leaf_hash", "/api/v1/proofs/inclusion?index=1&leaf_hash=" + strings.Repeat("00", 32)},
		{"inclusion leaf_hash short", "/api/v1/proofs/inclusion?leaf_hash=" + strings.Repeat("0", 63)},
		{"inclusion leaf_hash not hex", "/api/v1/proofs/inclusion?leaf_hash=" + strings.Repeat("zz", 32)},
		{"inclusion leaf_hash NUL", "/api/v1/proofs/inclusion?leaf_hash=%00"},
		{"inclusion size 0", "/api/v1/proofs/inclusion?index=0&size=0"},
		{"inclusion bad escape", "/api/v1/proofs/inclusion?index=%zz"},
		{"inclusion semicolon", "/api/v1/proofs/inclusion?index=1;size=2"},
		{"inclusion empty name", "/api/v1/proofs/inclusion?=1"},
		{"consistency old twice", "/api/v1/proofs/consistency?old=1&old=2"},
		{"consistency new twice", "/api/v1/proofs/consistency?old=1&new=3&new=4"},
		{"consistency unknown", "/api/v1/proofs/consistency?old=1&size=2"},
		{"consistency no old", "/api/v1/proofs/consistency?new=5"},
		{"consistency old 0", "/api/v1/proofs/consistency?old=0"},
		{"consistency old > new", "/api/v1/proofs/consistency?old=5&new=4"},
		{"consistency new 0", "/api/v1/proofs/consistency?old=1&new=0"},
		{"search none", "/api/v1/search"},
		{"search two fields", "/api/v1/search?system=sweep-a&model=x"},
		{"search system twice", "/api/v1/search?system=sweep-a&system=sweep-b"},
		{"search limit twice", "/api/v1/search?system=sweep-a&limit=1&limit=2"},
		{"search cursor twice", "/api/v1/search?system=sweep-a&cursor=1&cursor=2"},
		{"search unknown", "/api/v1/search?system=sweep-a&q=1"},
		{"search limit 0", "/api/v1/search?system=sweep-a&limit=0"},
		{"search limit 1001", "/api/v1/search?system=sweep-a&limit=1001"},
		{"search system empty", "/api/v1/search?system="},
		{"search model empty", "/api/v1/search?model="},
		{"search digest bad", "/api/v1/search?digest=sha256:" + strings.Repeat("0", 63)},
		{"search digest upper", "/api/v1/search?digest=sha256:" + strings.Repeat("AB", 32)},
		{"search digest NUL", "/api/v1/search?digest=%00"},
		{"search signer bad", "/api/v1/search?signer=sha512:00"},
		{"search kind bad", "/api/v1/search?system=sweep-a&kind=raw"},
		{"search kind LF", "/api/v1/search?system=sweep-a&kind=decision/v1%0A"},
		{"search kind invalid UTF-8", "/api/v1/search?system=sweep-a&kind=%FF"},
		{"search kind twice", "/api/v1/search?system=sweep-a&kind=decision/v1&kind=decision/v1"},
		{"search bad escape", "/api/v1/search?system=%zz"},
		{"search semicolon", "/api/v1/search?system=sweep-a;limit=1"},
		{"search system too long", "/api/v1/search?system=" + strings.Repeat("a", 5000)},
		{"search unknown name with LF", "/api/v1/search?system=sweep-a&a%0Ab=1"},
	} {
		get(q.name, q.path, st(400))
	}
	for _, q := range []struct{ name, path string }{
		{"inclusion leaf_hash unknown", "/api/v1/proofs/inclusion?leaf_hash=" + strings.Repeat("ab", 32)},
		{"inclusion size beyond", "/api/v1/proofs/inclusion?index=1&size=" + strconv.FormatUint(size+1, 10)},
		{"inclusion index = size", "/api/v1/proofs/inclusion?index=10&size=10"},
		{"inclusion index 2^64-1", "/api/v1/proofs/inclusion?index=18446744073709551615"},
		{"consistency new beyond", "/api/v1/proofs/consistency?old=1&new=" + strconv.FormatUint(size+1, 10)},
		{"consistency new 2^64-1", "/api/v1/proofs/consistency?old=1&new=18446744073709551615"},
	} {
		get(q.name, q.path, st(404))
	}
	// HEAD of bad reads: the status, no body.
	for _, p := range []string{"/api/v1/proofs/inclusion?index=-1", "/api/v1/proofs/consistency?old=007",
		"/api/v1/search?system=sweep-a&limit=1e3", "/api/v1/entries/0x10/tlog-proof", "/api/v1/blobs/sha256:00"} {
		add(st(400), sweepCase{name: "HEAD " + p, method: http.MethodHead, path: p})
	}

	// ---- blobs ----
	hex64 := strings.Repeat("ab", 32)
	for _, b := range []struct{ name, raw string }{
		{"63 hex", "sha256:" + hex64[:63]}, {"65 hex", "sha256:" + hex64 + "a"}, {"upper hex", "sha256:" + strings.ToUpper(hex64)},
		{"sha512", "sha512:" + hex64}, {"no algorithm", hex64}, {"NUL", "sha256:%00"}, {"raw invalid UTF-8", "sha256:\xff"},
		{"escaped colon", "sha256%3A" + hex64[:10]}, {"LF", "sha256:" + hex64 + "%0A"},
	} {
		get("blob "+b.name, "/api/v1/blobs/"+b.raw, st(400))
	}
	get("blob empty", "/api/v1/blobs/", rng(400, 404))
	get("blob unknown", "/api/v1/blobs/sha256:"+hex64, st(404))

	// ---- wrong methods, on every route ----
	reads := []string{"/checkpoint", "/tile/0/000", "/tile/entries/000", "/healthz", "/metrics",
		"/api/v1/proofs/inclusion?index=1", "/api/v1/proofs/consistency?old=1", "/api/v1/entries/1",
		"/api/v1/entries/1/tlog-proof", "/api/v1/blobs/sha256:" + hex64, "/api/v1/search?system=sweep-a"}
	writes := []string{"/add", "/api/v1/attestations", "/api/v1/decisions", "/api/v1/access", "/api/v1/evaluations"}
	for _, p := range reads {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "BREW", "TRACE"} {
			add(st(405), sweepCase{name: m + " " + p, method: m, path: p, contentType: ctJSON, body: []byte(newRec)})
		}
	}
	for _, p := range writes {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, "BREW", "TRACE"} {
			add(st(405), sweepCase{name: m + " " + p, method: m, path: p, contentType: ctJSON, body: []byte(newRec)})
		}
	}

	// OPTIONS is answered by Echo itself: 204 with Allow, accepted and
	// documented here; it must grant no CORS preflight (writes rely on
	// browsers being refused one).
	for _, p := range append(slices.Clone(reads), writes...) {
		add(st(204), sweepCase{name: "OPTIONS " + p, method: http.MethodOptions, path: p,
			header: []string{"Origin: http://evil.example", "Access-Control-Request-Method: POST"}, check: sweepNoCORS})
	}

	// ---- Host and browser checks (421, 403), on every route ----
	for _, p := range append(slices.Clone(reads), writes...) {
		m := http.MethodGet
		if slices.Contains(writes, p) {
			m = http.MethodPost
		}
		add(st(421), sweepCase{name: "foreign Host " + p, method: m, path: p, host: "evil.example", contentType: ctJSON, body: []byte(newRec)})
	}
	for _, p := range writes {
		add(st(403), sweepCase{name: "cross-site " + p, method: http.MethodPost, path: p, contentType: ctJSON, body: []byte(newRec),
			header: []string{"Sec-Fetch-Site: cross-site"}})
		add(st(403), sweepCase{name: "foreign Origin " + p, method: http.MethodPost, path: p, contentType: ctJSON, body: []byte(newRec),
			header: []string{"Origin: http://evil.example"}})
	}

	// ---- paths: percent-encoded, odd, unknown ----
	for _, p := range []struct{ name, path string }{
		{"unknown", "/nope"},
		{"upper case", "/CHECKPOINT"},
		{"trailing slash", "/checkpoint/"},
		{"double slash", "//checkpoint"},
		{"dot segment", "/./checkpoint"},
		{"dot-dot segment", "/api/v1/../checkpoint"},
		{"NUL escaped", "/checkpoint%00"},
		{"raw invalid UTF-8", "/checkpoint\xff"},
		{"escaped slash in /api", "/api%2Fv1%2Fsearch?system=sweep-a"},
		{"unknown api version", "/api/v2/search?system=sweep-a"},
		{"unknown api route", "/api/v1/nope"},
		{"entries without index", "/api/v1/entries"},
		{"tlog-proof extra segment", "/api/v1/entries/1/tlog-proof/x"},
		{"tile root", "/tile"},
		{"long unknown path", "/" + strings.Repeat("a", 60<<10)},
	} {
		get("path "+p.name, p.path, any4xx())
	}
	for _, p := range []struct{ name, path string }{
		{"escaped digit in :index", "/api/v1/entries/%31"},
		{"escaped digit in tlog-proof :index", "/api/v1/entries/%31/tlog-proof"},
		{"escaped letter in route", "/%61pi/v1/entries/1"},
	} {
		get("path "+p.name, p.path, any4xx())
	}
	// Very long URLs (~60 KiB; under net/http's header limit).
	long := strings.Repeat("1", 60<<10)
	get("long :index", "/api/v1/entries/"+long, st(400))
	get("long index", "/api/v1/proofs/inclusion?index="+long, st(400))
	get("long tile path", "/tile/0/"+strings.Repeat("x001/", 12<<10)+"000", st(400))
	get("long search value", "/api/v1/search?model="+strings.Repeat("m", 60<<10), st(400))
	get("long unknown parameter", "/api/v1/search?system=sweep-a&"+strings.Repeat("p", 60<<10)+"=1", st(400))
	post("long query on decisions", decisionsPath+"?"+strings.Repeat("q", 60<<10)+"=1", ctJSON, []byte(newRec), st(400))
	post("long query on /add", "/add?"+strings.Repeat("q", 60<<10)+"=1", "text/plain", newEntry, st(415))

	// ---- requests net/http refuses before the handler (status only) ----
	for _, r := range []struct{ name, method, path string }{
		{"raw NUL in path", http.MethodGet, "/checkpoint\x00"},
		{"raw NUL in query", http.MethodGet, "/api/v1/entries/1?x=\x00"},
		{"raw DEL in path", http.MethodGet, "/api/v1/entries/1\x7f"},
		{"raw space in path", http.MethodGet, "/api/v1/entries/1 2"},
		{"raw tab in path", http.MethodGet, "/api/v1/entries/\t1"},
		{"relative target", http.MethodGet, "api/v1/entries/1"},
	} {
		add(st(400), sweepCase{name: r.name, method: r.method, path: r.path, netHTTP: true})
	}
	for _, h := range []struct{ name, header, cl string }{
		{"Content-Length -1", "", "-1"},
		{"Content-Length 2^64", "", "18446744073709551616"},
		{"Content-Length hex", "", "0x10"},
		{"Content-Length twice, differing", "Content-Length: 5", "6"},
		{"NUL in a header", "X-Sweep: a\x00b", ""},
	} {
		c := sweepCase{name: h.name, method: http.MethodPost, path: "/add", contentType: ctOctet, body: newEntry[:6], netHTTP: true, contentLength: h.cl}
		if h.header != "" {
			c.header = []string{h.header}
		}
		add(st(400), c)
	}

	// ---- POST /add ----
	post("add empty body", "/add", ctOctet, nil, st(400))
	post("add empty body, no type", "/add", "", nil, st(400))
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "TEXT/PLAIN", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x"} {
		post("add Content-Type "+ct, "/add", ct, newEntry, st(415))
		post("add NUL body as "+ct, "/add", ct, []byte("a\x00b"), st(415))
	}
	post("add invalid UTF-8 as text/plain", "/add", "text/plain", []byte("\xff\xfe"), st(415))
	post("add form body with unknown query", "/add?x=1&x=2", "application/x-www-form-urlencoded", []byte("a=b"), st(415))
	post("add AI entry form (decision)", "/add", ctOctet, []byte(`{"kind":"decision/v1","system":"x"}`), st(400))
	post("add AI entry form (release)", "/add", ctOctet, []byte(`{"kind":"model-release/v1"}`), st(400))
	post("add oversized", "/add", ctOctet, bytes.Repeat([]byte("o"), 1<<16), st(413))
	add(st(413), sweepCase{name: "add announces 65536, sends nothing", method: http.MethodPost, path: "/add", contentType: ctOctet,
		contentLength: "65536", halfClose: true})
	add(st(413), sweepCase{name: "add announces 10^11, sends nothing", method: http.MethodPost, path: "/add", contentType: ctOctet,
		contentLength: "99999999999", halfClose: true})
	add(st(400), sweepCase{name: "add truncated body", method: http.MethodPost, path: "/add", contentType: ctOctet,
		body: newEntry[:10], contentLength: "100", halfClose: true, reason: "couldn't read"})
	add(st(400), sweepCase{name: "add truncated chunked body", method: http.MethodPost, path: "/add", contentType: ctOctet,
		body: []byte("10\r\nabc"), chunked: true, halfClose: true})
	add(st(413), sweepCase{name: "add oversized chunked body", method: http.MethodPost, path: "/add", contentType: ctOctet,
		body: chunk(bytes.Repeat([]byte("c"), 70000)), chunked: true})
	// A checkpoint-like body with its signature line twice: /add takes
	// any bytes, but not as text/plain without credentials.
	cpLike := []byte("example.com/ai-api-test\n300\n" + strings.Repeat("A", 43) + "=\n\n— example.com/ai-api-test AAAA\n— example.com/ai-api-test AAAA\n")
	post("add checkpoint-like body, duplicate signature lines", "/add", "text/plain", cpLike, st(415))
	// Accepted, documented: /add takes any bytes. These are logged
	// entries again (NUL bytes, invalid UTF-8), answered as duplicates.
	for _, i := range []int{256, 255} {
		want := fmt.Sprintf("%d\n", i)
		add(st(200), sweepCase{name: fmt.Sprintf("add duplicate entry %d (binary body)", i), method: http.MethodPost, path: "/add",
			contentType: ctOctet, body: testEntry(i), check: func(t *testing.T, _ *http.Response, body []byte) {
				if string(body) != want {
					t.Errorf("answer %q, want %q", body, want)
				}
			}})
	}

	// ---- POST /api/v1/attestations ----
	const att = attestationsPath
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"application/x-ndjson", "application/xml", "invalid;;", "text/json"} {
		post("attestation Content-Type "+ct, att, ct, []byte(`{"envelope":{},"public_key":""}`), st(415))
	}
	for _, b := range []struct{ name, body string }{
		{"array", `[]`}, {"array of object", `[{"envelope":{},"public_key":` + pemJSON + `}]`}, {"number", `1`}, {"string", `"x"`},
		{"null", `null`}, {"empty object", `{}`}, {"envelope a number", `{"envelope":1,"public_key":` + pemJSON + `}`},
		{"public_key a number", `{"envelope":{},"public_key":2}`}, {"envelope an array", `{"envelope":[],"public_key":` + pemJSON + `}`},
		{"envelope a string", `{"envelope":"e30=","public_key":` + pemJSON + `}`},
		{"payloadType a number", `{"envelope":{"payloadType":1,"payload":"e30=","signatures":[]},"public_key":` + pemJSON + `}`},
		{"payload not base64", `{"envelope":{"payloadType":"application/vnd.in-toto+json","payload":"!!","signatures":[{"sig":"AA=="}]},"public_key":` + pemJSON + `}`},
		{"signatures an object", `{"envelope":{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":{}},"public_key":` + pemJSON + `}`},
		{"unknown field", `{"envelope":{},"public_key":` + pemJSON + `,"extra":1}`},
		{"duplicate key", `{"envelope":{},"envelope":{},"public_key":` + pemJSON + `}`},
		{"truncated JSON", `{"envelope":{"payloadType":`},
		{"trailing data", `{"envelope":{},"public_key":` + pemJSON + `} {}`},
		{"invalid UTF-8", "{\"envelope\":{},\"public_key\":\"\xff\"}"},
		{"NUL byte", "{\"envelope\":{},\"public_key\":\"\x00\"}"},
		{"escaped NUL", `{"envelope":{},"public_key":"\u0000"}`},
		{"lone surrogate", `{"envelope":{},"public_key":"\ud800"}`},
		{"number 2^64", `{"envelope":18446744073709551616,"public_key":` + pemJSON + `}`},
		{"checkpoint-like body", string(cpLike)},
		{"CRLF body", "{\r\n\"envelope\":{},\r\n\"public_key\":" + pemJSON + "\r\n}\r\n"},
	} {
		post("attestation "+b.name, att, ctJSON, []byte(b.body), st(400))
	}
	post("attestation empty body", att, ctJSON, nil, st(400))
	post("attestation oversized", att, ctJSON, append([]byte(`{"envelope":"`), bytes.Repeat([]byte("a"), 4096)...), st(413))
	add(st(413), sweepCase{name: "attestation announces too much", method: http.MethodPost, path: att, contentType: ctJSON,
		contentLength: "4097", halfClose: true})
	add(st(400), sweepCase{name: "attestation truncated body", method: http.MethodPost, path: att, contentType: ctJSON,
		body: []byte(`{"envelope":`), contentLength: "1000", halfClose: true, reason: "couldn't read"})
	for _, q := range []string{"receipts=bogus", "wait=witnessed", "wait=bogus", "receipts=compact&receipts=full",
		"unknown=1", "receipts=compact&wait=witnessed", "receipts=%zz", "wait=logged%0A"} {
		post("attestation ?"+q, att+"?"+q, ctJSON, []byte(`{"envelope":{},"public_key":"x"}`), st(400))
	}

	// ---- POST /api/v1/decisions (and the other record endpoints) ----
	const dec = decisionsPath
	for _, p := range []string{dec, "/api/v1/access", "/api/v1/evaluations"} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"application/xml", "invalid;;", "application/ndjson", "application/jsonl"} {
			post(p+" Content-Type "+ct, p, ct, []byte(newRec), st(415))
		}
		for _, q := range []string{"receipts=bogus", "wait=witnessed", "wait=bogus", "receipts=compact&receipts=compact",
			"unknown=1", "receipts=%zz", "receipts=compact%00"} {
			post(p+" ?"+q, p+"?"+q, ctJSON, []byte(newRec), st(400))
		}
		// A decision record is no record of the other kinds.
		if p != dec {
			post(p+" decision record", p, ctJSON, []byte(newRec), st(400))
		}
	}
	// Wrong JSON types and bad values, field by field, as a single
	// record (400, no lines) and as line 2 of a batch (400 naming line 2).
	for _, m := range []struct{ name, field, value string }{
		{"system a number", "system", `1`},
		{"system null", "system", `null`},
		{"system an array", "system", `["a"]`},
		{"system an object", "system", `{}`},
		{"system empty", "system", `""`},
		{"system with NUL", "system", `"a\u0000b"`},
		{"system with LF", "system", `"a\nb"`},
		{"system 2^64", "system", `18446744073709551616`},
		{"decision_id a number", "decision_id", `-1`},
		{"time a number", "time", `1e3`},
		{"time not RFC 3339", "time", `"yesterday"`},
		{"time with leading zeros", "time", `"02026-11-27T08:00:00Z"`},
		{"model a string", "model", `"acme"`},
		{"model an array", "model", `[]`},
		{"model.name a number", "model", `{"name":1,"version":"1"}`},
		{"model.digest bad", "model", `{"name":"a","version":"1","digest":"sha256:00"}`},
		{"labels an array", "labels", `[]`},
		{"labels value a number", "labels", `{"a":1}`},
		{"commitments a string", "commitments", `"x"`},
		{"commitments.input a number", "commitments", `{"input":1,"output":"x"}`},
		{"commitments.input not a commitment", "commitments", `{"input":"sha256:zz","output":"sha256:zz"}`},
		{"unknown field", "extra", `1`},
	} {
		rec := sweepMutate(newRec, m.field, m.value)
		post("decision "+m.name, dec, ctJSON, []byte(rec), st(400))
		c := sweepCase{name: "decision batch " + m.name, method: http.MethodPost, path: dec, contentType: ctNDJSON,
			body: ndjson(decisionRecord("sweep-new", 2), rec), check: sweepWantLines(2)}
		add(st(400), c)
	}
	for _, b := range []struct{ name, body string }{
		{"array for object", "[" + newRec + "]"},
		{"number", "1"},
		{"null", "null"},
		{"string", `"x"`},
		{"empty object", "{}"},
		{"two records", newRec + "\n" + newRec},
		{"truncated JSON", newRec[:len(newRec)/2]},
		{"duplicate key", `{"system":"a",` + newRec[1:]},
		{"invalid UTF-8", strings.Replace(newRec, "sweep-new", "sweep-\xff", 1)},
		{"raw NUL", strings.Replace(newRec, "sweep-new", "sweep-\x00", 1)},
		{"lone surrogate", strings.Replace(newRec, "sweep-new", `sweep-\udc00`, 1)},
		{"checkpoint-like body", string(cpLike)},
	} {
		post("decision body "+b.name, dec, ctJSON, []byte(b.body), st(400))
	}
	post("decision empty body", dec, ctJSON, nil, st(400))
	post("decision whitespace body", dec, ctJSON, []byte(" \r\n"), st(400))
	post("decision oversized", dec, ctJSON, bytes.Repeat([]byte(" "), 16<<10+1), st(413))
	add(st(413), sweepCase{name: "decision announces too much", method: http.MethodPost, path: dec, contentType: ctJSON,
		contentLength: "16385", halfClose: true})
	add(st(400), sweepCase{name: "decision truncated body", method: http.MethodPost, path: dec, contentType: ctJSON,
		body: []byte(newRec[:40]), contentLength: "2000", halfClose: true, reason: "couldn't read"})

	// NDJSON batches.
	post("batch empty", dec, ctNDJSON, nil, st(400))
	post("batch blank lines only", dec, ctNDJSON, []byte("\n\r\n \n"), st(400))
	add(st(400), sweepCase{name: "batch array line", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: ndjson(decisionRecord("sweep-new", 3), "["+newRec+"]"), check: sweepWantLines(2)})
	add(st(400), sweepCase{name: "batch bare CR separators", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: []byte(decisionRecord("sweep-new", 4) + "\r" + decisionRecord("sweep-new", 5) + "\r"), check: sweepWantLines(1)})
	add(st(400), sweepCase{name: "batch CRLF with a bad line 3", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: []byte(decisionRecord("sweep-new", 6) + "\r\n\r\n{\"system\":1}\r\n"), check: sweepWantLines(3)})
	add(st(400), sweepCase{name: "batch NUL line", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: ndjson(decisionRecord("sweep-new", 7), "\x00"), check: sweepWantLines(2)})
	add(st(400), sweepCase{name: "batch invalid UTF-8 line", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: ndjson("\xff\xfe", decisionRecord("sweep-new", 8)), check: sweepWantLines(1)})
	add(st(400), sweepCase{name: "batch checkpoint-like body", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: cpLike, check: sweepWantLines(1, 2, 3, 5, 6)})
	add(st(400), sweepCase{name: "batch every line bad", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: ndjson("1", "[]", "null", `"x"`, "{}"), check: sweepWantLines(1, 2, 3, 4, 5)})
	post("batch oversized", dec, ctNDJSON, bytes.Repeat([]byte("\n"), 8193), st(413))
	add(st(413), sweepCase{name: "batch announces too much", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		contentLength: "8193", halfClose: true})
	add(st(400), sweepCase{name: "batch truncated body", method: http.MethodPost, path: dec, contentType: ctNDJSON,
		body: ndjson(decisionRecord("sweep-new", 9)), contentLength: "4000", halfClose: true, reason: "couldn't read"})
	// Accepted, documented (attest.ParseDecisions): CRLF line ends and
	// blank lines. The records are logged ones, so they come back as
	// duplicates and change nothing.
	crlf := []byte(strings.Join(recs, "\r\n") + "\r\n\r\n")
	add(st(200), sweepCase{name: "batch CRLF line endings (duplicates)", method: http.MethodPost, path: dec + "?receipts=compact",
		contentType: ctNDJSON, body: crlf, check: sweepWantDuplicates(len(recs))})
	add(st(200), sweepCase{name: "single record with CRLF (duplicate)", method: http.MethodPost, path: dec,
		contentType: ctJSON, body: []byte(single + "\r\n"), check: sweepWantDuplicates(1)})

	// ---- reads that ignore their query: accepted, documented ----
	for _, p := range []string{"/checkpoint?x=1&x=2", "/healthz?index=-1", "/metrics?%FF=%00", "/tile/0/000?size=18446744073709551616"} {
		get("ignored query "+p, p, st(200))
	}
	return cs
}

// sweepMutate sets field of the JSON object rec to the raw JSON value.
func sweepMutate(rec, field, value string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(rec), &m); err != nil {
		panic(err)
	}
	m[field] = json.RawMessage(value)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// chunk encodes b as one chunk and the last chunk.
func chunk(b []byte) []byte {
	return fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(b), b)
}

// sweepWantLines requires a batch error naming exactly lines.
func sweepWantLines(lines ...int) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		var e batchErrorBody
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("batch error: %v: %s", err, body)
			return
		}
		var got []int
		for _, l := range e.Lines {
			got = append(got, l.Line)
		}
		if !slices.Equal(got, lines) {
			t.Errorf("batch error names lines %v, want %v: %s", got, lines, body)
		}
	}
}

// sweepNoCORS requires an answer with an Allow header and no CORS grant.
func sweepNoCORS(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.Header.Get("Allow") == "" || len(body) != 0 {
		t.Errorf("OPTIONS: Allow %q, body %q", resp.Header.Get("Allow"), body)
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("BUG: OPTIONS grants CORS: %s: %s", k, resp.Header.Get(k))
		}
	}
}

// sweepWantDuplicates requires n receipts (JSON, or NDJSON lines), all
// duplicates.
func sweepWantDuplicates(n int) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
		if len(lines) != n {
			t.Errorf("%d receipts, want %d: %s", len(lines), n, body)
			return
		}
		for _, l := range lines {
			var r struct {
				Duplicate bool `json:"duplicate"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil || !r.Duplicate {
				t.Errorf("receipt %s: not a duplicate (%v)", l, err)
			}
		}
	}
}

// sweepSend writes c's request as is on a new connection and reads the
// answer.
func (ts *testServer) sweepSend(c sweepCase) (*http.Response, []byte, error) {
	addr := ts.Listener.Addr().String()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", c.method, c.path)
	host := c.host
	if host == "" {
		host = addr
	}
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	if c.contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", c.contentType)
	}
	for _, h := range c.header {
		fmt.Fprintf(&b, "%s\r\n", h)
	}
	switch {
	case c.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case c.contentLength == "none":
	case c.contentLength != "":
		fmt.Fprintf(&b, "Content-Length: %s\r\n", c.contentLength)
	case c.body != nil || c.method == http.MethodPost:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(c.body)
	// Written beside the read: the server may answer (413) before
	// reading a large body.
	go func() {
		conn.Write(b.Bytes())
		if c.halfClose {
			conn.(*net.TCPConn).CloseWrite()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: c.method})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// sweepCheck checks the answer to c: its status, and that an error has
// a one-line reason.
func sweepCheck(t *testing.T, c sweepCase, resp *http.Response, body []byte) {
	t.Helper()
	req := fmt.Sprintf("%s %q", c.method, sweepShort(c.path))
	code := resp.StatusCode
	if code >= 500 {
		t.Errorf("BUG: %s: %d %q, want %d…%d (never 5xx)", req, code, sweepShort(string(body)), c.lo, c.hi)
		return
	}
	if code < c.lo || code > c.hi {
		t.Errorf("%s: %d %q, want %d…%d", req, code, sweepShort(string(body)), c.lo, c.hi)
		return
	}
	if c.check != nil {
		c.check(t, resp, body)
	}
	if code < 400 || c.netHTTP {
		return
	}
	if c.method == http.MethodHead {
		if len(body) != 0 {
			t.Errorf("%s: HEAD answered a body %q", req, sweepShort(string(body)))
		}
		return
	}
	ct := resp.Header.Get("Content-Type")
	path := c.path
	if u, err := url.ParseRequestURI(c.path); err == nil {
		path = u.Path
	}
	if strings.HasPrefix(path, "/api/") {
		if !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: error with Content-Type %q: %q", req, ct, sweepShort(string(body)))
		}
		if !bytes.HasSuffix(body, []byte("\n")) || bytes.Count(body, []byte("\n")) != 1 {
			t.Errorf("BUG: %s: JSON error is not one line: %q", req, sweepShort(string(body)))
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Errorf("%s: error body is not a JSON object: %v: %q", req, err, sweepShort(string(body)))
			return
		}
		for k := range raw {
			if k != "error" && k != "lines" {
				t.Errorf("%s: error body has field %q: %q", req, k, sweepShort(string(body)))
			}
		}
		var e batchErrorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf(`%s: error body %q, want {"error":"…"} (%v)`, req, sweepShort(string(body)), err)
			return
		}
		if c.reason != "" && !strings.Contains(e.Error, c.reason) {
			t.Errorf("%s: reason %q does not say %q", req, sweepShort(e.Error), c.reason)
		}
		if _, batch := raw["lines"]; batch {
			if len(e.Lines) == 0 {
				t.Errorf("%s: batch error with no lines: %q", req, sweepShort(string(body)))
			}
			for _, l := range e.Lines {
				if l.Line < 1 || l.Reason == "" || strings.ContainsAny(l.Reason, "\r\n") {
					t.Errorf("BUG: %s: bad line entry %d %q", req, l.Line, l.Reason)
				}
			}
			return
		}
		if strings.ContainsAny(e.Error, "\r\n") {
			t.Errorf("BUG: %s: reason is not one line: %q", req, sweepShort(e.Error))
		}
		return
	}
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: error with Content-Type %q: %q", req, ct, sweepShort(string(body)))
	}
	if len(body) < 2 || !bytes.HasSuffix(body, []byte("\n")) || bytes.Count(body, []byte("\n")) != 1 || bytes.ContainsRune(body, '\r') {
		t.Errorf("BUG: %s: reason is not one line ending in one newline: %q", req, sweepShort(string(body)))
	}
	if c.reason != "" && !bytes.Contains(body, []byte(c.reason)) {
		t.Errorf("%s: reason %q does not say %q", req, sweepShort(string(body)), c.reason)
	}
}

// sweepShort shortens long paths and bodies for messages.
func sweepShort(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%s…(%d bytes)", s[:200], len(s))
	}
	return s
}
