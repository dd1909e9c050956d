package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func commitment(s string) string { return "sha256:" + sha256Hex(s) }

// Decision records as generic maps, the shape a client would send.
func minimalRecord() map[string]any {
	return map[string]any{
		"system":      "support-bot",
		"decision_id": "d-0001",
		"time":        "2026-03-04T05:06:07Z",
		"model":       map[string]any{"name": "acme/llm-7b", "version": "1.2.0"},
		"commitments": map[string]any{"input": commitment("in"), "output": commitment("out")},
	}
}

func fullRecord() map[string]any {
	return map[string]any{
		"system":      "kyc-screening \"eu\" / é \U0001F600",
		"decision_id": "01HZX3\\Q<&>\u2028",
		"time":        "2026-03-04T05:06:07.123456789+05:30",
		"actor":       "user:7f3a",
		"outcome":     "escalated",
		"labels":      map[string]string{"region": "eu-west", "tier": "gold", "\U0001F600": "emoji key", "\uFFFD": "replacement", "empty": ""},
		"model":       map[string]any{"name": "acme/llm-7b", "version": "1.2.0", "digest": commitment("weights")},
		"commitments": map[string]any{
			"input":         commitment("in"),
			"output":        commitment("out"),
			"rationale":     commitment("why"),
			"data_accessed": []string{commitment("db1"), commitment("db2"), commitment("db1")},
		},
	}
}

// expectedEntry is the entry of a record computed independently of
// Decision.Canonical: the record's map with the kind added, through
// appendCanonical and, as a second oracle, the reference encoder.
func expectedEntry(t testing.TB, rec map[string]any) []byte {
	t.Helper()
	m := map[string]any{"kind": "decision/v1"}
	for k, v := range rec {
		m[k] = v
	}
	b, err := appendCanonical(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := refCanonical(m); err != nil || ref != string(b) {
		t.Fatalf("appendCanonical and the reference encoder disagree:\n%s\n%s (%v)", b, ref, err)
	}
	return b
}

// jsonDecision decodes a record with encoding/json, strictly: the oracle
// for the package's own JSON reader.
func jsonDecision(b []byte) (*Decision, error) {
	var d Decision
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("trailing data %q", rest)
	}
	return &d, nil
}

// normalize makes nil and empty labels and data_accessed equal.
func normalize(d *Decision) Decision {
	n := *d
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	if len(n.Commitments.DataAccessed) == 0 {
		n.Commitments.DataAccessed = nil
	}
	return n
}

func TestParseDecisionValid(t *testing.T) {
	withDigest := minimalRecord()
	withDigest["model"].(map[string]any)["digest"] = commitment("w")
	pair := minimalRecord()
	pair["outcome"] = "a\U0001F600b \U0010FFFF\" \uFFFD"
	for name, rec := range map[string]map[string]any{
		"minimal":         minimalRecord(),
		"full":            fullRecord(),
		"model digest":    withDigest,
		"surrogate pairs": pair,
	} {
		t.Run(name, func(t *testing.T) {
			line := mustJSON(t, rec)
			if name == "surrogate pairs" {
				line = bytes.Replace(line, mustJSON(t, pair["outcome"]), []byte(`"a\ud83d\ude00b \udbff\udfff\" \ufffd"`), 1)
			}
			d, entry, err := ParseDecision(line)
			if err != nil {
				t.Fatal(err)
			}
			if want := expectedEntry(t, rec); !bytes.Equal(entry, want) {
				t.Errorf("entry\n got %s\nwant %s", entry, want)
			}
			assertCanonical(t, entry)
			if !bytes.Equal(d.Canonical(), entry) {
				t.Errorf("Canonical() differs from the returned entry")
			}
			jd, err := jsonDecision(line)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, jd) {
				t.Errorf("decoded\n got %+v\nwant %+v", d, jd)
			}
			if err := d.Validate(); err != nil {
				t.Errorf("Validate after ParseDecision: %v", err)
			}
		})
	}
}

func TestDecisionTerms(t *testing.T) {
	d, _, err := ParseDecision(mustJSON(t, minimalRecord()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"decision/v1 system=support-bot", "decision/v1 model=acme/llm-7b"}
	if got := termStrings(d.Terms()); !slices.Equal(got, want) {
		t.Errorf("Terms = %q, want %q", got, want)
	}
	d, _, err = ParseDecision(mustJSON(t, fullRecord()))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"decision/v1 system=kyc-screening \"eu\" / é \U0001F600", "decision/v1 model=acme/llm-7b", "decision/v1 digest=" + commitment("weights")}
	if got := termStrings(d.Terms()); !slices.Equal(got, want) {
		t.Errorf("Terms = %q, want %q", got, want)
	}
}

func termStrings(terms [][]byte) []string {
	var s []string
	for _, t := range terms {
		s = append(s, string(t))
	}
	return s
}

// TestParseDecisionVariants: the same record with other key orders,
// whitespace and string escapes gives the same entry.
func TestParseDecisionVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, rec := range []map[string]any{minimalRecord(), fullRecord()} {
		_, want, err := ParseDecision(mustJSON(t, rec))
		if err != nil {
			t.Fatal(err)
		}
		indented, err := json.MarshalIndent(rec, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		variants := [][]byte{indented, append(append([]byte(" \r\n\t"), indented...), " \n"...)}
		for range 300 {
			variants = append(variants, looseJSON(rng, rec))
		}
		for _, v := range variants {
			_, got, err := ParseDecision(v)
			if err != nil {
				t.Fatalf("%v\n%s", err, v)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("variant\n%s\ngives %s\nwant  %s", v, got, want)
			}
		}
	}
}

// looseJSON writes v with shuffled keys, random whitespace and random
// (valid) escapes.
func looseJSON(rng *rand.Rand, v any) []byte {
	var b []byte
	ws := func() {
		for range rng.IntN(3) {
			b = append(b, " \t\r\n"[rng.IntN(4)])
		}
	}
	var enc func(v any)
	enc = func(v any) {
		switch v := v.(type) {
		case string:
			b = looseString(rng, b, v)
		case []string:
			b = append(b, '[')
			ws()
			for i, s := range v {
				if i > 0 {
					ws()
					b = append(b, ',')
					ws()
				}
				b = looseString(rng, b, s)
			}
			ws()
			b = append(b, ']')
		case map[string]string:
			m := map[string]any{}
			for k, s := range v {
				m[k] = s
			}
			enc(m)
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			b = append(b, '{')
			ws()
			for i, k := range keys {
				if i > 0 {
					ws()
					b = append(b, ',')
					ws()
				}
				b = looseString(rng, b, k)
				ws()
				b = append(b, ':')
				ws()
				enc(v[k])
			}
			ws()
			b = append(b, '}')
		default:
			panic(fmt.Sprintf("looseJSON: %T", v))
		}
	}
	ws()
	enc(v)
	ws()
	return b
}

func looseString(rng *rand.Rand, b []byte, s string) []byte {
	u := func(r rune) {
		for _, c := range utf16.Encode([]rune{r}) {
			if rng.IntN(2) == 0 {
				b = fmt.Appendf(b, `\u%04x`, c)
			} else {
				b = fmt.Appendf(b, `\u%04X`, c)
			}
		}
	}
	b = append(b, '"')
	for _, r := range s {
		coin := rng.IntN(4) == 0
		switch {
		case r == '"' || r == '\\':
			if coin {
				u(r)
			} else {
				b = append(b, '\\', byte(r))
			}
		case r < 0x20:
			u(r)
		case r == '/' && coin:
			b = append(b, '\\', '/')
		case coin:
			u(r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// TestDecisionCanonicalRandom: Canonical matches the map oracle for random
// valid decisions, built directly.
func TestDecisionCanonicalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func(min int) string {
		var b strings.Builder
		for b.Len() < min || rng.IntN(3) > 0 {
			r := awkwardRunes[rng.IntN(len(awkwardRunes))]
			if r < 0x20 || r == 0x7f {
				continue
			}
			b.WriteRune(r)
			if b.Len() > 40 {
				break
			}
		}
		return b.String()
	}
	opt := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return str(1)
	}
	optCommit := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return commitment(str(0))
	}
	for i := range 1000 {
		d := &Decision{
			System: str(1), DecisionID: str(1), Time: "2026-01-02T03:04:05Z",
			Model:       Model{Name: str(1), Version: str(1), Digest: optCommit()},
			Actor:       opt(),
			Outcome:     opt(),
			Commitments: Commitments{Input: commitment(str(0)), Output: commitment(str(0)), Rationale: optCommit()},
		}
		if n := rng.IntN(4); n > 0 {
			d.Labels = map[string]string{}
			for range n {
				d.Labels[str(1)] = str(0)
			}
		}
		for range rng.IntN(3) {
			d.Commitments.DataAccessed = append(d.Commitments.DataAccessed, commitment(str(0)))
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("decision %d: %v", i, err)
		}
		// The map oracle, with optional fields omitted when empty.
		rec := map[string]any{
			"system": d.System, "decision_id": d.DecisionID, "time": d.Time,
		}
		model := map[string]any{"name": d.Model.Name, "version": d.Model.Version}
		if d.Model.Digest != "" {
			model["digest"] = d.Model.Digest
		}
		rec["model"] = model
		c := map[string]any{"input": d.Commitments.Input, "output": d.Commitments.Output}
		if d.Commitments.Rationale != "" {
			c["rationale"] = d.Commitments.Rationale
		}
		if len(d.Commitments.DataAccessed) > 0 {
			c["data_accessed"] = d.Commitments.DataAccessed
		}
		rec["commitments"] = c
		if d.Actor != "" {
			rec["actor"] = d.Actor
		}
		if d.Outcome != "" {
			rec["outcome"] = d.Outcome
		}
		if len(d.Labels) > 0 {
			rec["labels"] = d.Labels
		}
		got, want := d.Canonical(), expectedEntry(t, rec)
		if !bytes.Equal(got, want) {
			t.Fatalf("decision %d:\n got %s\nwant %s", i, got, want)
		}
		// And the entry, without its kind, parses back to the decision.
		back, err := parseDecisionJSON(bytes.Replace(got, []byte(`,"kind":"decision/v1"`), nil, 1))
		if err != nil {
			t.Fatalf("decision %d: entry does not parse back: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(d)) {
			t.Fatalf("decision %d: round trip\n got %+v\nwant %+v", i, back, d)
		}
	}
}

// record returns the minimal record's JSON with edit applied to its map.
func record(t testing.TB, edit func(m map[string]any)) []byte {
	m := minimalRecord()
	edit(m)
	return mustJSON(t, m)
}

func model(m map[string]any) map[string]any       { return m["model"].(map[string]any) }
func commitments(m map[string]any) map[string]any { return m["commitments"].(map[string]any) }

func TestParseDecisionRejects(t *testing.T) {
	good := string(mustJSON(t, minimalRecord()))
	// replace edits the minimal record's JSON text.
	replace := func(old, new string) []byte {
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return []byte(strings.Replace(good, old, new, 1))
	}
	labels := func(n int) map[string]string {
		l := map[string]string{}
		for i := range n {
			l[fmt.Sprintf("k%02d", i)] = "v"
		}
		return l
	}
	h := sha256Hex("x")
	pad := func(n int) []byte {
		b := mustJSON(t, minimalRecord())
		return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	}
	for _, tc := range []struct {
		name string
		line []byte
		msg  []string
	}{
		// Required fields.
		{"no system", record(t, func(m map[string]any) { delete(m, "system") }), []string{"system is required"}},
		{"no decision_id", record(t, func(m map[string]any) { delete(m, "decision_id") }), []string{"decision_id is required"}},
		{"no time", record(t, func(m map[string]any) { delete(m, "time") }), []string{"time is required"}},
		{"no model", record(t, func(m map[string]any) { delete(m, "model") }), []string{"model.name is required"}},
		{"no model.name", record(t, func(m map[string]any) { delete(model(m), "name") }), []string{"model.name is required"}},
		{"no model.version", record(t, func(m map[string]any) { delete(model(m), "version") }), []string{"model.version is required"}},
		{"no commitments", record(t, func(m map[string]any) { delete(m, "commitments") }), []string{"commitments.input is required"}},
		{"no commitments.input", record(t, func(m map[string]any) { delete(commitments(m), "input") }), []string{"commitments.input is required"}},
		{"no commitments.output", record(t, func(m map[string]any) { delete(commitments(m), "output") }), []string{"commitments.output is required"}},
		{"empty object", []byte(`{}`), []string{"system is required"}},
		// Empty strings.
		{"empty system", record(t, func(m map[string]any) { m["system"] = "" }), []string{"system is required"}},
		{"empty decision_id", record(t, func(m map[string]any) { m["decision_id"] = "" }), []string{"decision_id is required"}},
		{"empty time", record(t, func(m map[string]any) { m["time"] = "" }), []string{"time is required"}},
		{"empty model.name", record(t, func(m map[string]any) { model(m)["name"] = "" }), []string{"model.name is required"}},
		{"empty model.version", record(t, func(m map[string]any) { model(m)["version"] = "" }), []string{"model.version is required"}},
		{"empty input", record(t, func(m map[string]any) { commitments(m)["input"] = "" }), []string{"commitments.input is required"}},
		{"empty output", record(t, func(m map[string]any) { commitments(m)["output"] = "" }), []string{"commitments.output is required"}},
		// Commitments.
		{"input without prefix", record(t, func(m map[string]any) { commitments(m)["input"] = h }), []string{"commitments.input", "sha256:<64 lowercase hex>"}},
		{"input uppercase hex", record(t, func(m map[string]any) { commitments(m)["input"] = "sha256:" + strings.ToUpper(h) }), []string{"commitments.input"}},
		{"input uppercase prefix", record(t, func(m map[string]any) { commitments(m)["input"] = "SHA256:" + h }), []string{"commitments.input"}},
		{"input 63 hex", record(t, func(m map[string]any) { commitments(m)["input"] = "sha256:" + h[:63] }), []string{"commitments.input"}},
		{"input 65 hex", record(t, func(m map[string]any) { commitments(m)["input"] = "sha256:" + h + "a" }), []string{"commitments.input"}},
		{"input sha512", record(t, func(m map[string]any) { commitments(m)["input"] = "sha512:" + h + h }), []string{"commitments.input"}},
		{"input trailing space", record(t, func(m map[string]any) { commitments(m)["input"] = "sha256:" + h + " " }), []string{"commitments.input"}},
		{"output not hex", record(t, func(m map[string]any) { commitments(m)["output"] = "sha256:" + strings.Repeat("z", 64) }), []string{"commitments.output"}},
		{"rationale bad", record(t, func(m map[string]any) { commitments(m)["rationale"] = "because" }), []string{"commitments.rationale"}},
		{"data_accessed bad", record(t, func(m map[string]any) {
			commitments(m)["data_accessed"] = []string{commitment("a"), "sha256:" + h[:10]}
		}), []string{"data_accessed[1]"}},
		{"model.digest bad", record(t, func(m map[string]any) { model(m)["digest"] = "sha256:" + strings.ToUpper(h) }), []string{"model.digest"}},
		{"model.digest no prefix", record(t, func(m map[string]any) { model(m)["digest"] = h }), []string{"model.digest"}},
		// Time.
		{"month 13", record(t, func(m map[string]any) { m["time"] = "2026-13-01T00:00:00Z" }), []string{"time", "RFC 3339"}},
		{"yesterday", record(t, func(m map[string]any) { m["time"] = "yesterday" }), []string{"time", "RFC 3339"}},
		{"no timezone", record(t, func(m map[string]any) { m["time"] = "2026-01-01T00:00:00" }), []string{"time", "RFC 3339"}},
		{"date only", record(t, func(m map[string]any) { m["time"] = "2026-01-01" }), []string{"time"}},
		{"space separator", record(t, func(m map[string]any) { m["time"] = "2026-01-01 00:00:00Z" }), []string{"time"}},
		{"unix seconds", record(t, func(m map[string]any) { m["time"] = "1767225600" }), []string{"time"}},
		{"February 30", record(t, func(m map[string]any) { m["time"] = "2026-02-30T00:00:00Z" }), []string{"time"}},
		{"hour 24", record(t, func(m map[string]any) { m["time"] = "2026-01-01T24:00:00Z" }), []string{"time"}},
		{"compact offset", record(t, func(m map[string]any) { m["time"] = "2026-01-01T00:00:00+0100" }), []string{"time"}},
		{"time over 40 bytes", record(t, func(m map[string]any) { m["time"] = "2026-01-01T00:00:00." + strings.Repeat("1", 30) + "Z" }), []string{"time"}},
		{"trailing space in time", record(t, func(m map[string]any) { m["time"] = "2026-01-01T00:00:00Z " }), []string{"time"}},
		// Size and encoding.
		{"longer than MaxDecisionSize", pad(MaxDecisionSize + 1), []string{fmt.Sprint(MaxDecisionSize + 1), fmt.Sprint(MaxDecisionSize)}},
		{"invalid UTF-8", replace(`"support-bot"`, "\"support-\xffbot\""), []string{"UTF-8"}},
		{"invalid UTF-8 outside strings", append([]byte(good), 0xc3), []string{"UTF-8"}},
		{"BOM", append([]byte("\uFEFF"), good...), []string{"must be an object"}},
		// Unknown, duplicate, null and mistyped fields.
		{"unknown field", record(t, func(m map[string]any) { m["extra"] = "x" }), []string{`unknown field "extra"`}},
		{"kind field", record(t, func(m map[string]any) { m["kind"] = "decision/v1" }), []string{`unknown field "kind"`}},
		{"field name case", replace(`"system"`, `"System"`), []string{`unknown field "System"`}},
		{"unknown model field", record(t, func(m map[string]any) { model(m)["size"] = "7b" }), []string{`unknown field "size" in model`}},
		{"unknown commitments field", record(t, func(m map[string]any) { commitments(m)["prompt"] = commitment("p") }), []string{`unknown field "prompt" in commitments`}},
		{"duplicate field", replace(`{`, `{"system":"other",`), []string{"duplicate field", `"system"`}},
		{"duplicate escaped field", replace(`{`, `{"\u0073ystem":"other",`), []string{"duplicate field", `"system"`}},
		{"duplicate model field", replace(`"name":`, `"version":"0","name":`), []string{"duplicate field", `"version"`}},
		{"duplicate label", replace(`{`, `{"labels":{"a":"1","b":"2","a":"3"},`), []string{"duplicate field", `"a"`}},
		{"null system", replace(`"support-bot"`, `null`), []string{"system must be a string, not null"}},
		{"null model", record(t, func(m map[string]any) { m["model"] = nil }), []string{"model must be an object"}},
		{"null labels", record(t, func(m map[string]any) { m["labels"] = nil }), []string{"labels must be an object"}},
		{"null label value", record(t, func(m map[string]any) { m["labels"] = map[string]any{"a": nil} }), []string{"not null"}},
		{"null data_accessed", record(t, func(m map[string]any) { commitments(m)["data_accessed"] = nil }), []string{"data_accessed must be an array"}},
		{"null in data_accessed", record(t, func(m map[string]any) { commitments(m)["data_accessed"] = []any{nil} }), []string{"not null"}},
		{"number decision_id", record(t, func(m map[string]any) { m["decision_id"] = 42 }), []string{"decision_id must be a string"}},
		{"number time", record(t, func(m map[string]any) { m["time"] = 1767225600 }), []string{"time must be a string"}},
		{"number label", record(t, func(m map[string]any) { m["labels"] = map[string]any{"a": 1} }), []string{"must be a string"}},
		{"number in data_accessed", record(t, func(m map[string]any) { commitments(m)["data_accessed"] = []any{1} }), []string{"must be a string"}},
		{"bool actor", record(t, func(m map[string]any) { m["actor"] = true }), []string{"actor must be a string"}},
		{"model string", record(t, func(m map[string]any) { m["model"] = "acme/llm" }), []string{"model must be an object"}},
		{"labels array", record(t, func(m map[string]any) { m["labels"] = []string{"a"} }), []string{"labels must be an object"}},
		{"data_accessed string", record(t, func(m map[string]any) { commitments(m)["data_accessed"] = commitment("a") }), []string{"must be an array"}},
		// Control characters.
		{"escaped control in system", replace(`"support-bot"`, `"support\u0001bot"`), []string{"system contains control characters"}},
		{"escaped newline in system", replace(`"support-bot"`, `"support\nbot"`), []string{"system contains control characters"}},
		{"DEL in system", replace(`"support-bot"`, "\"support\x7fbot\""), []string{"system contains control characters"}},
		{"raw tab in system", replace(`"support-bot"`, "\"support\tbot\""), []string{"control character in string"}},
		{"raw newline in system", replace(`"support-bot"`, "\"support\nbot\""), []string{"control character in string"}},
		{"control in decision_id", record(t, func(m map[string]any) { m["decision_id"] = "d\x00" }), []string{"decision_id contains control"}},
		{"control in actor", record(t, func(m map[string]any) { m["actor"] = "a\x1b[31m" }), []string{"actor contains control"}},
		{"control in outcome", record(t, func(m map[string]any) { m["outcome"] = "ok\r" }), []string{"outcome contains control"}},
		{"control in model.name", record(t, func(m map[string]any) { model(m)["name"] = "m\x05" }), []string{"model.name contains control"}},
		{"control in label key", record(t, func(m map[string]any) { m["labels"] = map[string]string{"k\t": "v"} }), []string{"label key"}},
		{"control in label value", record(t, func(m map[string]any) { m["labels"] = map[string]string{"k": "v\n"} }), []string{`label "k"`}},
		// Limits.
		{"33 labels", record(t, func(m map[string]any) { m["labels"] = labels(MaxLabels + 1) }), []string{"33 labels", "at most 32"}},
		{"empty label key", record(t, func(m map[string]any) { m["labels"] = map[string]string{"": "v"} }), []string{"label key"}},
		{"label key 65 bytes", record(t, func(m map[string]any) { m["labels"] = map[string]string{strings.Repeat("k", 65): "v"} }), []string{"label key"}},
		{"label value 257 bytes", record(t, func(m map[string]any) { m["labels"] = map[string]string{"k": strings.Repeat("v", 257)} }), []string{`label "k"`}},
		{"system 257 bytes", record(t, func(m map[string]any) { m["system"] = strings.Repeat("s", 257) }), []string{"system is longer than 256"}},
		{"actor 257 bytes", record(t, func(m map[string]any) { m["actor"] = strings.Repeat("é", 128) + "a" }), []string{"actor is longer than 256"}},
		// Syntax.
		{"trailing data", append([]byte(good), " x"...), []string{"trailing data"}},
		{"trailing brace", append([]byte(good), "}"...), []string{"trailing data"}},
		{"two values", append([]byte(good), good...), []string{"trailing data"}},
		{"two values spaced", []byte(good + " " + good), []string{"trailing data"}},
		{"truncated", []byte(good[:len(good)-1]), []string{"end of JSON"}},
		{"trailing comma", replace(`"support-bot"`, `"support-bot",`), nil},
		{"trailing comma in object", []byte(good[:len(good)-1] + ",}"), nil},
		{"single quotes", replace(`"support-bot"`, `'support-bot'`), nil},
		{"bad escape", replace(`"support-bot"`, `"support\x41bot"`), []string{`bad escape`}},
		{"short unicode escape", replace(`"support-bot"`, `"support\u41"`), []string{`bad \u escape`}},
		{"uppercase U escape", replace(`"support-bot"`, `"support\U0041"`), []string{`bad escape`}},
		{"bad escape after surrogate", replace(`"support-bot"`, `"\ud83d\uzzzz"`), []string{`bad \u escape`}},
		// A lone surrogate is refused, not read as U+FFFD (issue 9).
		{"lone high surrogate", replace(`"support-bot"`, `"a\ud800b"`), []string{"system", `lone UTF-16 surrogate \ud800`}},
		{"lone high surrogate at end", replace(`"support-bot"`, `"a\uDBFF"`), []string{`\udbff`}},
		{"lone low surrogate", replace(`"support-bot"`, `"\udc00x"`), []string{`lone UTF-16 surrogate \udc00`}},
		{"reversed pair", replace(`"support-bot"`, `"\udc00\ud800"`), []string{`\udc00`}},
		{"high then high then low", replace(`"support-bot"`, `"\ud800\ud800\udc00"`), []string{`\ud800`}},
		{"high then BMP escape", replace(`"support-bot"`, `"\ud800\u0041"`), []string{`\ud800`}},
		{"high then escape", replace(`"support-bot"`, `"\ud800\n"`), []string{`\ud800`}},
		{"lone surrogate in key", []byte(`{"\ud800":"x"}`), []string{`\ud800`}},
		{"lone surrogate in label", replace(`"support-bot"`, `"support-bot","labels":{"k":"\udfff"}`), []string{`label "k"`, `\udfff`}},
		{"invalid UTF-8", replace(`"support-bot"`, "\"support\xffbot\""), []string{"UTF-8"}},
		{"encoded surrogate UTF-8", replace(`"support-bot"`, "\"support\xed\xa0\x80bot\""), []string{"UTF-8"}},
		{"form feed as whitespace", replace(`,"time"`, "\f,\"time\""), nil},
		{"vertical tab as whitespace", []byte("\v" + good), nil},
		{"no-break space as whitespace", replace(`,"time"`, "\u00a0,\"time\""), nil},
		{"array", []byte(`[` + good + `]`), []string{"must be an object"}},
		{"string", []byte(`"x"`), []string{"must be an object"}},
		{"null", []byte(`null`), []string{"must be an object"}},
		{"empty", []byte(``), []string{"end of JSON"}},
		{"whitespace", []byte(" \t\r\n"), []string{"end of JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, entry, err := ParseDecision(tc.line)
			if d != nil || entry != nil {
				t.Errorf("returned %+v, %s with the error", d, entry)
			}
			wantErr(t, err, ErrInvalid, tc.msg...)
		})
	}
}

// TestParseDecisionLimits: the boundaries of the limits are accepted.
func TestParseDecisionLimits(t *testing.T) {
	b := mustJSON(t, minimalRecord())
	exact := append(bytes.Clone(b), bytes.Repeat([]byte(" "), MaxDecisionSize-len(b))...)
	if _, entry, err := ParseDecision(exact); err != nil || !bytes.Equal(entry, expectedEntry(t, minimalRecord())) {
		t.Errorf("record of exactly MaxDecisionSize bytes: %v", err)
	}
	var data []string
	for i := range 100 {
		data = append(data, commitment(fmt.Sprint(i)))
	}
	for name, rec := range map[string]map[string]any{
		"32 labels at full size": func() map[string]any {
			m := minimalRecord()
			m["labels"] = map[string]string{}
			for i := range MaxLabels {
				m["labels"].(map[string]string)[fmt.Sprintf("%064d", i)] = strings.Repeat("v", 200)
			}
			return m
		}(),
		"256-byte fields": func() map[string]any {
			m := minimalRecord()
			m["system"] = strings.Repeat("s", 256)
			m["actor"] = strings.Repeat("é", 128)
			model(m)["version"] = strings.Repeat("1", 256)
			return m
		}(),
		"100 data_accessed": func() map[string]any {
			m := minimalRecord()
			commitments(m)["data_accessed"] = data
			return m
		}(),
		"empty labels and data_accessed": func() map[string]any {
			m := minimalRecord()
			m["labels"] = map[string]string{}
			commitments(m)["data_accessed"] = []string{}
			return m
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			line := mustJSON(t, rec)
			d, entry, err := ParseDecision(line)
			if err != nil {
				t.Fatalf("%v (%d bytes)", err, len(line))
			}
			// Empty labels and data_accessed are omitted from the entry.
			if l, ok := rec["labels"].(map[string]string); ok && len(l) == 0 {
				delete(rec, "labels")
			}
			if da, ok := commitments(rec)["data_accessed"].([]string); ok && len(da) == 0 {
				delete(commitments(rec), "data_accessed")
			}
			if want := expectedEntry(t, rec); !bytes.Equal(entry, want) {
				t.Errorf("entry\n got %s\nwant %s", entry, want)
			}
			if d.Validate() != nil {
				t.Errorf("Validate: %v", d.Validate())
			}
		})
	}
}

// TestParseDecisionTimeIsRFC3339: the time must be RFC 3339 (§5.6), which
// has '.' before fractional seconds and offsets of 00:00 to 23:59;
// time.Parse(time.RFC3339Nano) also takes ',' and out-of-range offsets.
func TestParseDecisionTimeIsRFC3339(t *testing.T) {
	for _, ok := range []string{
		"2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00.5Z",
		"2026-01-01T00:00:00.123456789+05:30",
		"2026-12-31T23:59:59-00:00",
		"2026-06-30T12:00:00+23:59",
	} {
		rec := minimalRecord()
		rec["time"] = ok
		if _, entry, err := ParseDecision(mustJSON(t, rec)); err != nil || !bytes.Contains(entry, []byte(`"time":"`+ok+`"`)) {
			t.Errorf("time %q: %v, %s", ok, err, entry)
		}
	}
	for _, bad := range []string{
		"2026-01-01T00:00:00,5Z",    // comma: not in RFC 3339's time-secfrac
		"2026-01-01T00:00:00+24:00", // time-hour is 00-23
		"2026-01-01T00:00:00+01:60", // time-minute is 00-59
	} {
		rec := minimalRecord()
		rec["time"] = bad
		if _, entry, err := ParseDecision(mustJSON(t, rec)); err == nil {
			t.Errorf("time %q is not RFC 3339 but was accepted: %s", bad, entry)
		}
	}
}

func TestParseDecisions(t *testing.T) {
	recs := []map[string]any{minimalRecord(), fullRecord(), minimalRecord()}
	recs[2]["decision_id"] = "d-0002"
	var lines [][]byte
	for _, r := range recs {
		lines = append(lines, mustJSON(t, r))
	}
	for name, body := range map[string][]byte{
		"LF":              bytes.Join(lines, []byte("\n")),
		"LF final":        append(bytes.Join(lines, []byte("\n")), '\n'),
		"CRLF":            append(bytes.Join(lines, []byte("\r\n")), "\r\n"...),
		"blank lines":     []byte("\n\n" + string(lines[0]) + "\n\n \t \r\n" + string(lines[1]) + "\r\n\r\n" + string(lines[2]) + "\n\n"),
		"indented lines":  []byte("  " + string(lines[0]) + "  \n\t" + string(lines[1]) + "\n" + string(lines[2]) + " \r\n"),
		"looser encoding": bytes.Join([][]byte{lines[0], lines[1], bytes.ReplaceAll(bytes.ReplaceAll(lines[2], []byte(`":`), []byte(`" :	`)), []byte(`,"`), []byte(` , "`))}, []byte("\n")),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDecisions(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs) {
				t.Fatalf("%d entries, want %d", len(got), len(recs))
			}
			for i, r := range recs {
				d, _, err := ParseDecision(lines[i])
				if err != nil {
					t.Fatal(err)
				}
				if want := expectedEntry(t, r); !bytes.Equal(got[i].Entry, want) {
					t.Errorf("entry %d\n got %s\nwant %s", i, got[i].Entry, want)
				}
				if !reflect.DeepEqual(got[i].Terms, d.Terms()) {
					t.Errorf("terms %d = %q, want %q", i, got[i].Terms, d.Terms())
				}
			}
		})
	}
}

func TestParseDecisionsBadLines(t *testing.T) {
	good := string(mustJSON(t, minimalRecord()))
	noSystem := string(record(t, func(m map[string]any) { delete(m, "system") }))
	body := strings.Join([]string{
		good,          // 1
		"",            // 2
		noSystem,      // 3
		good,          // 4
		"not json",    // 5
		"   ",         // 6
		good + "\r",   // 7
		good + " x\r", // 8
		good,          // 9
	}, "\n")
	entries, err := ParseDecisions([]byte(body))
	if entries != nil {
		t.Errorf("entries returned with the error")
	}
	wantErr(t, err, ErrInvalid, "3 of 7 records rejected", "line 3: system is required", "line 5:", "line 8:", "trailing data")
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %T is not a *BatchError", err)
	}
	if be.Records != 7 {
		t.Errorf("Records = %d, want 7", be.Records)
	}
	var lines []int
	for _, l := range be.Lines {
		lines = append(lines, l.Line)
		if !errors.Is(l.Err, ErrInvalid) {
			t.Errorf("line %d: %v does not wrap ErrInvalid", l.Line, l.Err)
		}
		if strings.HasPrefix(l.Reason(), "invalid") || l.Reason() == "" {
			t.Errorf("line %d: Reason() = %q", l.Line, l.Reason())
		}
		if l.Error() != fmt.Sprintf("line %d: %s", l.Line, l.Reason()) {
			t.Errorf("LineError.Error() = %q", l.Error())
		}
	}
	if !slices.Equal(lines, []int{3, 5, 8}) {
		t.Errorf("bad lines %v, want [3 5 8]", lines)
	}
	if strings.Contains(err.Error(), "line 1:") || strings.Contains(err.Error(), "line 7:") {
		t.Errorf("good lines reported: %v", err)
	}
}

func TestParseDecisionsManyBadLines(t *testing.T) {
	body := strings.Repeat("{}\n", 60)
	_, err := ParseDecisions([]byte(body))
	wantErr(t, err, ErrInvalid, "60 of 60 records rejected", "line 50:", "… and 10 more")
	if strings.Contains(err.Error(), "line 51:") {
		t.Errorf("more than 50 lines printed")
	}
	var be *BatchError
	if !errors.As(err, &be) || len(be.Lines) != 60 {
		t.Errorf("BatchError does not list all 60 lines")
	}
}

func TestParseDecisionsLimits(t *testing.T) {
	line := string(mustJSON(t, minimalRecord())) + "\n"
	entries, err := ParseDecisions([]byte(strings.Repeat(line, MaxBatch)))
	if err != nil || len(entries) != MaxBatch {
		t.Fatalf("MaxBatch records: %d entries, %v", len(entries), err)
	}
	// More lines than MaxBatch, but blank lines among them.
	entries, err = ParseDecisions([]byte(strings.Repeat(line+"\r\n", MaxBatch)))
	if err != nil || len(entries) != MaxBatch {
		t.Fatalf("MaxBatch records with blank lines: %d entries, %v", len(entries), err)
	}
	// A CRLF line ending does not count against a record's size.
	exact := line[:len(line)-1] + strings.Repeat(" ", MaxDecisionSize-len(line)+1)
	entries, err = ParseDecisions([]byte(exact + "\r\n" + exact + "\r\n"))
	if err != nil || len(entries) != 2 {
		t.Errorf("records of MaxDecisionSize bytes with CRLF: %d entries, %v", len(entries), err)
	}
	_, err = ParseDecisions([]byte(strings.Repeat(line, MaxBatch+1)))
	wantErr(t, err, ErrInvalid, fmt.Sprint(MaxBatch+1), fmt.Sprint(MaxBatch))
	_, err = ParseDecisions([]byte(strings.Repeat(line, MaxBatch) + "\n\n" + line))
	wantErr(t, err, ErrInvalid, fmt.Sprint(MaxBatch))

	for _, body := range []string{"", "\n", "\r\n\r\n", "  \n\t\n"} {
		_, err := ParseDecisions([]byte(body))
		wantErr(t, err, ErrInvalid, "no records")
	}
}

// FuzzParseDecisionJSON checks the package's JSON reader against
// encoding/json: whatever it accepts, encoding/json (strict: unknown
// fields and trailing data rejected) accepts too, with the same result.
// The one intended difference the other way: a lone surrogate escape,
// which encoding/json reads as U+FFFD, is refused (as checkJSONText
// refuses it in statements). Accepted valid records round-trip through
// their entry.
func FuzzParseDecisionJSON(f *testing.F) {
	for _, rec := range []map[string]any{minimalRecord(), fullRecord()} {
		b := mustJSON(f, rec)
		f.Add(b)
		ind, _ := json.MarshalIndent(rec, " ", "\t")
		f.Add(ind)
	}
	min := string(mustJSON(f, minimalRecord()))
	for _, s := range []string{
		strings.Replace(min, `"support-bot"`, `"caf\u00e9 \ud83d\ude00 \/ \" \\ \b\f\n\r\t"`, 1),
		strings.Replace(min, `"support-bot"`, `"lone \ud800 high, \udc00 low, \ud800\u0041 pair-ish, \ud800\ud800\udc00"`, 1),
		strings.Replace(min, `"support-bot"`, `"\ud800\" \ud800\n \udbff\\ \udfff\ud800"`, 1),
		strings.Replace(min, `"system"`, `"\u0073ystem"`, 1),
		strings.Replace(min, `{`, "\r\n\t {  ", 1) + " \n",
		`{"labels":{},"commitments":{"data_accessed":[]}}`,
		`{"labels":{"a":"","\u00e9":"x"}}`,
		`{}`,
		`{"model":{}}`,
		`{"System":"x"}`,
		`{"system":"a","system":"b"}`,
		`{"system":null}`,
		`null`,
		`{"system":"\u00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		d, err := parseDecisionJSON(b)
		if err != nil {
			// The intended difference from encoding/json, which reads
			// a lone surrogate as U+FFFD: checkJSONText (the check of
			// statements) finds the same lone surrogate.
			if strings.Contains(err.Error(), "lone UTF-16 surrogate") && checkJSONText(b) == nil {
				t.Fatalf("parseDecisionJSON refused %q for a lone surrogate (%v), checkJSONText did not", b, err)
			}
			return
		}
		if err := checkJSONText(b); err != nil {
			t.Fatalf("parseDecisionJSON accepted %q, checkJSONText did not: %v", b, err)
		}
		jd, jerr := jsonDecision(b)
		if jerr != nil {
			t.Fatalf("parseDecisionJSON accepted %q, encoding/json did not: %v", b, jerr)
		}
		if got, want := normalize(d), normalize(jd); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nparseDecisionJSON %+v\nencoding/json     %+v", b, got, want)
		}
		if d.Validate() != nil {
			return
		}
		entry := d.Canonical()
		assertCanonical(t, entry)
		back, err := parseDecisionJSON(bytes.Replace(entry, []byte(`,"kind":"decision/v1"`), nil, 1))
		if err != nil {
			t.Fatalf("entry %s does not parse back: %v", entry, err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(d)) {
			t.Fatalf("round trip of %q changed the record:\n%+v\n%+v", b, back, d)
		}
		if !bytes.Equal(back.Canonical(), entry) {
			t.Fatalf("entry not stable: %s then %s", entry, back.Canonical())
		}
	})
}
