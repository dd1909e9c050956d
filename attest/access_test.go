package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func minimalAccess() map[string]any {
	return map[string]any{
		"system":      "kyc-workflow",
		"event_id":    "a-1",
		"time":        "2026-11-27T09:12:40Z",
		"actor":       map[string]any{"type": "person", "id": "analyst-17"},
		"action":      "read",
		"resource":    map[string]any{"type": "customer-file", "id": "cust-9"},
		"purpose":     "kyc-review",
		"legal_basis": "GDPR Art. 6(1)(c)",
	}
}

func fullAccess() map[string]any {
	m := minimalAccess()
	m["system"] = "clinic \"eu\" / é \U0001F600"
	m["time"] = "2026-11-27T09:12:40.123456789+05:30"
	m["actor"] = map[string]any{"type": "service", "id": commitment("Dr. Jane Doe")}
	m["action"] = "export"
	m["resource"] = map[string]any{"type": "patient-record", "id": commitment("patient 42")}
	m["records"] = []string{commitment("lab results"), commitment("notes"), commitment("lab results")}
	m["purpose"] = "treatment <&> \u2028"
	m["legal_basis"] = "HIPAA treatment"
	m["decision"] = map[string]any{"index": json.Number("9007199254740991")}
	m["labels"] = map[string]string{"ward": "3", "\U0001F600": "x", "\uFFFD": ""}
	return m
}

func expectedAccessEntry(t testing.TB, rec map[string]any) string {
	t.Helper()
	m := map[string]any{"kind": KindAccess}
	for k, v := range rec {
		m[k] = v
	}
	ref, err := refCanonical(parseGeneric(t, mustJSON(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := appendCanonical(nil, parseGenericStrings(t, mustJSON(t, m)))
	if err == nil && string(b) != ref {
		t.Fatalf("appendCanonical and the reference encoder disagree:\n%s\n%s", b, ref)
	}
	return ref
}

// parseGenericStrings decodes JSON for appendCanonical (integers as int64).
func parseGenericStrings(t testing.TB, b []byte) any {
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case json.Number:
			var u uint64
			fmt.Sscan(string(v), &u)
			return u
		}
		return v
	}
	return walk(parseGeneric(t, b))
}

func TestParseAccessValid(t *testing.T) {
	withID := minimalAccess()
	withID["decision"] = map[string]any{"decision_id": "k-1"}
	for _, rec := range []map[string]any{minimalAccess(), fullAccess(), withID} {
		b := mustJSON(t, rec)
		a, entry, err := ParseAccess(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		assertCanonical(t, entry)
		if want := expectedAccessEntry(t, rec); string(entry) != want {
			t.Fatalf("entry\n%s\nwant\n%s", entry, want)
		}
		ind, _ := json.MarshalIndent(rec, "", "\t")
		if _, entry2, err := ParseAccess(ind); err != nil || !bytes.Equal(entry, entry2) {
			t.Fatalf("indented: %v", err)
		}
		if KindOf(entry) != KindAccess || !ClaimsKind(entry) {
			t.Fatalf("KindOf %q ClaimsKind %v", KindOf(entry), ClaimsKind(entry))
		}
		re, err := ParseAccessEntry(b)
		if err != nil || re.System != a.System || re.Time != a.Time || !bytes.Equal(re.Entry, entry) {
			t.Fatal(err)
		}
	}
	a, _, _ := ParseAccess(mustJSON(t, fullAccess()))
	got := termStrings(a.Terms())
	want := []string{"access/v1 system=" + a.System, "access/v1 actor=" + commitment("Dr. Jane Doe"), "access/v1 resource=" + commitment("patient 42"),
		"access/v1 purpose=" + a.Purpose, "access/v1 event=a-1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("terms %q, want %q", got, want)
	}
}

func TestParseAccessRejects(t *testing.T) {
	edit := func(f func(m map[string]any)) []byte {
		m := minimalAccess()
		f(m)
		return mustJSON(t, m)
	}
	raw := string(mustJSON(t, minimalAccess()))
	rep := func(old, new string) []byte {
		if !strings.Contains(raw, old) {
			t.Fatalf("no %q in %s", old, raw)
		}
		return []byte(strings.Replace(raw, old, new, 1))
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"no event_id", edit(func(m map[string]any) { delete(m, "event_id") }), "event_id is required"},
		{"no actor", edit(func(m map[string]any) { delete(m, "actor") }), "actor.type is required"},
		{"actor type", edit(func(m map[string]any) { m["actor"] = map[string]any{"type": "Person", "id": "x"} }), "want person or service"},
		{"bad commitment id", edit(func(m map[string]any) { m["actor"] = map[string]any{"type": "person", "id": "SHA256:abc"} }), "not a commitment"},
		{"action", edit(func(m map[string]any) { m["action"] = "write" }), `action "write"`},
		{"no legal_basis", edit(func(m map[string]any) { delete(m, "legal_basis") }), "legal_basis is required"},
		{"empty resource type", edit(func(m map[string]any) { m["resource"] = map[string]any{"type": "", "id": "x"} }), "resource.type is required"},
		{"records not commitments", edit(func(m map[string]any) { m["records"] = []string{"row 7"} }), "records[0]"},
		{"decision both", edit(func(m map[string]any) { m["decision"] = map[string]any{"index": 1, "decision_id": "x"} }), "not both"},
		{"decision empty", edit(func(m map[string]any) { m["decision"] = map[string]any{} }), "give"},
		{"decision index 1.0", edit(func(m map[string]any) { m["decision"] = map[string]any{"index": json.Number("1.0")} }), "not a log index"},
		{"decision index 1e3", edit(func(m map[string]any) { m["decision"] = map[string]any{"index": json.Number("1e3")} }), "not a log index"},
		{"decision index 2^64", edit(func(m map[string]any) { m["decision"] = map[string]any{"index": json.Number("18446744073709551616")} }), "not a log index"},
		{"decision index 2^53", edit(func(m map[string]any) { m["decision"] = map[string]any{"index": json.Number("9007199254740992")} }), "not a log index (an integer 0…9007199254740991)"},
		{"unknown", edit(func(m map[string]any) { m["name"] = "Jane" }), `unknown field "name"`},
		{"case variant", rep(`"purpose"`, `"PURPOSE"`), `unknown field "PURPOSE"`},
		{"duplicate", rep(`"purpose":"kyc-review"`, `"purpose":"kyc-review","purpose":"x"`), `duplicate field "purpose"`},
		{"duplicate in actor", rep(`"type":"person"`, `"type":"person","type":"service"`), `actor: duplicate field "type"`},
		{"null", rep(`"kyc-review"`, `null`), "not null"},
		{"lone surrogate", rep(`kyc-review`, `kyc\ud800review`), "lone UTF-16 surrogate"},
		{"invalid UTF-8", rep(`kyc-review`, "kyc\xffreview"), "not valid UTF-8"},
		{"oversize", rep(`{`, "{"+strings.Repeat(" ", MaxAccessSize)), "longer than the limit"},
		{"bad time", edit(func(m map[string]any) { m["time"] = "2026-11-27T09:12:40+24:00" }), "RFC 3339"},
		{"trailing", []byte(raw + "{}"), "trailing data"},
	} {
		_, _, err := ParseAccess(tc.b)
		wantErr(t, err, ErrInvalid, tc.want)
	}
	a, _, err := ParseAccess(mustJSON(t, minimalAccess()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxRecords + 1 {
		a.Records = append(a.Records, commitment(fmt.Sprint(i)))
	}
	wantErr(t, a.Validate(), ErrInvalid, "records has 257 commitments, at most 256")
	a.Records = a.Records[:MaxRecords]
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func jsonAccess(b []byte) (*Access, error) {
	var a Access
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("trailing data %q", rest)
	}
	return &a, nil
}

func normalizeAccess(a *Access) Access {
	n := *a
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	if len(n.Records) == 0 {
		n.Records = nil
	}
	return n
}

// FuzzParseAccessJSON checks the access reader against encoding/json as
// FuzzParseDecisionJSON does decisions.
func FuzzParseAccessJSON(f *testing.F) {
	for _, rec := range []map[string]any{minimalAccess(), fullAccess()} {
		f.Add(mustJSON(f, rec))
		ind, _ := json.MarshalIndent(rec, " ", "\t")
		f.Add(ind)
	}
	raw := string(mustJSON(f, minimalAccess()))
	for _, s := range []string{
		strings.Replace(raw, `"kyc-review"`, `"caf\u00e9 \ud83d\ude00 \/ \" \\ \b\f\n\r\t"`, 1),
		strings.Replace(raw, `"kyc-review"`, `"lone \ud800 high"`, 1),
		strings.Replace(raw, `}`, `,"decision":{"index":0}}`, 1),
		strings.Replace(raw, `}`, `,"decision":{"index":-0}}`, 1),
		strings.Replace(raw, `}`, `,"decision":{"index":1e2}}`, 1),
		strings.Replace(raw, `}`, `,"decision":{"decision_id":"x"},"records":[]}`, 1),
		`{"actor":{"type":"person","type":"service"}}`,
		`{"Purpose":"x"}`,
		`{"decision":null}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		a := &Access{}
		r := &jsonReader{b: b, s: string(b)}
		err := a.read(r)
		if err == nil {
			if r.ws(); r.i != len(r.b) {
				err = r.fail("trailing data")
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), "lone UTF-16 surrogate") && checkJSONText(b) == nil {
				t.Fatalf("refused %q for a lone surrogate, checkJSONText did not", b)
			}
			return
		}
		if err := checkJSONText(b); err != nil {
			t.Fatalf("accepted %q, checkJSONText did not: %v", b, err)
		}
		ja, jerr := jsonAccess(b)
		if jerr != nil {
			t.Fatalf("accepted %q, encoding/json did not: %v", b, jerr)
		}
		if got, want := normalizeAccess(a), normalizeAccess(ja); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nours          %+v\nencoding/json %+v", b, got, want)
		}
		if a.Validate() != nil {
			return
		}
		entry := a.Canonical()
		assertCanonical(t, entry)
		back, _, err := ParseAccess(bytes.Replace(entry, []byte(`,"kind":"access/v1"`), nil, 1))
		if err != nil {
			t.Fatalf("entry %s does not parse back: %v", entry, err)
		}
		if !bytes.Equal(back.Canonical(), entry) {
			t.Fatalf("entry not stable: %s then %s", entry, back.Canonical())
		}
	})
}

func TestTimeBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := TimeBounds{Now: now, MaxSkew: 24 * 3600e9, MaxAge: 3600e9}
	for _, tc := range []struct {
		time, want string
	}{
		{"2026-12-02T12:00:00Z", ""},
		{"2026-12-02T13:00:00+01:00", ""},
		{"2026-12-02T12:00:00.000000001Z", "is 24h0m0.000000001s ahead of the log's clock (--max-clock-skew 24h)"},
		{"2026-12-02T12:00:01Z", "is 24h0m1s ahead of the log's clock (--max-clock-skew 24h)"},
		{"2026-12-02T14:00:00Z", "time 2026-12-02T14:00:00Z is 26h ahead of the log's clock (--max-clock-skew 24h)"},
		{"2026-12-01T11:00:00Z", ""},
		{"2026-12-01T10:59:59Z", "is 1h0m1s older than the log's clock (--max-record-age 1h)"},
	} {
		err := b.Check(tc.time)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.time, err)
			}
			continue
		}
		wantErr(t, err, ErrInvalid, tc.want)
	}
	if err := (TimeBounds{Now: now, MaxSkew: -1}).Check("2999-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
}
