package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tlogai/tlog/attest"
)

const decisionsPath = "/api/v1/decisions"

// One decision record as application/json is logged with a full receipt
// whose entry is the record's canonical decision/v1 JSON; resubmitting it
// is a duplicate of the same index.
func TestDecisionSingle(t *testing.T) {
	ts := newAIServer(t, nil)
	rc := newReceiptChecker(t, ts)
	rec := decisionRecord("kyc-screening", 1)
	// Pretty-printed, with surrounding whitespace: the entry is canonical
	// all the same.
	var v any
	if err := json.Unmarshal([]byte(rec), &v); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	resp, body := ts.post(t, decisionsPath, "application/json", append(append([]byte("\n "), pretty...), "\n\n"...))
	r := receiptOK(t, resp, body)
	if r.Index != 0 || r.Duplicate || ts.size() != 1 {
		t.Fatalf("index %d duplicate %v size %d", r.Index, r.Duplicate, ts.size())
	}
	rc.check(t, r, nil)
	var e decisionEntry
	dec := json.NewDecoder(bytes.NewReader(r.Entry))
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != "decision/v1" || e.System != "kyc-screening" || e.DecisionID != "d-1" || e.Model.Name != "acme/chat-kyc-screening" ||
		e.Commitments.Input != commitment(fmt.Sprint("in", "kyc-screening", 1)) {
		t.Fatalf("entry %s", r.Entry)
	}
	if bytes.ContainsAny(r.Entry, " \n") {
		t.Fatalf("entry is not compact canonical JSON: %s", r.Entry)
	}
	// The same record compact and without Content-Type: a duplicate.
	resp, body = ts.post(t, decisionsPath, "", []byte(rec))
	dup := receiptOK(t, resp, body)
	if !dup.Duplicate || dup.Index != r.Index || !bytes.Equal(dup.Entry, r.Entry) {
		t.Fatalf("resubmission: index %d duplicate %v", dup.Index, dup.Duplicate)
	}
	rc.check(t, dup, r.Entry)
	if ts.size() != 1 {
		t.Fatalf("size %d after a duplicate", ts.size())
	}
	// A single record with "labels" and an optional model digest is
	// indexed under the digest too.
	digest := commitment("model weights")
	withDigest := strings.Replace(decisionRecord("kyc-screening", 2), `"version":"1.2"`, `"version":"1.2","digest":"`+digest+`"`, 1)
	resp, body = ts.post(t, decisionsPath, "application/json", []byte(withDigest))
	r2 := receiptOK(t, resp, body)
	rc.check(t, r2, nil)
	if idx := ts.searchAll(t, "digest", digest); !slices.Equal(idx, []uint64{r2.Index}) {
		t.Fatalf("search by model digest: %v", idx)
	}
	if idx := ts.searchAll(t, "system", "kyc-screening"); !slices.Equal(idx, []uint64{r2.Index, r.Index}) {
		t.Fatalf("search by system: %v", idx)
	}
}

// A bulk of 500 NDJSON records is logged at once: one receipt per line in
// input order, distinct and provable indices; compact receipts carry only
// index and leaf hash; resubmitting the bulk gives the same indices as
// duplicates; a bulk mixing new and logged records logs only the new ones;
// search by system and model finds them newest first.
func TestDecisionBulk(t *testing.T) {
	ts := newAIServer(t, nil)
	rc := newReceiptChecker(t, ts)
	const n = 500
	recs := make([]string, n)
	entries := make([][]byte, n)
	for i := range recs {
		system := []string{"support-bot", "kyc-screening"}[i%2]
		recs[i] = decisionRecord(system, i)
		d, entry, err := attest.ParseDecision([]byte(recs[i]))
		if err != nil || d.System != system {
			t.Fatal(err)
		}
		entries[i] = entry
	}
	body := ndjson(recs...)
	resp, rb := ts.post(t, decisionsPath, "application/x-ndjson", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bulk: %d %s", resp.StatusCode, rb)
	}
	rs := ndjsonReceipts(t, resp, rb, fullReceiptFields)
	if len(rs) != n {
		t.Fatalf("%d receipts for %d records", len(rs), n)
	}
	index := map[uint64]int{}
	for i, r := range rs {
		if r.Duplicate {
			t.Fatalf("line %d: duplicate on a new log", i+1)
		}
		if j, ok := index[r.Index]; ok {
			t.Fatalf("lines %d and %d share index %d", j+1, i+1, r.Index)
		}
		index[r.Index] = i
		rc.check(t, r, entries[i]) // input order: receipt i is record i
		if r.Index >= ts.size() {
			t.Fatalf("index %d beyond size %d", r.Index, ts.size())
		}
	}
	if ts.size() != n {
		t.Fatalf("size %d after %d new records", ts.size(), n)
	}
	// Every entry is readable at its index.
	for _, i := range []int{0, 1, n / 2, n - 1} {
		var got wireEntry
		ts.getJSON(t, fmt.Sprintf("/api/v1/entries/%d", rs[i].Index), &got, aiEntryFields)
		if !bytes.Equal(got.Entry, entries[i]) {
			t.Fatalf("entry at index %d is not record %d", rs[i].Index, i)
		}
		if !bytes.Equal(got.Record, entries[i]) {
			t.Fatalf("entry at index %d: record %s, want the entry as JSON", rs[i].Index, got.Record)
		}
	}

	// Compact receipts of the same bulk: duplicates, same indices, only
	// index, leaf_hash and duplicate.
	resp, rb = ts.post(t, decisionsPath+"?receipts=compact", "application/x-ndjson", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("compact bulk: %d %s", resp.StatusCode, rb)
	}
	compact := ndjsonReceipts(t, resp, rb, compactReceiptFields)
	if len(compact) != n {
		t.Fatalf("%d compact receipts", len(compact))
	}
	for i, c := range compact {
		leaf := leafHash(entries[i])
		if !c.Duplicate || c.Index != rs[i].Index || !bytes.Equal(c.LeafHash, leaf[:]) {
			t.Fatalf("compact line %d: index %d duplicate %v leaf %x; want index %d duplicate, leaf %x", i+1, c.Index, c.Duplicate, c.LeafHash, rs[i].Index, leaf)
		}
	}
	// Full receipts of the resubmission: duplicates with the same indices.
	resp, rb = ts.post(t, decisionsPath+"?receipts=full&wait=logged", "application/x-ndjson", body)
	for i, r := range ndjsonReceipts(t, resp, rb, fullReceiptFields) {
		if !r.Duplicate || r.Index != rs[i].Index {
			t.Fatalf("resubmitted line %d: index %d duplicate %v, want %d", i+1, r.Index, r.Duplicate, rs[i].Index)
		}
	}
	if ts.size() != n {
		t.Fatalf("size %d after resubmission", ts.size())
	}

	// A mixed bulk: new records interleaved with logged ones, and one new
	// record twice (CRLF line ends and blank lines allowed).
	var mixed []string
	var want []int // index into rs for logged records, -1 for new ones
	for i := 0; i < 40; i++ {
		if i%2 == 0 {
			mixed = append(mixed, recs[i*5])
			want = append(want, i*5)
		} else {
			mixed = append(mixed, decisionRecord("support-bot", n+i))
			want = append(want, -1)
		}
	}
	mixed = append(mixed, mixed[1])
	want = append(want, -2)
	mixedBody := []byte(strings.Join(mixed, "\r\n") + "\r\n\r\n")
	resp, rb = ts.post(t, decisionsPath, "application/x-ndjson; charset=utf-8", mixedBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mixed bulk: %d %s", resp.StatusCode, rb)
	}
	mr := ndjsonReceipts(t, resp, rb, fullReceiptFields)
	if len(mr) != len(mixed) {
		t.Fatalf("%d receipts for %d records", len(mr), len(mixed))
	}
	next := uint64(n)
	for i, r := range mr {
		rc.check(t, r, nil)
		switch w := want[i]; {
		case w >= 0:
			if !r.Duplicate || r.Index != rs[w].Index {
				t.Fatalf("mixed line %d (logged record %d): index %d duplicate %v", i+1, w, r.Index, r.Duplicate)
			}
		case w == -1:
			// New records get fresh indices, in input order.
			if r.Duplicate || r.Index != next {
				t.Fatalf("mixed line %d (new): index %d duplicate %v, want %d", i+1, r.Index, r.Duplicate, next)
			}
			next++
		default:
			if !r.Duplicate || r.Index != mr[1].Index {
				t.Fatalf("repeated line: index %d duplicate %v, want %d", r.Index, r.Duplicate, mr[1].Index)
			}
		}
	}
	if ts.size() != next {
		t.Fatalf("size %d, want %d", ts.size(), next)
	}

	// Search: each system's records, newest first.
	bySystem := map[string][]uint64{}
	for i, r := range rs {
		s := []string{"support-bot", "kyc-screening"}[i%2]
		bySystem[s] = append(bySystem[s], r.Index)
	}
	for i, r := range mr {
		if want[i] == -1 {
			bySystem["support-bot"] = append(bySystem["support-bot"], r.Index)
		}
	}
	for system, idx := range bySystem {
		slices.Sort(idx)
		slices.Reverse(idx)
		if got := ts.searchAll(t, "system", system); !slices.Equal(got, idx) {
			t.Fatalf("search system=%s: %d results, want %d newest first", system, len(got), len(idx))
		}
		if got := ts.searchAll(t, "model", "acme/chat-"+system); !slices.Equal(got, idx) {
			t.Fatalf("search model=acme/chat-%s: %d results, want %d", system, len(got), len(idx))
		}
		// The default limit is 100.
		if page, next := ts.searchPage(t, "system="+system); !slices.Equal(page, idx[:100]) || next == nil || *next != fmt.Sprint(idx[99]) {
			t.Fatalf("search system=%s without a limit: %d results, next %v", system, len(page), next)
		}
	}
	if got := ts.searchAll(t, "system", "no-such-system"); len(got) != 0 {
		t.Fatalf("unknown system found %v", got)
	}
}

// Bad submissions of decisions are 4xx with a JSON reason, nothing of
// them is logged, and nothing becomes searchable.
func TestDecisionRejections(t *testing.T) {
	const limit = 64 << 10
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.DecisionBodyLimit = limit })
	// A logged record first, so that "unchanged" is not trivially zero.
	resp, body := ts.post(t, decisionsPath, "application/json", []byte(decisionRecord("logged-system", 0)))
	receiptOK(t, resp, body)
	size := ts.size()

	const system = "rejected-system"
	good := func(i int) string { return decisionRecord(system, i) }
	replace := func(old, new string) string {
		s := good(0)
		if !strings.Contains(s, old) {
			t.Fatalf("record lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	var hundred []string
	for i := 0; i < 100; i++ {
		hundred = append(hundred, good(i))
	}
	// Line 57 of 101 is bad (the record without its system).
	oneBad := slices.Insert(slices.Clone(hundred), 56, replace(`"system":"rejected-system",`, ""))
	// Line 3 and line 5 bad, with a blank line 4 that still counts.
	twoBad := []string{good(1), good(2), replace(`"time":"2026-11-27T08:00:00.123Z"`, `"time":"yesterday"`), "", `{"system":`, good(3)}
	tooMany := make([]string, attest.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = `{}`
	}
	// A line longer than MaxDecisionSize: whitespace padding inside the
	// object keeps it otherwise valid.
	long := strings.Replace(good(7), `{"system"`, "{"+strings.Repeat(" ", attest.MaxDecisionSize)+`"system"`, 1)

	cases := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		status      int
		reason      string
		lines       []int // the lines "lines" must name, if any
	}{
		{"missing system", "", "application/json", []byte(replace(`"system":"rejected-system",`, "")), 400, "system is required", nil},
		{"missing commitments.output", "", "application/json", []byte(replace(`,"output":"`+commitment(fmt.Sprint("out", system, 0))+`"`, "")), 400, "commitments.output is required", nil},
		{"missing time", "", "application/json", []byte(replace(`"time":"2026-11-27T08:00:00.123Z",`, "")), 400, "time is required", nil},
		{"bad commitment", "", "application/json", []byte(replace(commitment(fmt.Sprint("in", system, 0)), "sha256:XYZ")), 400, "commitments.input", nil},
		{"uppercase commitment", "", "application/json", []byte(replace(commitment(fmt.Sprint("in", system, 0)), strings.ToUpper(commitment(fmt.Sprint("in", system, 0))))), 400, "commitments.input", nil},
		{"bad time", "", "application/json", []byte(replace(`"2026-11-27T08:00:00.123Z"`, `"2026-13-27 08:00"`)), 400, "RFC 3339", nil},
		{"unknown field", "", "application/json", []byte(replace(`"outcome":"answered"`, `"outcome":"answered","name":"Jane Doe"`)), 400, `unknown field "name"`, nil},
		{"null field", "", "application/json", []byte(replace(`"outcome":"answered"`, `"outcome":null`)), 400, "outcome", nil},
		{"two records as application/json", "", "application/json", ndjson(good(1), good(2)), 400, "trailing data", nil},
		{"not JSON", "", "application/json", []byte("hello"), 400, "not a decision JSON object", nil},
		// JSON whitespace only (as in NDJSON), not Unicode spaces.
		{"no-break space before the record", "", "application/json", []byte("\u00a0" + good(4)), 400, "not a decision JSON object", nil},
		{"no-break space after the record", "", "application/json", []byte(good(4) + "\u00a0"), 400, "trailing data", nil},
		{"single record too long", "", "application/json", []byte(long), 413, fmt.Sprintf("at most %d bytes", attest.MaxDecisionSize), nil},
		{"NDJSON line too long", "", "application/x-ndjson", ndjson(good(1), long, good(2)), 400, "longer than the limit", []int{2}},
		{"NDJSON missing field", "", "application/x-ndjson", ndjson(replace(`"decision_id":"d-0",`, "")), 400, "decision_id is required", []int{1}},
		{"10,001 lines", "", "application/x-ndjson", ndjson(tooMany...), 400, fmt.Sprintf("at most %d", attest.MaxBatch), nil},
		{"one bad line among 100", "", "application/x-ndjson", ndjson(oneBad...), 400, "1 of 101 records rejected", []int{57}},
		{"two bad lines and a blank", "", "application/x-ndjson", ndjson(twoBad...), 400, "2 of 5 records rejected", []int{3, 5}},
		{"only blank lines", "", "application/x-ndjson", []byte("\n\n  \n"), 400, "no records", nil},
		{"empty body", "", "application/x-ndjson", nil, 400, "empty body", nil},
		{"empty single", "", "application/json", nil, 400, "empty body", nil},
		{"body over DecisionBodyLimit", "", "application/x-ndjson", bytes.Repeat([]byte(good(1)+"\n"), limit/len(good(1))+1), 413, fmt.Sprintf("at most %d bytes", limit), nil},
		{"wrong Content-Type", "", "text/plain", []byte(good(1)), 415, "want application/json or application/x-ndjson", nil},
		{"form Content-Type", "", "application/x-www-form-urlencoded", []byte(good(1)), 415, "Content-Type", nil},
		{"wait=bogus", "?wait=bogus", "application/json", []byte(good(1)), 400, "wait", nil},
		{"receipts=bogus", "?receipts=bogus", "application/json", []byte(good(1)), 400, "receipts", nil},
		{"unknown parameter", "?pretty=1", "application/json", []byte(good(1)), 400, `unknown parameter "pretty"`, nil},
		{"repeated parameter", "?receipts=full&receipts=full", "application/json", []byte(good(1)), 400, "given 2 times", nil},
		{"wait=witnessed without a witness policy", "?wait=witnessed", "application/x-ndjson", ndjson(good(1)), 400, "no witness policy", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.post(t, decisionsPath+tc.path, tc.contentType, tc.body)
			e := apiError(t, resp, body, tc.status, tc.reason)
			if tc.lines != nil {
				var got []int
				for _, l := range e.Lines {
					got = append(got, l.Line)
					if l.Reason == "" || strings.HasPrefix(l.Reason, "invalid") {
						t.Errorf("line %d reason %q", l.Line, l.Reason)
					}
				}
				if !slices.Equal(got, tc.lines) {
					t.Fatalf("lines %v, want %v: %s", got, tc.lines, body)
				}
			}
			if ts.size() != size {
				t.Fatalf("tree size %d → %d", size, ts.size())
			}
			for _, f := range []string{"system=" + system, "model=acme/chat-" + system} {
				if idx, _ := ts.searchPage(t, f); len(idx) != 0 {
					t.Fatalf("rejected records are searchable by %s: %v", f, idx)
				}
			}
		})
	}
	// Exactly MaxDecisionSize bytes is still a record.
	pad := attest.MaxDecisionSize - len(good(8))
	exact := strings.Replace(good(8), `{"system"`, "{"+strings.Repeat(" ", pad)+`"system"`, 1)
	if len(exact) != attest.MaxDecisionSize {
		t.Fatalf("record of %d bytes", len(exact))
	}
	resp, body = ts.post(t, decisionsPath, "application/x-ndjson", ndjson(exact))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("record of exactly %d bytes: %d %s", attest.MaxDecisionSize, resp.StatusCode, body)
	}
}

// While AddGate refuses (the log waits for its witnesses), submissions are
// 503 with Retry-After and log nothing; a closed log answers 503 too.
func TestSubmissionsGatedAndClosed(t *testing.T) {
	var gated atomic.Bool
	gated.Store(true)
	ts := newAIServer(t, func(_ *testServer, c *Config) {
		c.AddGate = func() error {
			if gated.Load() {
				return ErrWaitingForWitnesses
			}
			return nil
		}
	})
	k := newTestKey(t, "ed25519")
	att := submission(t, k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/gated"))), k.pem)
	for _, tc := range []struct{ path, ct string }{
		{attestationsPath, "application/json"},
		{decisionsPath, "application/json"},
		{decisionsPath, "application/x-ndjson"},
	} {
		body := att
		if tc.path == decisionsPath {
			body = ndjson(decisionRecord("gated", 1))
		}
		resp, rb := ts.post(t, tc.path, tc.ct, body)
		apiError(t, resp, rb, http.StatusServiceUnavailable, "waiting for its witnesses")
		if resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After", tc.path)
		}
	}
	if ts.size() != 0 {
		t.Fatalf("gated submissions logged %d entries", ts.size())
	}
	gated.Store(false)
	resp, rb := ts.post(t, attestationsPath, "application/json", att)
	receiptOK(t, resp, rb)
	resp, rb = ts.post(t, decisionsPath, "application/json", []byte(decisionRecord("gated", 1)))
	receiptOK(t, resp, rb)

	ts.log.Close()
	resp, rb = ts.post(t, decisionsPath, "application/json", []byte(decisionRecord("gated", 2)))
	apiError(t, resp, rb, http.StatusServiceUnavailable, "shutting down")
	resp, rb = ts.do(t, http.MethodGet, searchPath+"?system=gated", nil)
	apiError(t, resp, rb, http.StatusServiceUnavailable, "shutting down")
}

// attest.MaxBatch records in one request are taken (compact receipts, one
// per line, indices 0…MaxBatch-1 in input order); one more is refused
// whole with the limit in the reason, and logs nothing.
func TestDecisionMaxBatch(t *testing.T) {
	ts := newAIServer(t, nil)
	recs := make([]string, attest.MaxBatch+1)
	for i := range recs {
		recs[i] = decisionRecord(fmt.Sprintf("batch-%d", i%3), i)
	}
	resp, body := ts.post(t, decisionsPath+"?receipts=compact", "application/x-ndjson", ndjson(recs...))
	apiError(t, resp, body, http.StatusBadRequest, fmt.Sprintf("%d records in one request, at most %d", attest.MaxBatch+1, attest.MaxBatch))
	if ts.size() != 0 {
		t.Fatalf("size %d after a refused batch", ts.size())
	}
	// Blank lines do not count as records.
	full := append(ndjson(recs[:attest.MaxBatch]...), "\n\n\n"...)
	resp, body = ts.post(t, decisionsPath+"?receipts=compact", "application/x-ndjson", full)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d records: %d %s", attest.MaxBatch, resp.StatusCode, body)
	}
	rs := ndjsonReceipts(t, resp, body, compactReceiptFields)
	if len(rs) != attest.MaxBatch || ts.size() != attest.MaxBatch {
		t.Fatalf("%d receipts, size %d", len(rs), ts.size())
	}
	for i, r := range rs {
		_, entry, err := attest.ParseDecision([]byte(recs[i]))
		if err != nil {
			t.Fatal(err)
		}
		if leaf := leafHash(entry); r.Index != uint64(i) || r.Duplicate || !bytes.Equal(r.LeafHash, leaf[:]) {
			t.Fatalf("line %d: index %d duplicate %v leaf %x", i+1, r.Index, r.Duplicate, r.LeafHash)
		}
	}
}
