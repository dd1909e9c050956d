package api

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// jsonError requires an error answer of the JSON API: a JSON content type
// and a body that is one line holding exactly {"error": "<reason>"}, with a
// non-empty one-line reason, which it returns.
func jsonError(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("%s: %d %s: a client's mistake must never be a 5xx", resp.Request.URL, resp.StatusCode, body)
	}
	if resp.StatusCode < 400 {
		t.Fatalf("%s: %d %s, want an error", resp.Request.URL, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error with Content-Type %q: %s", resp.Request.URL, ct, body)
	}
	if strings.Contains(strings.TrimSuffix(string(body), "\n"), "\n") {
		t.Fatalf("%s: error body is not one line: %q", resp.Request.URL, body)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("%s: error body is not JSON: %v: %q", resp.Request.URL, err, body)
	}
	msg, ok := obj["error"].(string)
	if !ok || len(obj) != 1 || msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf(`%s: error body %q, want {"error":"<one line>"}`, resp.Request.URL, body)
	}
	return msg
}

const (
	inclusionPath   = "/api/v1/proofs/inclusion"
	consistencyPath = "/api/v1/proofs/consistency"
	entriesPath     = "/api/v1/entries/"
)

// errorCase is one bad request: its path and query as sent, the status
// (or either of two), and a substring of the JSON reason.
type errorCase struct {
	name   string
	method string
	path   string
	status int
	alt    int // another acceptable status, or 0
	reason string
}

func (ts *testServer) runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	_, before := ts.checkpoint(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			resp, body := ts.do(t, method, tc.path, nil)
			if resp.StatusCode != tc.status && (tc.alt == 0 || resp.StatusCode != tc.alt) {
				t.Fatalf("%s %s: %d %s, want %d", method, tc.path, resp.StatusCode, body, tc.status)
			}
			if msg := jsonError(t, resp, body); !strings.Contains(msg, tc.reason) {
				t.Fatalf("%s %s: error %q does not say %q", method, tc.path, msg, tc.reason)
			}
			if _, after := ts.checkpoint(t); !bytes.Equal(after, before) {
				t.Fatalf("the checkpoint changed:\n%s\n%s", before, after)
			}
		})
	}
}

// Numbers that are not canonical decimals of a uint64.
var badNumbers = []struct{ value, reason string }{
	{"abc", "canonical"},
	{"-1", "canonical"},
	{"01", "canonical"},
	{"00", "canonical"},
	{"1e3", "canonical"},
	{"0x1", "canonical"},
	{"1.0", "canonical"},
	{"%2B1", "canonical"}, // "+1"
	{"+1", "canonical"},   // " 1": '+' in a query is a space
	{"1%20", "canonical"},
	{"1%00", "canonical"},
	{"%EF%BC%91", "canonical"}, // a fullwidth 1
	{"", "canonical"},
	{"18446744073709551616", "out of range"},
	{"99999999999999999999", "out of range"},
	{"123456789012345678901", "canonical"},
}

// Bad requests to the proof and entry endpoints get the right 4xx, one
// line of JSON with a reason, and change nothing: the checkpoint is byte
// for byte the same afterwards.
func TestProofErrors(t *testing.T) {
	ts := newServer(t, nil)
	var ref refTree
	for i := range 10 {
		e := testEntry(i)
		ts.add(t, e)
		ref.add(t, e)
	}
	known := ref.leaves[3]
	hexKnown := hex.EncodeToString(known[:])
	b64Known := url.QueryEscape(base64.StdEncoding.EncodeToString(known[:]))
	unknown := tlog.RecordHash([]byte("never logged"))
	// Base64 of 32 bytes whose last character has non-zero padding bits.
	nonCanonical := []byte(base64.StdEncoding.EncodeToString(known[:]))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	nonCanonical[42] = alphabet[strings.IndexByte(alphabet, nonCanonical[42])^1]

	cases := []errorCase{
		{"index = size", "", inclusionPath + "?index=10", 404, 0, "not in the tree"},
		{"index = given size", "", inclusionPath + "?index=5&size=5", 404, 0, "not in the tree"},
		{"index max uint64", "", inclusionPath + "?index=18446744073709551615", 404, 0, "not in the tree"},
		{"size beyond", "", inclusionPath + "?index=0&size=11", 404, 0, "beyond"},
		{"size max uint64", "", inclusionPath + "?index=0&size=18446744073709551615", 404, 0, "beyond"},
		{"size 0", "", inclusionPath + "?index=0&size=0", 400, 0, "at least 1"},
		{"inclusion without parameters", "", inclusionPath, 400, 0, "index"},
		{"inclusion with only size", "", inclusionPath + "?size=5", 400, 0, "index"},
		{"index and leaf_hash", "", inclusionPath + "?index=3&leaf_hash=" + hexKnown, 400, 0, "not both"},
		{"inclusion unknown parameter", "", inclusionPath + "?index=0&foo=1", 400, 0, "unknown parameter"},
		{"inclusion parameter of consistency", "", inclusionPath + "?index=0&new=5", 400, 0, "unknown parameter"},
		{"inclusion parameter in capitals", "", inclusionPath + "?Index=0", 400, 0, "unknown parameter"},
		{"inclusion empty parameter name", "", inclusionPath + "?index=0&=1", 400, 0, "unknown parameter"},
		{"index repeated", "", inclusionPath + "?index=0&index=0", 400, 0, "2 times"},
		{"size repeated", "", inclusionPath + "?index=0&size=5&size=5", 400, 0, "2 times"},
		{"leaf_hash repeated", "", inclusionPath + "?leaf_hash=" + hexKnown + "&leaf_hash=" + hexKnown, 400, 0, "2 times"},
		{"leaf_hash hex 31 bytes", "", inclusionPath + "?leaf_hash=" + hexKnown[:62], 400, 0, "SHA-256"},
		{"leaf_hash hex 33 bytes", "", inclusionPath + "?leaf_hash=" + hexKnown + "00", 400, 0, "SHA-256"},
		{"leaf_hash odd hex", "", inclusionPath + "?leaf_hash=" + hexKnown[:63], 400, 0, "SHA-256"},
		{"leaf_hash 0x hex", "", inclusionPath + "?leaf_hash=0x" + hexKnown, 400, 0, "SHA-256"},
		{"leaf_hash neither hex nor base64", "", inclusionPath + "?leaf_hash=" + strings.Repeat("g!", 32), 400, 0, "SHA-256"},
		{"leaf_hash base64 of 48 bytes", "", inclusionPath + "?leaf_hash=" + strings.Repeat("z", 64), 400, 0, "SHA-256"},
		{"leaf_hash base64 31 bytes", "", inclusionPath + "?leaf_hash=" + url.QueryEscape(base64.StdEncoding.EncodeToString(known[:31])), 400, 0, "SHA-256"},
		{"leaf_hash base64 33 bytes", "", inclusionPath + "?leaf_hash=" + url.QueryEscape(base64.StdEncoding.EncodeToString(append(known[:], 0))), 400, 0, "SHA-256"},
		{"leaf_hash non-canonical base64", "", inclusionPath + "?leaf_hash=" + url.QueryEscape(string(nonCanonical)), 400, 0, "SHA-256"},
		{"leaf_hash empty", "", inclusionPath + "?leaf_hash=", 400, 0, "SHA-256"},
		{"leaf_hash unknown hex", "", inclusionPath + "?leaf_hash=" + hex.EncodeToString(unknown[:]), 404, 0, "no entry"},
		{"leaf_hash unknown base64", "", inclusionPath + "?leaf_hash=" + url.QueryEscape(base64.StdEncoding.EncodeToString(unknown[:])), 404, 0, "no entry"},
		{"leaf_hash known base64 beyond size", "", inclusionPath + "?size=3&leaf_hash=" + b64Known, 404, 0, "not in the tree"},
		{"leaf_hash unknown with size", "", inclusionPath + "?size=3&leaf_hash=" + hex.EncodeToString(unknown[:]), 404, 0, "no entry"},

		{"old > new", "", consistencyPath + "?old=5&new=4", 400, 0, "larger"},
		{"old beyond the latest", "", consistencyPath + "?old=11", 400, 404, ""},
		{"old 0", "", consistencyPath + "?old=0&new=5", 400, 0, "at least 1"},
		{"old 0 alone", "", consistencyPath + "?old=0", 400, 0, "at least 1"},
		{"new 0", "", consistencyPath + "?old=1&new=0", 400, 0, "at least 1"},
		{"new beyond", "", consistencyPath + "?old=1&new=11", 404, 0, "beyond"},
		{"new max uint64", "", consistencyPath + "?old=1&new=18446744073709551615", 404, 0, "beyond"},
		{"consistency without parameters", "", consistencyPath, 400, 0, "old"},
		{"consistency with only new", "", consistencyPath + "?new=5", 400, 0, "old"},
		{"consistency unknown parameter", "", consistencyPath + "?old=1&size=5", 400, 0, "unknown parameter"},
		{"consistency parameter of inclusion", "", consistencyPath + "?old=1&index=0", 400, 0, "unknown parameter"},
		{"old repeated", "", consistencyPath + "?old=1&old=1", 400, 0, "2 times"},
		{"new repeated", "", consistencyPath + "?old=1&new=5&new=5", 400, 0, "2 times"},

		{"entry beyond", "", entriesPath + "10", 404, 0, ""},
		{"entry max uint64", "", entriesPath + "18446744073709551615", 404, 0, ""},
		{"tlog-proof beyond", "", entriesPath + "10/tlog-proof", 404, 0, ""},
		{"tlog-proof max uint64", "", entriesPath + "18446744073709551615/tlog-proof", 404, 0, ""},
		{"entry with no index", "", entriesPath, 400, 404, ""},
		{"entry subpath", "", entriesPath + "1/nope", 404, 0, ""},
		{"unknown proof", "", "/api/v1/proofs/nope", 404, 0, ""},
		{"POST inclusion", http.MethodPost, inclusionPath + "?index=0", 405, 0, ""},
		{"POST entry", http.MethodPost, entriesPath + "0", 405, 0, ""},
	}
	for _, bad := range badNumbers {
		v := bad.value
		cases = append(cases,
			errorCase{"index " + v, "", inclusionPath + "?index=" + v, 400, 0, bad.reason},
			errorCase{"size " + v, "", inclusionPath + "?index=0&size=" + v, 400, 0, bad.reason},
			errorCase{"size " + v + " with leaf_hash", "", inclusionPath + "?leaf_hash=" + hexKnown + "&size=" + v, 400, 0, bad.reason},
			errorCase{"old " + v, "", consistencyPath + "?old=" + v, 400, 0, bad.reason},
			errorCase{"new " + v, "", consistencyPath + "?old=1&new=" + v, 400, 0, bad.reason},
		)
		if v != "" {
			cases = append(cases,
				errorCase{"entry " + v, "", entriesPath + v, 400, 0, bad.reason},
				errorCase{"tlog-proof of entry " + v, "", entriesPath + v + "/tlog-proof", 400, 0, bad.reason},
			)
		}
	}
	size := ts.log.Published().Size
	ts.runErrorCases(t, cases)
	if got := ts.log.Published().Size; got != size {
		t.Fatalf("bad requests changed the size from %d to %d", size, got)
	}
}

// A query pair that does not parse (a bad %-escape, a ';' separator) is a
// bad request. It must not be dropped silently: without its size (or new)
// the request would be answered, 200, for the latest tree instead of the
// size asked for.
func TestProofMalformedQueryPairs(t *testing.T) {
	ts := newServer(t, nil)
	for i := range 10 {
		ts.add(t, testEntry(i))
	}
	leaf := tlog.RecordHash(testEntry(3))
	ts.runErrorCases(t, []errorCase{
		{"size with a bad escape", "", inclusionPath + "?index=0&size=%zz", 400, 0, ""},
		{"size with a semicolon", "", inclusionPath + "?index=0&size=5;x=1", 400, 0, ""},
		{"new with a bad escape", "", consistencyPath + "?old=1&new=%zz", 400, 0, ""},
		{"new with a semicolon", "", consistencyPath + "?old=1&new=5;x=1", 400, 0, ""},
		{"index with a bad escape beside leaf_hash", "", inclusionPath + "?leaf_hash=" + hex.EncodeToString(leaf[:]) + "&index=%zz", 400, 0, ""},
		{"index with a bad escape", "", inclusionPath + "?index=%zz", 400, 0, ""},
	})
}

// A log with no entries yet has no proofs: every proof and entry request
// is a 4xx (404 when well-formed), in JSON, and changes nothing.
func TestProofErrorsEmptyLog(t *testing.T) {
	ts := newServer(t, nil)
	leaf := tlog.RecordHash([]byte("never logged"))
	ts.runErrorCases(t, []errorCase{
		{"inclusion of 0", "", inclusionPath + "?index=0", 404, 0, ""},
		{"inclusion of 0 at size 1", "", inclusionPath + "?index=0&size=1", 404, 0, "beyond"},
		{"inclusion at size 0", "", inclusionPath + "?index=0&size=0", 400, 0, "at least 1"},
		{"inclusion by leaf hash", "", inclusionPath + "?leaf_hash=" + hex.EncodeToString(leaf[:]), 404, 0, ""},
		{"consistency from 1", "", consistencyPath + "?old=1", 404, 400, ""},
		{"consistency 1 to 1", "", consistencyPath + "?old=1&new=1", 404, 0, "beyond"},
		{"consistency from 0", "", consistencyPath + "?old=0", 400, 0, "at least 1"},
		{"entry 0", "", entriesPath + "0", 404, 0, ""},
		{"tlog-proof of 0", "", entriesPath + "0/tlog-proof", 404, 0, ""},
		{"entry abc", "", entriesPath + "abc", 400, 0, "canonical"},
	})
	if tree, _ := ts.checkpoint(t); tree.N != 0 {
		t.Fatalf("empty log has size %d", tree.N)
	}
}

// Random queries built from valid and invalid pieces never get a 5xx;
// every error is one line of JSON, and nothing changes.
func TestProofAPIRandomQueries(t *testing.T) {
	ts := newServer(t, nil)
	var ref refTree
	for i := range 5 {
		e := testEntry(i)
		ts.add(t, e)
		ref.add(t, e)
	}
	_, before := ts.checkpoint(t)
	names := []string{"index", "size", "old", "new", "leaf_hash", "foo", "", "index%00", "Size"}
	values := []string{"0", "1", "4", "5", "6", "-1", "01", "", "%", "%zz", "%00", "a", "18446744073709551615",
		"18446744073709551616", hex.EncodeToString(ref.leaves[2][:]), base64.StdEncoding.EncodeToString(ref.leaves[2][:]),
		"%F0%9F%92%A5", strings.Repeat("9", 300), ";", "&", "="}
	paths := []string{inclusionPath, consistencyPath, entriesPath + "%s", entriesPath + "%s/tlog-proof"}
	rng := rand.New(rand.NewPCG(7, 7))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	ok := 0
	for range 600 {
		path := pick(paths)
		if strings.Contains(path, "%s") {
			v := pick(values)
			if _, err := url.Parse(strings.Replace(path, "%s", v, 1)); err != nil {
				v = "x" // not even a URL: no request to send
			}
			path = strings.Replace(path, "%s", v, 1)
		} else {
			var q []string
			for range rng.IntN(4) {
				q = append(q, pick(names)+"="+pick(values))
			}
			path += "?" + strings.Join(q, pick([]string{"&", "&", ";"}))
		}
		resp, body := ts.do(t, http.MethodGet, path, nil)
		if resp.StatusCode == http.StatusOK {
			ok++
			continue
		}
		jsonError(t, resp, body)
	}
	t.Logf("%d of 600 random requests were valid", ok)
	if _, after := ts.checkpoint(t); !bytes.Equal(after, before) {
		t.Fatalf("the checkpoint changed:\n%s\n%s", before, after)
	}
}
