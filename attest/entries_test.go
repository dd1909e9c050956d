package attest

import (
	"bytes"
	"strings"
	"testing"
)

// Read*Entry give back the record of a logged entry, and refuse anything
// that is not exactly a canonical entry of that kind.
func TestReadRecordEntries(t *testing.T) {
	a, entry, err := ParseAccess(mustJSON(t, fullAccess()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAccessEntry(entry)
	if err != nil || !bytes.Equal(got.Canonical(), entry) || got.EventID != a.EventID {
		t.Fatalf("ReadAccessEntry(its own entry): %+v, %v", got, err)
	}
	e, eEntry, err := ParseEvaluation(mustJSON(t, fullEvaluation()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadEvaluationEntry(eEntry); err != nil || got.EvaluationID != e.EvaluationID {
		t.Fatalf("ReadEvaluationEntry(its own entry): %+v, %v", got, err)
	}
	dEntry := []byte(`{"commitments":{"input":"sha256:1111111111111111111111111111111111111111111111111111111111111111","output":"sha256:2222222222222222222222222222222222222222222222222222222222222222"},"decision_id":"d-1","kind":"decision/v1","model":{"name":"acme/chat","version":"1.0"},"system":"support-bot","time":"2026-12-02T09:00:00Z"}`)
	if d, err := ReadDecisionEntry(dEntry); err != nil || d.DecisionID != "d-1" || !bytes.Equal(d.Canonical(), dEntry) {
		t.Fatalf("ReadDecisionEntry: %+v, %v", d, err)
	}
	for name, c := range map[string]struct {
		entry []byte
		read  func([]byte) error
		want  string
	}{
		"another kind":          {entry, func(b []byte) error { _, err := ReadDecisionEntry(b); return err }, "no top-level kind field"},
		"no kind":               {bytes.Replace(entry, []byte(`,"kind":"access/v1"`), nil, 1), func(b []byte) error { _, err := ReadAccessEntry(b); return err }, "no top-level kind field"},
		"not canonical (space)": {bytes.Replace(entry, []byte(`{"action"`), []byte(`{ "action"`), 1), func(b []byte) error { _, err := ReadAccessEntry(b); return err }, "not the canonical form"},
		"kind twice":            {bytes.Replace(entry, []byte(`,"kind":"access/v1"`), []byte(`,"kind":"access/v1","kind":"access/v1"`), 1), func(b []byte) error { _, err := ReadAccessEntry(b); return err }, ""},
		"bad record":            {bytes.Replace(dEntry, []byte(`"system":"support-bot"`), []byte(`"system":""`), 1), func(b []byte) error { _, err := ReadDecisionEntry(b); return err }, "system"},
	} {
		err := c.read(c.entry)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}
