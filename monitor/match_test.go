package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/tlogai/tlog/attest"
)

// Entries as the log writes them (from the README's real runs, and the
// release format with a validated certificate identity).
const (
	accessEntry     = `{"action":"read","actor":{"id":"analyst-17","type":"person"},"decision":{"decision_id":"k-1"},"event_id":"a-2211","kind":"access/v1","labels":{"region":"eu"},"legal_basis":"GDPR Art. 6(1)(c)","purpose":"kyc-review","records":["sha256:c96c6d5be8d08a12e7b5cdc1b207fa6b2430974c86803d8891675e76fd992c20"],"resource":{"id":"sha256:7e4bcfbc8ebcd56ed7e5b0e13b94a120e643bfb34ead35509fe6d1fa759e6098","type":"customer-file"},"system":"kyc-workflow","time":"2026-12-02T09:12:40Z"}`
	evaluationEntry = `{"dataset":{"digest":"sha256:e0ee8bb50685e05fa0f47ed04203ae953fdfd055f5bd2892ea186504254f8c3a","name":"holdout-2026q3"},"evaluation_id":"ev-2026-11","evaluator":"acme-clinical-qa","kind":"evaluation/v1","metrics":{"auroc":0.912,"calibration_error":4e-7,"n":12480,"sensitivity":0.87},"model":{"digest":"sha256:08411c3751d2f98c3b32cac5add159a08f41758e119b8f835ea5628c6da33742","name":"acme/triage","version":"4.2"},"system":"clinical-recommender","time":"2026-11-20T10:00:00Z"}`
	keylessEntry    = `{"envelope_digest":"sha256:c312cb295ccb4ccee1e3c6ae80c8b9b04b1687696d9c55a2fcc7b1e7254e1fa8","identity":"https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main","issuer":"https://token.actions.githubusercontent.com","kind":"model-release/v1","model_signing":{"model":"acme/fraud-v3","resources":3},"predicate_type":"https://model_signing/signature/v1.0","signers":["sha256:402cba8e281b44f5d5f1f7ebb1cb42c258f7349e844687a1ed6584467298021a"],"statement_type":"https://in-toto.io/Statement/v1","subjects":[{"digest":{"sha256":"8838fe612b8e41ec3914ef415673364471b29acd623344842b18e7ed2b6e66e9"},"name":"acme/fraud-v3"}],"time_source":"rekor"}`
	keylessSigner   = "sha256:402cba8e281b44f5d5f1f7ebb1cb42c258f7349e844687a1ed6584467298021a"
	keylessID       = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"
	keylessIssuer   = "https://token.actions.githubusercontent.com"
)

func decisionEntry(t testing.TB, system, model, digest string) []byte {
	t.Helper()
	d := ""
	if digest != "" {
		d = `,"digest":"` + digest + `"`
	}
	rec := `{"system":"` + system + `","decision_id":"d-1","time":"2026-03-01T10:00:00Z","model":{"name":"` + model + `","version":"2"` + d + `},"commitments":{"input":"sha256:` + strings.Repeat("a", 64) + `","output":"sha256:` + strings.Repeat("b", 64) + `"}}`
	_, e, err := attest.ParseDecision([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func signers(t *testing.T, lines ...string) *attest.Signers {
	t.Helper()
	s, err := attest.ParseSigners([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each kind decodes, and every criterion matches what it documents, and
// nothing else.
func TestMatch(t *testing.T) {
	modelDigest := "sha256:" + strings.Repeat("c", 64)
	dec := decisionEntry(t, "kyc", "Acme/Fraud-V3", modelDigest)
	raw := []byte("model weights, logged raw")
	rawSum := sha256.Sum256(raw)
	rawDigest := "sha256:" + hex.EncodeToString(rawSum[:])
	other := "sha256:" + strings.Repeat("d", 64)

	for _, tc := range []struct {
		name       string
		w          Watch
		entry      string
		matched    []string // nil: not reported
		unexpected string   // a reason substring, "" for none
		check      func(t *testing.T, r *Report)
	}{
		{name: "decision by model, ignoring case", w: Watch{Models: []string{"acme/fraud-v3"}}, entry: string(dec), matched: []string{"model=acme/fraud-v3"},
			check: func(t *testing.T, r *Report) {
				if r.Kind != attest.KindDecision || r.System != "kyc" || r.Model != "Acme/Fraud-V3" || r.Version != "2" || r.Digest != modelDigest || r.ID != "d-1" || r.Time != "2026-03-01T10:00:00Z" {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "decision by model prefix", w: Watch{Models: []string{"ACME/"}}, entry: string(dec), matched: []string{"model=ACME/"}},
		{name: "a prefix needs its slash", w: Watch{Models: []string{"acme"}}, entry: string(dec)},
		{name: "decision by digest and system", w: Watch{Digests: []string{modelDigest}, Systems: []string{"kyc", "other"}}, entry: string(dec), matched: []string{"digest=" + modelDigest, "system=kyc"}},
		{name: "system is exact", w: Watch{Systems: []string{"KYC"}}, entry: string(dec)},
		{name: "decision of another model", w: Watch{Models: []string{"acme/chat"}}, entry: string(dec)},
		{name: "identity does not look at decisions", w: Watch{Identities: []string{"kyc"}}, entry: string(dec)},
		{name: "access by system", w: Watch{Systems: []string{"kyc-workflow"}}, entry: accessEntry, matched: []string{"system=kyc-workflow"},
			check: func(t *testing.T, r *Report) {
				if r.Kind != attest.KindAccess || r.ID != "a-2211" || r.Actor != "analyst-17" || r.Action != "read" || r.Purpose != "kyc-review" || !strings.HasPrefix(r.Resource, "sha256:7e4b") {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "access has no model", w: Watch{Models: []string{"kyc-workflow"}}, entry: accessEntry},
		{name: "evaluation by model", w: Watch{Models: []string{"acme/triage"}}, entry: evaluationEntry, matched: []string{"model=acme/triage"},
			check: func(t *testing.T, r *Report) {
				if r.Kind != attest.KindEvaluation || r.ID != "ev-2026-11" || r.Version != "4.2" || r.Dataset != "holdout-2026q3" || r.System != "clinical-recommender" {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "evaluation by dataset digest", w: Watch{Digests: []string{"sha256:e0ee8bb50685e05fa0f47ed04203ae953fdfd055f5bd2892ea186504254f8c3a"}}, entry: evaluationEntry,
			matched: []string{"digest=sha256:e0ee8bb50685e05fa0f47ed04203ae953fdfd055f5bd2892ea186504254f8c3a"}},
		{name: "keyless release by identity", w: Watch{Identities: []string{keylessID}}, entry: keylessEntry, matched: []string{"identity=" + keylessID},
			check: func(t *testing.T, r *Report) {
				if r.Kind != attest.KindRelease || r.Identity != keylessID || r.Issuer != keylessIssuer || r.ModelSigning != "acme/fraud-v3" ||
					!slices.Equal(r.Signers, []string{keylessSigner}) || len(r.Subjects) != 1 || r.Subjects[0].Digest != "sha256:8838fe612b8e41ec3914ef415673364471b29acd623344842b18e7ed2b6e66e9" {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "keyless release allowed by identity", w: Watch{Models: []string{"acme/fraud-v3"}, Allowed: signers(t, "identity="+keylessID+" issuer="+keylessIssuer)},
			entry: keylessEntry, matched: []string{"model=acme/fraud-v3"}},
		{name: "keyless release of another issuer", w: Watch{Models: []string{"acme/fraud-v3"}, Allowed: signers(t, "identity="+keylessID+" issuer=https://evil.example")},
			entry: keylessEntry, matched: []string{"model=acme/fraud-v3"}, unexpected: `(identity "` + keylessID + `" of issuer "` + keylessIssuer + `") is not on the allowed signers list`},
		{name: "release allowed by key", w: Watch{Allowed: signers(t, keylessSigner)}, entry: keylessEntry},
		{name: "release of an unwatched model is not judged", w: Watch{Models: []string{"acme/chat"}, Allowed: signers(t, other)}, entry: keylessEntry},
		{name: "release by subject digest", w: Watch{Digests: []string{"sha256:8838fe612b8e41ec3914ef415673364471b29acd623344842b18e7ed2b6e66e9"}}, entry: keylessEntry,
			matched: []string{"digest=sha256:8838fe612b8e41ec3914ef415673364471b29acd623344842b18e7ed2b6e66e9"}},
		{name: "system does not look at releases", w: Watch{Systems: []string{"acme/fraud-v3"}}, entry: keylessEntry},
		{name: "raw entry by its SHA-256", w: Watch{Digests: []string{rawDigest}}, entry: string(raw), matched: []string{"digest=" + rawDigest},
			check: func(t *testing.T, r *Report) {
				if r.Kind != KindRaw || r.Digest != rawDigest {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "raw entry is skipped otherwise", w: Watch{Models: []string{"model"}, Systems: []string{"model"}, Allowed: signers(t, other)}, entry: string(raw)},
		{name: "raw JSON naming a kind deeper down is raw", w: Watch{Systems: []string{"kyc"}, Allowed: signers(t, other)},
			entry: `{"note":{"a":"b","kind":"decision/v1","system":"kyc"}}`},
		{name: "a release that does not decode", w: Watch{Models: []string{"acme/x"}}, entry: `{"kind":"model-release/v1","signers":"nobody"}`,
			unexpected: "in the form of a model-release/v1 entry but does not decode"},
		{name: "a release with a field twice", w: Watch{Allowed: signers(t, other)}, entry: strings.Replace(keylessEntry, `"signers":`, `"signers":["`+other+`"],"signers":`, 1),
			unexpected: `field "signers" twice`},
		{name: "a release with a field in another case", w: Watch{Allowed: signers(t, other)}, entry: strings.Replace(keylessEntry, `"signers":`, `"Signers":`, 1),
			unexpected: `unknown field "Signers"`},
		{name: "a decision that is not canonical", w: Watch{Systems: []string{"kyc"}}, entry: strings.Replace(string(dec), `,"kind":"decision/v1"`, ``, 1)[:len(dec)-len(`,"kind":"decision/v1"`)-1] + `,"kind":"decision/v1"}`,
			unexpected: "not the canonical form"},
		{name: "a future kind", w: Watch{Systems: []string{"kyc"}}, entry: `{"kind":"decision/v2","system":"kyc"}`, unexpected: "in the form of a decision/v2 entry"},
		{name: "a release form is not judged by a records-only watch", w: Watch{Systems: []string{"kyc"}}, entry: `{"kind":"model-release/v1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.w.Validate(); err != nil {
				t.Fatal(err)
			}
			r := tc.w.match(42, []byte(tc.entry))
			if tc.matched == nil && tc.unexpected == "" {
				if r != nil {
					t.Fatalf("reported %+v, want nothing", r)
				}
				return
			}
			if r == nil {
				t.Fatal("not reported")
			}
			if r.Index != 42 || !slices.Equal(r.Matched, tc.matched) {
				t.Errorf("index %d matched %q, want 42 and %q", r.Index, r.Matched, tc.matched)
			}
			if r.Unexpected != (tc.unexpected != "") || !strings.Contains(r.Reason, tc.unexpected) {
				t.Errorf("unexpected %v reason %q, want a reason containing %q", r.Unexpected, r.Reason, tc.unexpected)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestHasPrefixFold(t *testing.T) {
	for _, tc := range []struct {
		s, prefix string
		want      bool
	}{
		{"acme/x", "acme/", true},
		{"ACME/x", "acme/", true},
		{"\u212acme/x", "kcme/", true}, // Kelvin sign folds to k
		{"acm", "acme/", false},
		{"acme-x", "acme/", false},
		{"", "", true},
	} {
		if got := hasPrefixFold(tc.s, tc.prefix); got != tc.want {
			t.Errorf("hasPrefixFold(%q, %q) = %v", tc.s, tc.prefix, got)
		}
	}
}
