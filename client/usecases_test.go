package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
)

// commitTo is a real salted commitment to content (attest.Commit).
func commitTo(t *testing.T, salt byte, content string) string {
	t.Helper()
	c, err := attest.Commit(bytes.Repeat([]byte{salt}, attest.SaltSize), []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUseCases runs the README's three seed use cases end to end through
// the Go client against a real log: the support chat bot (a decision per
// interaction through the DecisionLogger), the loan/KYC workflow (access
// to the applicant's file, the decision it served, its outcome) and the
// clinical recommender (access to the patient record under a legal basis,
// the decision, the model version's evaluation). Every record is then
// found by the search fields an auditor would use, read back from the
// tiles exactly once, and proven.
func TestUseCases(t *testing.T) {
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())
	want := map[string]bool{} // canonical entries expected in the log

	// 1. The support chat bot: one decision per interaction, logged in the
	// background.
	dl := c.NewDecisionLogger(client.LoggerConfig{MaxBatch: 50})
	for i := range 120 {
		rec := fmt.Sprintf(`{"system":"support-bot","decision_id":"chat-%d","time":"2026-12-02T10:%02d:00Z","model":{"name":"acme/chat","version":"1.4.2"},"outcome":"answered","commitments":{"input":%q,"output":%q}}`,
			i, i%60, commitTo(t, 1, fmt.Sprint("question ", i)), commitTo(t, 2, fmt.Sprint("answer ", i)))
		if _, err := dl.Log(ctx, []byte(rec)); err != nil {
			t.Fatal(err)
		}
		want[string(entryOf(t, []byte(rec)))] = true
	}
	if rep, err := dl.Close(ctx); err != nil || rep.Confirmed != 120 {
		t.Fatalf("chat bot: %+v, %v", rep, err)
	}

	// 2. The loan/KYC workflow: an analyst opens the applicant's file (the
	// applicant's id only as a commitment), the screening model decides,
	// and the access names the decision it served.
	applicant := commitTo(t, 3, "applicant 4711")
	kycDecision := fmt.Sprintf(`{"system":"kyc-screening","decision_id":"loan-4711","time":"2026-12-02T09:13:00Z","model":{"name":"acme/kyc-risk","version":"2.0"},"outcome":"approved","commitments":{"input":%q,"output":%q,"data_accessed":[%q]}}`,
		commitTo(t, 4, "application 4711"), commitTo(t, 5, "score 0.12"), applicant)
	dr, err := c.LogDecision(ctx, []byte(kycDecision), client.SubmitOptions{})
	if err != nil || !dr.Proven || !dr.Verified {
		t.Fatalf("KYC decision: %+v, %v", dr, err)
	}
	kycAccess := fmt.Sprintf(`{"system":"kyc-screening","event_id":"kyc-open-4711","time":"2026-12-02T09:12:40Z","actor":{"type":"person","id":"analyst-17"},"action":"read","resource":{"type":"customer-file","id":%q},"records":[%q],"purpose":"kyc-review","legal_basis":"AMLD (EU) 2015/849 Art. 13","decision":{"index":%d}}`,
		applicant, commitTo(t, 6, "passport scan"), dr.Index)

	// 3. The clinical recommender: the patient record read under a legal
	// basis, the recommendation, and the evaluation of the model version.
	patient := commitTo(t, 7, "patient MRN-0099")
	clinicalDecision := fmt.Sprintf(`{"system":"triage-recommender","decision_id":"triage-0099","time":"2026-12-02T08:01:00Z","model":{"name":"acme/triage","version":"4.2","digest":"sha256:%064x"},"outcome":"escalated","commitments":{"input":%q,"output":%q}}`,
		42, commitTo(t, 8, "vitals"), commitTo(t, 9, "escalate to physician"))
	clinicalAccess := fmt.Sprintf(`{"system":"triage-recommender","event_id":"ehr-read-0099","time":"2026-12-02T08:00:30Z","actor":{"type":"service","id":"triage-recommender"},"action":"read","resource":{"type":"patient-record","id":%q},"purpose":"treatment","legal_basis":"GDPR Art. 9(2)(h)","decision":{"decision_id":"triage-0099"}}`, patient)
	evaluation := fmt.Sprintf(`{"system":"triage-recommender","evaluation_id":"ev-triage-4.2","time":"2026-11-20T10:00:00Z","model":{"name":"acme/triage","version":"4.2","digest":"sha256:%064x"},"dataset":{"name":"holdout-2026q3","commitment":%q},"metrics":{"auroc":0.912,"sensitivity":0.87,"n":12480},"evaluator":"acme-clinical-qa"}`,
		42, commitTo(t, 10, "holdout 2026q3"))

	ar, err := c.LogAccess(ctx, [][]byte{[]byte(kycAccess), []byte(clinicalAccess)}, client.SubmitOptions{})
	if err != nil || len(ar) != 2 || !ar[0].Proven || !ar[1].Verified {
		t.Fatalf("access records: %+v, %v", ar, err)
	}
	cr, err := c.LogDecision(ctx, []byte(clinicalDecision), client.SubmitOptions{})
	if err != nil || !cr.Proven {
		t.Fatalf("clinical decision: %v", err)
	}
	er, err := c.LogEvaluations(ctx, [][]byte{[]byte(evaluation)}, client.SubmitOptions{})
	if err != nil || !er[0].Proven {
		t.Fatalf("evaluation: %v", err)
	}
	for _, rec := range []struct {
		parse attest.RecordParser
		line  string
	}{{attest.ParseDecisionEntry, kycDecision}, {attest.ParseAccessEntry, kycAccess}, {attest.ParseAccessEntry, clinicalAccess}, {attest.ParseDecisionEntry, clinicalDecision}, {attest.ParseEvaluationEntry, evaluation}} {
		e, err := rec.parse([]byte(rec.line))
		if err != nil {
			t.Fatal(err)
		}
		want[string(e.Entry)] = true
	}

	// An auditor's questions, by search (then proven).
	search := func(q client.Query) []uint64 {
		t.Helper()
		var out []uint64
		for i, err := range c.Search(ctx, q) {
			if err != nil {
				t.Fatalf("search %+v: %v", q, err)
			}
			out = append(out, i)
		}
		return out
	}
	for name, tc := range map[string]struct {
		q    client.Query
		want []uint64
	}{
		"who opened the applicant's file":  {client.Query{Resource: applicant}, []uint64{ar[0].Index}},
		"everything analyst-17 accessed":   {client.Query{Actor: "analyst-17"}, []uint64{ar[0].Index}},
		"accesses for treatment":           {client.Query{Purpose: "treatment"}, []uint64{ar[1].Index}},
		"the evaluation by its id":         {client.Query{Event: "ev-triage-4.2"}, []uint64{er[0].Index}},
		"the patient record":               {client.Query{Resource: patient, Kind: attest.KindAccess}, []uint64{ar[1].Index}},
		"the triage model's trail (model)": {client.Query{Model: "acme/triage"}, []uint64{er[0].Index, cr.Index}},
	} {
		got := search(tc.q)
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
		for _, i := range got {
			e, err := c.Entry(ctx, i)
			if err != nil || !e.Verified {
				t.Errorf("%s: entry %d: %v", name, i, err)
			}
		}
	}
	// The access record names the decision it served.
	e, err := c.Entry(ctx, ar[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Decision struct{ Index uint64 } `json:"decision"`
	}
	if err := json.Unmarshal(e.Data, &acc); err != nil || acc.Decision.Index != dr.Index {
		t.Errorf("the KYC access names decision %d (%v), want %d", acc.Decision.Index, err, dr.Index)
	}

	// Everything is in the log exactly once, read back from the tiles.
	seen := map[string]int{}
	for le, err := range c.Entries(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		seen[string(le.Data)]++
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct entries in the log, want %d", len(seen), len(want))
	}
	for w := range want {
		if seen[w] != 1 {
			t.Errorf("entry %s is in the log %d times, want once", w, seen[w])
		}
	}
}
