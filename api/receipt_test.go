package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/wire"
)

// The hand-written compact receipt is byte for byte what encoding/json
// writes for the same Receipt.
func TestCompactReceiptMatchesEncodingJSON(t *testing.T) {
	for i, r := range []wire.Receipt{
		{Index: 0, LeafHash: make([]byte, 32)},
		{Index: 1<<64 - 1, LeafHash: bytes.Repeat([]byte{0xff}, 32), Duplicate: true},
		{Index: 123456789, LeafHash: func() []byte { h := sha256.Sum256([]byte("x")); return h[:] }()},
	} {
		var got bytes.Buffer
		enc := newLineEncoder(&got)
		if err := enc.compact(&r); err != nil {
			t.Fatal(err)
		}
		enc.flush()
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want)+"\n" {
			t.Errorf("%d: compact receipt\n got %s\nwant %s", i, got.String(), want)
		}
	}
}

// GET /api/v1/entries/<i> decodes AI entries into "record" (the same
// canonical JSON as "entry"); other entries have no record.
func TestEntryRecord(t *testing.T) {
	ts := newAIServer(t, nil)
	rec := decisionRecord("record-sys", 1)
	resp, body := ts.post(t, "/api/v1/decisions", "application/json", []byte(rec))
	r := receiptOK(t, resp, body)
	raw := ts.add(t, []byte(`{"kind":"other/v1","raw":true}`))
	for _, tc := range []struct {
		index      uint64
		wantRecord bool
	}{{r.Index, true}, {raw, false}} {
		resp, body := ts.do(t, "GET", "/api/v1/entries/"+strconv.FormatUint(tc.index, 10), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("entry %d: %d %s", tc.index, resp.StatusCode, body)
		}
		var e struct {
			Entry  []byte          `json:"entry"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.wantRecord && !bytes.Equal(e.Record, e.Entry):
			t.Errorf("entry %d: record %s, want the entry %s", tc.index, e.Record, e.Entry)
		case !tc.wantRecord && e.Record != nil:
			t.Errorf("raw entry %d has a record: %s", tc.index, e.Record)
		}
	}
}

// /metrics counts AI submissions: new releases and decisions logged
// (duplicates not), and submissions refused with a 4xx.
func TestAIMetrics(t *testing.T) {
	ts := newAIServer(t, nil)
	k := newTestKey(t, "ecdsa")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/metrics")))
	for range 2 { // the second is a duplicate
		resp, body := ts.post(t, "/api/v1/attestations", "application/json", submission(t, env, k.pem))
		receiptOK(t, resp, body)
	}
	batch := ndjson(decisionRecord("metrics", 1), decisionRecord("metrics", 2), decisionRecord("metrics", 3))
	for range 2 {
		resp, body := ts.post(t, "/api/v1/decisions", "application/x-ndjson", batch)
		if resp.StatusCode != 200 {
			t.Fatalf("decisions: %d %s", resp.StatusCode, body)
		}
	}
	for _, bad := range []struct{ path, ct, body string }{
		{"/api/v1/decisions", "application/json", `{"system":"x"}`},
		{"/api/v1/attestations", "application/json", `{}`},
		{"/api/v1/attestations", "text/plain", `{}`},
	} {
		if resp, body := ts.post(t, bad.path, bad.ct, []byte(bad.body)); resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s, want a 4xx", bad.path, bad.body, resp.StatusCode, body)
		}
	}
	resp, body := ts.do(t, "GET", "/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"\ntlog_releases_logged_total 1\n",
		"\ntlog_decisions_logged_total 3\n",
		"\ntlog_submissions_rejected_total 3\n",
		"\ntlog_entries_total 4\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// POST /add refuses entries in the form of AI entries: they would stand
// unverified in the log and, deduplicated, keep the verified submission
// from being indexed. Other JSON is fine.
func TestAddRefusesAIEntryForms(t *testing.T) {
	ts := newAIServer(t, nil)
	rec := []byte(decisionRecord("preempt", 1))
	resp, body := ts.post(t, "/api/v1/decisions", "application/json", rec)
	r := receiptOK(t, resp, body)
	for _, e := range [][]byte{
		r.Entry,
		[]byte(`{"kind":"model-release/v1","signers":["sha256:` + strings.Repeat("ab", 32) + `"]}`),
		[]byte(` {"kind":"decision/v1"}`),
		[]byte("\ufeff{\"Kind\":\"decision/v1\"}"),
		[]byte(`{"kind":"x","kind":"decision/v1"}`),
	} {
		before := ts.size()
		resp, body := ts.do(t, "POST", "/add", bytes.NewReader(e))
		if resp.StatusCode != 400 || !strings.Contains(string(body), "/api/v1/decisions") {
			t.Errorf("POST /add %s: %d %s, want 400", e, resp.StatusCode, body)
		}
		if ts.size() != before {
			t.Errorf("POST /add %s changed the tree", e)
		}
	}
	ts.add(t, []byte(`{"kind":"something/else"}`))
}

// Releases and decisions are indexed apart: ?kind= narrows a search to
// one kind, so decision records (anyone may log them, naming any model)
// cannot bury a model's releases.
func TestSearchKind(t *testing.T) {
	ts := newAIServer(t, nil)
	k := newTestKey(t, "ecdsa")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/kind")))
	resp, body := ts.post(t, "/api/v1/attestations", "application/json", submission(t, env, k.pem))
	rel := receiptOK(t, resp, body)
	rec := strings.Replace(decisionRecord("kind-sys", 1), `"name":"acme/chat-kind-sys"`, `"name":"acme/kind"`, 1)
	if !strings.Contains(rec, `"acme/kind"`) {
		t.Fatalf("record template changed: %s", rec)
	}
	var decisions []uint64
	for i := range 3 {
		r := strings.Replace(rec, `"decision_id":"`, fmt.Sprintf(`"decision_id":"%d-`, i), 1)
		resp, body := ts.post(t, "/api/v1/decisions", "application/json", []byte(r))
		decisions = append(decisions, receiptOK(t, resp, body).Index)
	}
	slices.Reverse(decisions)
	for _, tc := range []struct {
		q    string
		want []uint64
	}{
		{"model=acme/kind", append(append([]uint64{}, decisions...), rel.Index)},
		{"model=acme/kind&kind=model-release/v1", []uint64{rel.Index}},
		{"model=acme/kind&kind=decision/v1", decisions},
		{"model=acme/kind&kind=decision/v1&limit=2", decisions[:2]},
		{"model=acme/kind&limit=1", decisions[:1]},
		{"system=kind-sys&kind=decision/v1", decisions},
	} {
		if got, _ := ts.searchPage(t, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("search %s = %v, want %v", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"signer=" + url.QueryEscape(k.fp) + "&kind=decision/v1", "system=kind-sys&kind=model-release/v1", "model=x&kind=other/v1"} {
		resp, body := ts.do(t, "GET", "/api/v1/search?"+q, nil)
		if resp.StatusCode != 400 {
			t.Errorf("search %s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}
