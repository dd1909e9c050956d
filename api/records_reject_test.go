package api

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlogai/tlog/attest"
)

type rejectCase struct {
	name        string
	path        string // query, appended to the endpoint
	contentType string
	body        []byte
	status      int
	reason      string
	lines       []int
}

// runRejections posts each case and requires its status and reason, the
// lines it names, an unchanged tree and nothing searchable.
func runRejections(t *testing.T, ts *testServer, endpoint string, cases []rejectCase, searches []string) {
	t.Helper()
	size := ts.size()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.post(t, endpoint+tc.path, tc.contentType, tc.body)
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
			for _, f := range searches {
				if idx, _ := ts.searchPage(t, f); len(idx) != 0 {
					t.Fatalf("rejected records are searchable by %s: %v", f, idx)
				}
			}
		})
	}
}

// commonRejections are the transport cases every record kind shares.
func commonRejections(good func(int) string, limit int) []rejectCase {
	tooMany := make([]string, attest.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = `{}`
	}
	long := strings.Replace(good(7), `{"system"`, "{"+strings.Repeat(" ", 16<<10)+`"system"`, 1)
	var hundred []string
	for i := 0; i < 100; i++ {
		hundred = append(hundred, good(i))
	}
	oneBad := slices.Insert(slices.Clone(hundred), 56, strings.Replace(good(500), `"system":"rejected-system",`, "", 1))
	return []rejectCase{
		{"two records as application/json", "", "application/json", ndjson(good(1), good(2)), 400, "trailing data", nil},
		{"not JSON", "", "application/json", []byte("hello"), 400, "JSON object", nil},
		{"JSON null", "", "application/json", []byte("null"), 400, "must be an object", nil},
		{"array", "", "application/json", []byte("[" + good(1) + "]"), 400, "must be an object", nil},
		{"no-break space before", "", "application/json", []byte("\u00a0" + good(4)), 400, "JSON object", nil},
		{"invalid UTF-8", "", "application/json", []byte(strings.Replace(good(1), "rejected-system", "rejected-\xff", 1)), 400, "not valid UTF-8", nil},
		{"lone surrogate", "", "application/json", []byte(strings.Replace(good(1), "rejected-system", `rejected-\ud800`, 1)), 400, "lone UTF-16 surrogate", nil},
		{"single record too long", "", "application/json", []byte(long), 413, fmt.Sprintf("at most %d bytes", 16<<10), nil},
		{"NDJSON line too long", "", "application/x-ndjson", ndjson(good(1), long, good(2)), 400, "longer than the limit", []int{2}},
		{"10,001 lines", "", "application/x-ndjson", ndjson(tooMany...), 400, fmt.Sprintf("10001 records in one request, at most %d", attest.MaxBatch), nil},
		{"one bad line among 100", "", "application/x-ndjson", ndjson(oneBad...), 400, "1 of 101 records rejected", []int{57}},
		{"two bad lines and a blank", "", "application/x-ndjson", ndjson(good(1), `{"system":`, "", `[]`, good(2)), 400, "2 of 4 records rejected", []int{2, 4}},
		{"only blank lines", "", "application/x-ndjson", []byte("\n\n  \n"), 400, "no records", nil},
		{"empty body", "", "application/x-ndjson", nil, 400, "empty body", nil},
		{"empty single", "", "application/json", nil, 400, "empty body", nil},
		{"body over the limit", "", "application/x-ndjson", bytes.Repeat([]byte(good(1)+"\n"), limit/len(good(1))+1), 413, fmt.Sprintf("at most %d bytes", limit), nil},
		{"wrong Content-Type", "", "text/plain", []byte(good(1)), 415, "want application/json or application/x-ndjson", nil},
		{"form Content-Type", "", "application/x-www-form-urlencoded", []byte(good(1)), 415, "Content-Type", nil},
		{"wait=bogus", "?wait=bogus", "application/json", []byte(good(1)), 400, "wait", nil},
		{"receipts=bogus", "?receipts=bogus", "application/json", []byte(good(1)), 400, "receipts", nil},
		{"unknown parameter", "?pretty=1", "application/json", []byte(good(1)), 400, `unknown parameter "pretty"`, nil},
		{"wait=witnessed without a witness policy", "?wait=witnessed", "application/x-ndjson", ndjson(good(1)), 400, "no witness policy", nil},
	}
}

func TestAccessRejections(t *testing.T) {
	const limit = 64 << 10
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.DecisionBodyLimit = limit })
	resp, body := ts.post(t, accessPath, "application/json", []byte(accessRecord("logged-system", 0)))
	receiptOK(t, resp, body)
	const system = "rejected-system"
	good := func(i int) string { return accessRecord(system, i) }
	rep := func(old, new string) []byte {
		s := good(1)
		if !strings.Contains(s, old) {
			t.Fatalf("record lacks %q", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	person := commitment("analyst1")
	cases := []rejectCase{
		{"missing system", "", "application/json", rep(`"system":"rejected-system",`, ""), 400, "system is required", nil},
		{"missing event_id", "", "application/json", rep(`"event_id":"a-1",`, ""), 400, "event_id is required", nil},
		{"missing time", "", "application/json", rep(`"time":"2026-11-27T08:00:01.5Z",`, ""), 400, "time is required", nil},
		{"missing actor", "", "application/json", rep(`"actor":{"type":"person","id":"`+person+`"},`, ""), 400, "actor.type is required", nil},
		{"missing actor.id", "", "application/json", rep(`,"id":"`+person+`"`, ""), 400, "actor.id is required", nil},
		{"missing action", "", "application/json", rep(`"action":"read",`, ""), 400, "action is required", nil},
		{"missing resource", "", "application/json", rep(`"resource":{"type":"customer-file","id":"`+commitment("customer1")+`"},`, ""), 400, "resource.type is required", nil},
		{"missing resource.id", "", "application/json", rep(`,"id":"`+commitment("customer1")+`"`, ""), 400, "resource.id is required", nil},
		{"missing purpose", "", "application/json", rep(`"purpose":"kyc-review",`, ""), 400, "purpose is required", nil},
		{"missing legal_basis", "", "application/json", rep(`"legal_basis":"GDPR Art. 6(1)(c)",`, ""), 400, "legal_basis is required", nil},
		{"unknown field", "", "application/json", rep(`"purpose":"kyc-review"`, `"purpose":"kyc-review","name":"Jane Doe"`), 400, `unknown field "name"`, nil},
		{"unknown field in actor", "", "application/json", rep(`"type":"person"`, `"type":"person","name":"Jane"`), 400, `unknown field "name" in actor`, nil},
		{"unknown field in resource", "", "application/json", rep(`"type":"customer-file"`, `"type":"customer-file","path":"/x"`), 400, `unknown field "path" in resource`, nil},
		{"unknown field in decision", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"decision_id":"d-1","x":1}`), 400, `unknown field "x" in decision`, nil},
		{"case-variant field", "", "application/json", rep(`"purpose":"kyc-review"`, `"Purpose":"kyc-review"`), 400, `unknown field "Purpose"`, nil},
		{"duplicate field", "", "application/json", rep(`"purpose":"kyc-review"`, `"purpose":"kyc-review","purpose":"marketing"`), 400, `duplicate field "purpose"`, nil},
		{"duplicate, case variant", "", "application/json", rep(`"purpose":"kyc-review"`, `"purpose":"kyc-review","PURPOSE":"marketing"`), 400, `unknown field "PURPOSE"`, nil},
		{"null purpose", "", "application/json", rep(`"purpose":"kyc-review"`, `"purpose":null`), 400, "purpose must be a string, not null", nil},
		{"null records", "", "application/json", rep(`"records":["`+commitment("file"+system+"1")+`"]`, `"records":null`), 400, "records must be an array", nil},
		{"null decision", "", "application/json", rep(`{"decision_id":"d-1"}`, `null`), 400, "decision must be an object", nil},
		{"bad actor type", "", "application/json", rep(`"type":"person"`, `"type":"robot"`), 400, `actor.type "robot": want person or service`, nil},
		{"bad action", "", "application/json", rep(`"action":"read"`, `"action":"READ"`), 400, `action "READ": want one of read, export, update, delete, query`, nil},
		{"bad actor commitment", "", "application/json", rep(person, "sha256:XYZ"), 400, "actor.id \"sha256:XYZ\" starts with sha256: but is not a commitment", nil},
		{"uppercase resource commitment", "", "application/json", rep(commitment("customer1"), strings.ToUpper(commitment("customer1"))), 400, "resource.id", nil},
		{"bad records commitment", "", "application/json", rep(commitment("file"+system+"1"), "sha256:00"), 400, "records[0]", nil},
		{"bad time", "", "application/json", rep(`"2026-11-27T08:00:01.5Z"`, `"2026-13-27 08:00"`), 400, "RFC 3339", nil},
		{"time without zone", "", "application/json", rep(`"2026-11-27T08:00:01.5Z"`, `"2026-11-27T08:00:01"`), 400, "RFC 3339", nil},
		{"time ahead of the clock", "", "application/json", rep(`"2026-11-27T08:00:01.5Z"`, `"2099-01-01T00:00:00Z"`), 400, "ahead of the log's clock (--max-clock-skew 24h)", nil},
		{"empty decision", "", "application/json", rep(`{"decision_id":"d-1"}`, `{}`), 400, `decision: give {"index":N} or {"decision_id":"…"}`, nil},
		{"decision index and id", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"decision_id":"d-1","index":3}`), 400, "not both", nil},
		{"negative decision index", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"index":-1}`), 400, "not a log index", nil},
		{"fractional decision index", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"index":1.5}`), 400, "not a log index", nil},
		{"decision index 01", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"index":01}`), 400, "not a JSON number", nil},
		{"decision index as string", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"index":"3"}`), 400, "must be a number", nil},
		{"decision index too large", "", "application/json", rep(`{"decision_id":"d-1"}`, `{"index":18446744073709551616}`), 400, "not a log index", nil},
		{"control character", "", "application/json", rep(`kyc-review`, `kyc\u0007review`), 400, "purpose contains control characters", nil},
		{"legal basis too long", "", "application/json", rep(`GDPR Art. 6(1)(c)`, strings.Repeat("x", 257)), 400, "legal_basis is longer than 256 bytes", nil},
		{"too many labels", "", "application/json", rep(`{"region":"eu"}`, manyLabels(33)), 400, "33 labels, at most 32", nil},
		{"NDJSON missing field", "", "application/x-ndjson", ndjson(good(1), string(rep(`"action":"read",`, ""))), 400, "action is required", []int{2}},
	}
	cases = append(cases, commonRejections(good, limit)...)
	runRejections(t, ts, accessPath, cases, []string{"system=" + system, "event=a-1", "actor=" + person})
}

func manyLabels(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	return b.String() + "}"
}

func TestEvaluationRejections(t *testing.T) {
	const limit = 64 << 10
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.DecisionBodyLimit = limit })
	resp, body := ts.post(t, evaluationsPath, "application/json", []byte(evaluationRecord("logged-system", 0)))
	receiptOK(t, resp, body)
	const system = "rejected-system"
	good := func(i int) string { return evaluationRecord(system, i) }
	rep := func(old, new string) []byte {
		s := good(1)
		if !strings.Contains(s, old) {
			t.Fatalf("record lacks %q", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	metric := func(v string) []byte { return rep(`"auroc":0.912`, `"auroc":`+v) }
	ds := commitment("data1")
	cases := []rejectCase{
		{"missing system", "", "application/json", rep(`"system":"rejected-system",`, ""), 400, "system is required", nil},
		{"missing evaluation_id", "", "application/json", rep(`"evaluation_id":"ev-1",`, ""), 400, "evaluation_id is required", nil},
		{"missing time", "", "application/json", rep(`"time":"2026-11-20T10:00:01Z",`, ""), 400, "time is required", nil},
		{"missing model.version", "", "application/json", rep(`"version":"4.1",`, ""), 400, "model.version is required", nil},
		{"missing dataset.name", "", "application/json", rep(`"name":"holdout",`, ""), 400, "dataset.name is required", nil},
		{"missing dataset pin", "", "application/json", rep(`,"commitment":"`+ds+`"`, ""), 400, "dataset: give digest", nil},
		{"dataset digest and commitment", "", "application/json", rep(`"commitment":"`+ds+`"`, `"commitment":"`+ds+`","digest":"`+ds+`"`), 400, "not both", nil},
		{"missing metrics", "", "application/json", rep(`"metrics":{"auroc":0.912,"sensitivity":0.87,"n":12480,"tiny":1e-7,"big":1E21,"neg":-0.0},`, ""), 400, "metrics: at least one is required", nil},
		{"empty metrics", "", "application/json", rep(`{"auroc":0.912,"sensitivity":0.87,"n":12480,"tiny":1e-7,"big":1E21,"neg":-0.0}`, `{}`), 400, "metrics: at least one is required", nil},
		{"missing evaluator", "", "application/json", rep(`,"evaluator":"acme-qa"`, ""), 400, "evaluator is required", nil},
		{"unknown field", "", "application/json", rep(`"evaluator":"acme-qa"`, `"evaluator":"acme-qa","notes":"x"`), 400, `unknown field "notes"`, nil},
		{"unknown field in dataset", "", "application/json", rep(`"name":"holdout"`, `"name":"holdout","rows":3`), 400, `unknown field "rows" in dataset`, nil},
		{"case-variant field", "", "application/json", rep(`"evaluator":"acme-qa"`, `"Evaluator":"acme-qa"`), 400, `unknown field "Evaluator"`, nil},
		{"duplicate field", "", "application/json", rep(`"evaluator":"acme-qa"`, `"evaluator":"acme-qa","evaluator":"b"`), 400, `duplicate field "evaluator"`, nil},
		{"duplicate metric", "", "application/json", rep(`"auroc":0.912`, `"auroc":0.912,"auroc":0.5`), 400, `duplicate field "auroc"`, nil},
		{"null evaluator", "", "application/json", rep(`"evaluator":"acme-qa"`, `"evaluator":null`), 400, "evaluator must be a string, not null", nil},
		{"null metric", "", "application/json", metric("null"), 400, `metric "auroc" must be a number, not null`, nil},
		{"null metrics", "", "application/json", rep(`{"auroc":0.912,"sensitivity":0.87,"n":12480,"tiny":1e-7,"big":1E21,"neg":-0.0}`, `null`), 400, "metrics must be an object", nil},
		{"string metric", "", "application/json", metric(`"0.9"`), 400, "must be a number", nil},
		{"boolean metric", "", "application/json", metric(`true`), 400, "must be a number", nil},
		{"leading zero 01", "", "application/json", metric("01"), 400, `"01" is not a JSON number`, nil},
		{"1.", "", "application/json", metric("1."), 400, `"1." is not a JSON number`, nil},
		{".5", "", "application/json", metric(".5"), 400, `".5" is not a JSON number`, nil},
		{"+1", "", "application/json", metric("+1"), 400, `"+1" is not a JSON number`, nil},
		{"1e", "", "application/json", metric("1e"), 400, `"1e" is not a JSON number`, nil},
		{"1e+", "", "application/json", metric("1e+"), 400, `"1e+" is not a JSON number`, nil},
		{"-", "", "application/json", metric("-"), 400, `"-" is not a JSON number`, nil},
		{"--1", "", "application/json", metric("--1"), 400, "not a JSON number", nil},
		{"hex", "", "application/json", metric("0x10"), 400, "want ',' or '}'", nil},
		{"NaN", "", "application/json", metric("NaN"), 400, "must be a number", nil},
		{"Infinity", "", "application/json", metric("Infinity"), 400, "must be a number", nil},
		{"overflow", "", "application/json", metric("1e309"), 400, "out of the range of a 64-bit float", nil},
		{"negative overflow", "", "application/json", metric("-1.8e308"), 400, "out of the range", nil},
		{"number too long", "", "application/json", metric("0." + strings.Repeat("1", 40)), 400, "number of 42 bytes, at most 40", nil},
		{"too many metrics", "", "application/json", rep(`{"auroc":0.912,"sensitivity":0.87,"n":12480,"tiny":1e-7,"big":1E21,"neg":-0.0}`, strings.ReplaceAll(manyLabels(65), `"v"`, "1")), 400, "65 metrics, at most 64", nil},
		{"empty metric name", "", "application/json", rep(`"auroc":0.912`, `"":0.912`), 400, "metric name", nil},
		{"bad model digest", "", "application/json", rep(commitment("weights"+system), "sha256:abc"), 400, "model.digest", nil},
		{"bad dataset commitment", "", "application/json", rep(ds, strings.ToUpper(ds)), 400, "dataset.commitment", nil},
		{"bad time", "", "application/json", rep(`"2026-11-20T10:00:01Z"`, `"2026-02-30T10:00:01Z"`), 400, "RFC 3339", nil},
		{"time ahead of the clock", "", "application/json", rep(`"2026-11-20T10:00:01Z"`, `"2099-01-01T00:00:00Z"`), 400, "ahead of the log's clock", nil},
		{"NDJSON bad number", "", "application/x-ndjson", ndjson(good(1), string(metric("1.")), good(3), string(metric("1e999"))), 400, "2 of 4 records rejected", []int{2, 4}},
	}
	cases = append(cases, commonRejections(good, limit)...)
	runRejections(t, ts, evaluationsPath, cases, []string{"system=" + system, "event=ev-1", "model=acme/triage-" + system})
}

// attest.MaxBatch access records in one request are taken; one more is
// refused whole.
func TestAccessMaxBatch(t *testing.T) {
	ts := newAIServer(t, nil)
	recs := make([]string, attest.MaxBatch+1)
	for i := range recs {
		recs[i] = accessRecord("batch", i)
	}
	resp, body := ts.post(t, accessPath+"?receipts=compact", "application/x-ndjson", ndjson(recs...))
	apiError(t, resp, body, 400, fmt.Sprintf("%d records in one request, at most %d", attest.MaxBatch+1, attest.MaxBatch))
	if ts.size() != 0 {
		t.Fatalf("size %d after a refused batch", ts.size())
	}
	resp, body = ts.post(t, accessPath+"?receipts=compact", "application/x-ndjson", ndjson(recs[:attest.MaxBatch]...))
	if rs := ndjsonReceipts(t, resp, body, compactReceiptFields); len(rs) != attest.MaxBatch || ts.size() != attest.MaxBatch {
		t.Fatalf("%d receipts, size %d", len(rs), ts.size())
	}
}
