package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/attest"
)

const (
	accessPath      = "/api/v1/access"
	evaluationsPath = "/api/v1/evaluations"
)

// accessRecord is a valid access record of system; the actor's id is a
// commitment for odd ids (a person whose name is personal data).
func accessRecord(system string, id int) string {
	actor := fmt.Sprintf(`{"type":"service","id":"svc-%d"}`, id%3)
	if id%2 == 1 {
		actor = fmt.Sprintf(`{"type":"person","id":%q}`, commitment(fmt.Sprint("analyst", id%5)))
	}
	return fmt.Sprintf(`{"system":%q,"event_id":"a-%d","time":"2026-11-27T08:00:%02d.5Z","actor":%s,"action":"read","resource":{"type":"customer-file","id":%q},"records":[%q],"purpose":"kyc-review","legal_basis":"GDPR Art. 6(1)(c)","decision":{"decision_id":"d-%d"},"labels":{"region":"eu"}}`,
		system, id, id%60, actor, commitment(fmt.Sprint("customer", id%7)), commitment(fmt.Sprint("file", system, id)), id)
}

// evaluationRecord is a valid evaluation record of system.
func evaluationRecord(system string, id int) string {
	return fmt.Sprintf(`{"system":%q,"evaluation_id":"ev-%d","time":"2026-11-20T10:00:%02dZ","model":{"name":"acme/triage-%s","version":"4.%d","digest":%q},"dataset":{"name":"holdout","commitment":%q},"metrics":{"auroc":0.912,"sensitivity":0.87,"n":12480,"tiny":1e-7,"big":1E21,"neg":-0.0},"evaluator":"acme-qa"}`,
		system, id, id%60, system, id, commitment("weights"+system), commitment(fmt.Sprint("data", id)))
}

type recordCase struct {
	name, path string
	record     func(system string, id int) string
	parse      attest.RecordParser
}

var recordCases = []recordCase{
	{"access", accessPath, accessRecord, attest.ParseAccessEntry},
	{"evaluation", evaluationsPath, evaluationRecord, attest.ParseEvaluationEntry},
}

// One record as application/json gets a full receipt whose entry is the
// record's canonical entry, proven against the signed checkpoint; again,
// a duplicate of the same index; an NDJSON bulk (full, then compact
// receipts) is logged in input order and every receipt proves.
func TestRecordsSingleAndBulk(t *testing.T) {
	for _, k := range recordCases {
		t.Run(k.name, func(t *testing.T) {
			ts := newAIServer(t, nil)
			rc := newReceiptChecker(t, ts)
			rec := k.record("kyc", 1)
			want, err := k.parse([]byte(rec))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			json.Unmarshal([]byte(rec), &v)
			pretty, _ := json.MarshalIndent(v, "", "  ")
			resp, body := ts.post(t, k.path, "application/json", append(append([]byte("\n "), pretty...), '\n'))
			r := receiptOK(t, resp, body)
			if r.Index != 0 || r.Duplicate || !bytes.Equal(r.Entry, want.Entry) {
				t.Fatalf("index %d duplicate %v entry %s, want %s", r.Index, r.Duplicate, r.Entry, want.Entry)
			}
			rc.check(t, r, want.Entry)
			if !bytes.Contains(r.Entry, []byte(`"kind":"`+attest.KindOf(r.Entry)+`"`)) || attest.KindOf(r.Entry) == "" {
				t.Fatalf("entry %s has no record kind", r.Entry)
			}
			resp, body = ts.post(t, k.path, "", []byte(rec))
			dup := receiptOK(t, resp, body)
			if !dup.Duplicate || dup.Index != 0 || ts.size() != 1 {
				t.Fatalf("resubmission: index %d duplicate %v size %d", dup.Index, dup.Duplicate, ts.size())
			}
			rc.check(t, dup, want.Entry)
			var got wireEntry
			ts.getJSON(t, "/api/v1/entries/0", &got, aiEntryFields)
			if !bytes.Equal(got.Record, want.Entry) {
				t.Fatalf("GET entry: record %s", got.Record)
			}

			const n = 300
			recs := make([]string, n)
			entries := make([][]byte, n)
			for i := range recs {
				recs[i] = k.record([]string{"kyc", "clinic"}[i%2], 10+i)
				e, err := k.parse([]byte(recs[i]))
				if err != nil {
					t.Fatal(err)
				}
				entries[i] = e.Entry
			}
			resp, body = ts.post(t, k.path, "application/x-ndjson", ndjson(recs...))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("bulk: %d %s", resp.StatusCode, body)
			}
			rs := ndjsonReceipts(t, resp, body, fullReceiptFields)
			if len(rs) != n {
				t.Fatalf("%d receipts", len(rs))
			}
			for i, r := range rs {
				if r.Duplicate || r.Index != uint64(1+i) {
					t.Fatalf("line %d: index %d duplicate %v", i+1, r.Index, r.Duplicate)
				}
				rc.check(t, r, entries[i])
			}
			resp, body = ts.post(t, k.path+"?receipts=compact", "application/x-ndjson", ndjson(recs...))
			for i, c := range ndjsonReceipts(t, resp, body, compactReceiptFields) {
				leaf := leafHash(entries[i])
				if !c.Duplicate || c.Index != rs[i].Index || !bytes.Equal(c.LeafHash, leaf[:]) {
					t.Fatalf("compact line %d: %+v", i+1, c)
				}
			}
			if ts.size() != n+1 {
				t.Fatalf("size %d", ts.size())
			}
			// Metrics count the new records of the kind.
			_, m := ts.do(t, http.MethodGet, "/metrics", nil)
			metric := map[string]string{"access": "tlog_access_logged_total", "evaluation": "tlog_evaluations_logged_total"}[k.name]
			if !bytes.Contains(m, []byte(fmt.Sprintf("\n%s %d\n", metric, n+1))) {
				t.Fatalf("metrics lack %s %d:\n%s", metric, n+1, m)
			}
		})
	}
}

// Search by each field the new kinds index, with and without kind=, and
// fields a kind does not index refused.
func TestRecordsSearch(t *testing.T) {
	ts := newAIServer(t, nil)
	post := func(path, rec string) uint64 {
		t.Helper()
		resp, body := ts.post(t, path, "application/json", []byte(rec))
		return receiptOK(t, resp, body).Index
	}
	d := post(decisionsPath, decisionRecord("kyc", 1))
	a1 := post(accessPath, accessRecord("kyc", 1))  // person, committed id
	a2 := post(accessPath, accessRecord("kyc", 2))  // service svc-2
	a3 := post(accessPath, accessRecord("kyc", 11)) // the same person as 1 (11%5 == 1)
	e1 := post(evaluationsPath, evaluationRecord("kyc", 1))
	e2 := post(evaluationsPath, evaluationRecord("kyc", 2))
	person := commitment(fmt.Sprint("analyst", 1))
	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"actor=" + person, []uint64{a3, a1}},
		{"actor=" + person + "&kind=access/v1", []uint64{a3, a1}},
		{"actor=svc-2", []uint64{a2}},
		{"actor=nobody", nil},
		{"resource=" + commitment("customer1"), []uint64{a1}},
		{"resource=" + commitment("customer2") + "&kind=access/v1", []uint64{a2}},
		{"purpose=kyc-review", []uint64{a3, a2, a1}},
		{"purpose=kyc-review&limit=2", []uint64{a3, a2}},
		{"purpose=kyc-review&cursor=" + fmt.Sprint(a2), []uint64{a1}},
		{"event=a-2", []uint64{a2}},
		{"event=ev-2", []uint64{e2}},
		{"event=ev-1&kind=evaluation/v1", []uint64{e1}},
		{"event=ev-1&kind=access/v1", nil},
		{"system=kyc", []uint64{e2, e1, a3, a2, a1, d}},
		{"system=kyc&kind=access/v1", []uint64{a3, a2, a1}},
		{"system=kyc&kind=evaluation/v1", []uint64{e2, e1}},
		{"system=kyc&kind=decision/v1", []uint64{d}},
		{"model=acme/triage-kyc", []uint64{e2, e1}},
		{"model=acme/triage-kyc&kind=evaluation/v1", []uint64{e2, e1}},
		{"digest=" + commitment("weightskyc"), []uint64{e2, e1}},
		{"digest=" + commitment("weightskyc") + "&kind=evaluation/v1", []uint64{e2, e1}},
	} {
		got, _ := ts.searchPage(t, tc.query)
		if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("search %s: %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, tc := range []struct{ query, reason string }{
		{"actor=x&kind=decision/v1", "not indexed by actor"},
		{"actor=x&kind=evaluation/v1", "not indexed by actor"},
		{"purpose=x&kind=model-release/v1", "not indexed by purpose"},
		{"resource=x&kind=evaluation/v1", "not indexed by resource"},
		{"event=x&kind=decision/v1", "not indexed by event"},
		{"signer=sha256:" + strings.Repeat("0", 64) + "&kind=access/v1", "not indexed by signer"},
		{"actor=x&purpose=y", "give one of"},
		{"actor=", "actor: want 1…"},
		{"event=" + strings.Repeat("x", 5000), "event: want 1…"},
		{"purpose=x&kind=access/v2", "kind: want one of"},
	} {
		resp, body := ts.do(t, http.MethodGet, searchPath+"?"+tc.query, nil)
		apiError(t, resp, body, http.StatusBadRequest, tc.reason)
	}
}

// Writers: kinds=access and kinds=evaluation, and systems= scopes that
// apply to both; a systems= scope without kinds= covers them too.
func TestRecordsWriterScopes(t *testing.T) {
	tokAccess := strings.Repeat("d", 43)
	tokEval := strings.Repeat("e", 43)
	tokScoped := strings.Repeat("f", 43)
	ts := newAIServer(t, func(_ *testServer, c *Config) {
		c.Writers = testWriters(t,
			"auditor "+tokAccess+" kinds=access systems=kyc",
			"qa "+tokEval+" kinds=evaluation",
			"scoped "+tokScoped+" systems=clinic-*")
	})
	for _, tc := range []struct {
		path, tok, body, ct string
		status              int
		reason              string
	}{
		{accessPath, "", accessRecord("kyc", 1), "application/json", 401, "Bearer"},
		{accessPath, tokAccess, accessRecord("kyc", 1), "application/json", 200, ""},
		{accessPath, tokAccess, accessRecord("loan-eu", 1), "application/json", 403, `system "loan-eu"`},
		{accessPath, tokAccess, string(ndjson(accessRecord("kyc", 2), accessRecord("other", 3))), "application/x-ndjson", 403, "record 2"},
		{evaluationsPath, tokAccess, evaluationRecord("kyc", 1), "application/json", 403, "may not log evaluation entries"},
		{decisionsPath, tokAccess, decisionRecord("kyc", 1), "application/json", 403, "may not log decision entries"},
		{evaluationsPath, tokEval, evaluationRecord("any", 1), "application/json", 200, ""},
		{accessPath, tokEval, accessRecord("any", 1), "application/json", 403, "may not log access entries"},
		{accessPath, tokLoans, accessRecord("kyc", 5), "application/json", 403, "may not log access entries"},
		{accessPath, tokScoped, accessRecord("clinic-a", 1), "application/json", 200, ""},
		{evaluationsPath, tokScoped, evaluationRecord("clinic-a", 1), "application/json", 200, ""},
		{evaluationsPath, tokScoped, evaluationRecord("kyc", 1), "application/json", 403, `system "kyc"`},
		{"/add", tokScoped, "raw", "application/octet-stream", 403, "may not log raw"},
		{accessPath, tokAll, accessRecord("whatever", 1), "application/json", 200, ""},
	} {
		var h []string
		if tc.tok != "" {
			h = bearer(tc.tok)
		}
		size := ts.size()
		resp, body := ts.send(t, tc.path, tc.ct, []byte(tc.body), h...)
		if tc.status == 200 {
			receiptOK(t, resp, body)
			continue
		}
		if tc.path == "/add" {
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reason) {
				t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
			}
		} else {
			apiError(t, resp, body, tc.status, tc.reason)
		}
		if ts.size() != size {
			t.Fatalf("refused write logged something")
		}
	}
	if _, err := ParseWriters([]byte("x " + tokAccess + " kinds=access,raw systems=kyc\n")); err == nil || !strings.Contains(err.Error(), `kind "raw" names none`) {
		t.Fatalf("systems= with kinds=raw: %v", err)
	}
	ws, err := ParseWriters([]byte("x " + tokAccess + " systems=kyc\n"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := ws.Authenticate(tokAccess)
	for _, k := range []string{KindDecision, KindAccess, KindEvaluation} {
		if !w.MayLog(k) {
			t.Errorf("systems= without kinds= does not cover %s", k)
		}
	}
	if w.MayLog(KindRaw) || w.MayLog(KindRelease) {
		t.Error("systems= without kinds= covers raw or release")
	}
}

// POST /add refuses entries in the form of the new kinds.
func TestAddRefusesRecordKinds(t *testing.T) {
	ts := newAIServer(t, nil)
	for _, e := range []string{
		`{"kind":"access/v1","system":"x"}`,
		`{"kind":"evaluation/v1"}`,
		`{"Kind":"access/v2"}`,
		`{"KIND":"evaluation/x","a":1}`,
	} {
		resp, body := ts.post(t, "/add", "application/octet-stream", []byte(e))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "/api/v1/access") {
			t.Fatalf("POST /add %s: %d %s", e, resp.StatusCode, body)
		}
	}
	if ts.size() != 0 {
		t.Fatalf("size %d", ts.size())
	}
}

// Checked time: a record exactly at --max-clock-skew ahead of the
// (injected) clock is taken, one second further refused naming the bound;
// the same for --max-record-age behind it; in a batch every such line is
// named and nothing logged; negative skew and zero age turn the checks off.
func TestRecordTimeBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	withTime := func(kind recordCase, id int, ts string) string {
		rec := kind.record("clock", id)
		i := strings.Index(rec, `"time":"`) + len(`"time":"`)
		j := i + strings.IndexByte(rec[i:], '"')
		return rec[:i] + ts + rec[j:]
	}
	kinds := append([]recordCase{{"decision", decisionsPath, decisionRecord, attest.ParseDecisionEntry}}, recordCases...)
	t.Run("defaults", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, c *Config) { c.Now = func() time.Time { return now } })
		for _, k := range kinds {
			resp, body := ts.post(t, k.path, "application/json", []byte(withTime(k, 1, at(24*time.Hour))))
			receiptOK(t, resp, body)
			resp, body = ts.post(t, k.path, "application/json", []byte(withTime(k, 2, at(24*time.Hour+time.Second))))
			apiError(t, resp, body, 400, "time "+at(24*time.Hour+time.Second)+" is 24h0m1s ahead of the log's clock (--max-clock-skew 24h)")
			resp, body = ts.post(t, k.path, "application/json", []byte(withTime(k, 3, "2099-01-01T00:00:00Z")))
			e := apiError(t, resp, body, 400, "ahead of the log's clock (--max-clock-skew 24h)")
			if strings.Contains(e.Error, "\n") {
				t.Fatalf("not one line: %q", e.Error)
			}
			// No age bound by default.
			resp, body = ts.post(t, k.path, "application/json", []byte(withTime(k, 4, "2019-01-01T00:00:00Z")))
			receiptOK(t, resp, body)
		}
		// The example of the issue, to the hour.
		resp, body := ts.post(t, decisionsPath, "application/json", []byte(withTime(kinds[0], 5, at(26*time.Hour))))
		apiError(t, resp, body, 400, "time "+at(26*time.Hour)+" is 26h ahead of the log's clock (--max-clock-skew 24h)")
	})
	t.Run("bounds", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, c *Config) {
			c.Now = func() time.Time { return now }
			c.MaxClockSkew = 5 * time.Minute
			c.MaxRecordAge = 720 * time.Hour
		})
		for _, k := range kinds {
			size := ts.size()
			for i, d := range []time.Duration{5 * time.Minute, -720 * time.Hour, 0, -time.Nanosecond} {
				resp, body := ts.post(t, k.path, "application/json", []byte(withTime(k, 10+i, at(d))))
				receiptOK(t, resp, body)
			}
			if ts.size() != size+4 {
				t.Fatalf("size %d", ts.size())
			}
			size = ts.size()
			resp, body := ts.post(t, k.path, "application/json", []byte(withTime(k, 20, at(-720*time.Hour-time.Second))))
			apiError(t, resp, body, 400, "time "+at(-720*time.Hour-time.Second)+" is 720h0m1s older than the log's clock (--max-record-age 720h)")
			resp, body = ts.post(t, k.path, "application/json", []byte(withTime(k, 21, at(5*time.Minute+time.Millisecond))))
			apiError(t, resp, body, 400, "is 5m0.001s ahead of the log's clock (--max-clock-skew 5m)")
			// A batch: lines 2 and 4 out of bounds, line 3 malformed.
			batch := ndjson(withTime(k, 30, at(0)), withTime(k, 31, at(6*time.Minute)), `{}`, withTime(k, 32, "2019-01-01T00:00:00Z"), withTime(k, 33, at(time.Minute)))
			resp, body = ts.post(t, k.path, "application/x-ndjson", batch)
			e := apiError(t, resp, body, 400, "3 of 5 records rejected")
			var lines []int
			for _, l := range e.Lines {
				lines = append(lines, l.Line)
			}
			if !slices.Equal(lines, []int{2, 3, 4}) || !strings.Contains(e.Lines[0].Reason, "--max-clock-skew 5m)") || !strings.Contains(e.Lines[2].Reason, "--max-record-age 720h") {
				t.Fatalf("%s: lines %+v", k.name, e.Lines)
			}
			if ts.size() != size {
				t.Fatalf("%s: a refused batch logged %d entries", k.name, ts.size()-size)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, c *Config) {
			c.Now = func() time.Time { return now }
			c.MaxClockSkew = -1
		})
		for _, k := range kinds {
			for i, tm := range []string{"2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z"} {
				resp, body := ts.post(t, k.path, "application/json", []byte(withTime(k, i, tm)))
				receiptOK(t, resp, body)
			}
		}
	})
}
