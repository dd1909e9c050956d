package vectors

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/proofs"
)

// DecisionCase is a vector of decisions.json: a decision record as a
// client sends it (one line of POST /api/v1/decisions) and what
// attest.ParseDecision makes of it.
type DecisionCase struct {
	Name   string `json:"name"`
	Record string `json:"record"`
	Valid  bool   `json:"valid"`
	// Entry is the canonical decision/v1 entry; LeafHash its RFC 6962
	// leaf hash. Both only when valid.
	Entry    string `json:"entry_b64,omitempty"`
	LeafHash string `json:"leaf_hash_hex,omitempty"`
	// Error is a substring of the Go error, only when invalid.
	Error string `json:"error,omitempty"`
}

// decisionCase is a record (with placeholders for commitments, see
// decisionValues) and, for a record the Go code refuses, a substring of
// its error.
type decisionCase struct {
	name, record, err string
}

// decisionValues fill the records' placeholders: real commitments made
// with fixed salts, and a model digest.
func decisionValues() (*strings.Replacer, error) {
	var pairs []string
	for _, p := range []struct{ key, content string }{
		{"{IN}", "What is my balance?"},
		{"{OUT}", "Your balance is 42.00 EUR."},
		{"{WHY}", "Balance read from the core banking system."},
		{"{D1}", "accounts/4711"},
		{"{D2}", "transactions/4711?since=2026-01-01"},
	} {
		c, err := attest.Commit(seed("decision salt "+p.key), []byte(p.content))
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, p.key, c)
	}
	sum := sha256.Sum256([]byte("acme/assistant 1.0 weights"))
	pairs = append(pairs, "{DIG}", "sha256:"+hex.EncodeToString(sum[:]))
	return strings.NewReplacer(pairs...), nil
}

// record returns a decision record: the fields of a minimal one, in order,
// changed by pairs of (field, raw JSON value). An empty value drops the
// field; a field not in the minimal record is appended.
func record(changes ...string) string {
	type field struct{ k, v string }
	fields := []field{
		{"system", `"support-bot"`},
		{"decision_id", `"d-0001"`},
		{"time", `"2026-03-01T12:00:00Z"`},
		{"model", `{"name":"acme/assistant","version":"1.0"}`},
		{"commitments", `{"input":"{IN}","output":"{OUT}"}`},
	}
	for i := 0; i+1 < len(changes); i += 2 {
		k, v := changes[i], changes[i+1]
		found := false
		for j := range fields {
			if fields[j].k == k {
				fields[j].v = v
				found = true
			}
		}
		if !found {
			fields = append(fields, field{k, v})
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		fmt.Fprintf(&b, "%q:%s", f.k, f.v)
	}
	b.WriteByte('}')
	return b.String()
}

// labels returns a labels object of n labels "k00":"v".
func labels(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%02d":"v"`, i)
	}
	b.WriteByte('}')
	return b.String()
}

func quoted(s string) string { return `"` + s + `"` }

func decisionCases() []decisionCase {
	const model = `{"name":"acme/assistant","version":"1.0"}`
	all := record(
		"actor", `"user-4711"`,
		"outcome", `"approved"`,
		"labels", `{"region":"eu","channel":"web"}`,
		"model", `{"name":"acme/assistant","version":"1.0","digest":"{DIG}"}`,
		"commitments", `{"input":"{IN}","output":"{OUT}","rationale":"{WHY}","data_accessed":["{D1}","{D2}"]}`,
	)
	return []decisionCase{
		// Accepted.
		{"minimal", record(), ""},
		{"all-optional-fields", all, ""},
		// RFC 8785 sorts keys by UTF-16 code units: "\U0001F600" (D83D DE00)
		// and "\U00010000" (D800 DC00) sort before "\uE000" and "\uFB01",
		// unlike in code point or UTF-8 byte order.
		{"labels-utf16-key-order", record("labels",
			"{\"\uE000\":\"private use\",\"\U0001F600\":\"emoji\",\"a\":\"lower\",\"B\":\"upper\",\"\u00e9\":\"e acute\",\"\uFB01\":\"ligature\",\"\U00010000\":\"linear b\",\"aa\":\"double\",\"A\":\"A\"}"), ""},
		{"labels-escaped-keys", record("labels",
			`{"\ue000":"private use","\ud83d\ude00":"emoji","\u0061":"lower","\u0042":"upper"}`), ""},
		{"label-empty-value-kept", record("labels", `{"k":""}`), ""},
		{"jcs-escapes-quote-backslash", record("actor", `"quote \" backslash \\ both \\\""`, "outcome", `"slash \/ is not escaped"`), ""},
		{"jcs-escaped-input-written-literally", record("actor", `"\u00e9\u65e5\u672c \ud83d\ude00 \u0041"`, "outcome", `"line\u2028separator\u2029paragraph"`,
			"labels", `{"html":"\u003cb\u003e \u0026amp;"}`), ""},
		{"jcs-literal-non-ascii", record("actor", "\"Zürich 東京 😀\"", "outcome", "\"line\u2028separator\u2029paragraph\"",
			"labels", `{"html":"<b> &amp;","tilde":"~\u007e"}`), ""},
		{"c1-controls-accepted", record("actor", "\"\u0085next line\u009f\"", "outcome", `"\u0080"`), ""},
		{"empty-optional-fields-omitted", record("actor", `""`, "outcome", `""`, "labels", `{}`,
			"model", `{"name":"acme/assistant","version":"1.0","digest":""}`,
			"commitments", `{"input":"{IN}","output":"{OUT}","rationale":"","data_accessed":[]}`), ""},
		{"field-order-and-whitespace", " {\t\"commitments\" : { \"data_accessed\" : [ \"{D1}\" ] , \"rationale\":\"{WHY}\", \"output\" : \"{OUT}\" , \"input\":\"{IN}\" } ,\r" +
			"\"time\":\"2026-03-01T12:00:00Z\", \"outcome\":\"escalated\" , \"model\":{\"version\":\"1.0\" ,\"name\":\"acme/assistant\"},\"labels\":{\"z\":\"1\",\"a\":\"2\"},\"decision_id\":\"d-0001\",\"actor\":\"a\",\"system\":\"support-bot\"\t} \n", ""},
		{"data-accessed-order-and-repeats-kept", record("commitments", `{"input":"{IN}","output":"{OUT}","data_accessed":["{D2}","{D1}","{D2}"]}`), ""},
		{"time-fraction-and-offset-kept", record("time", `"2026-03-01T12:00:00.123456789+05:30"`), ""},
		{"time-negative-offset", record("time", `"2026-03-01T04:00:00-08:00"`), ""},
		{"time-lowercase-t-and-z", record("time", `"2026-03-01t12:00:00z"`), "not an RFC 3339 timestamp"},
		{"time-leap-day", record("time", `"2028-02-29T00:00:00Z"`), ""},
		{"time-ten-fraction-digits", record("time", `"2026-03-01T12:00:00.1234567891Z"`), ""},
		{"labels-32", record("labels", labels(32)), ""},
		{"actor-256-bytes", record("actor", quoted(strings.Repeat("é", 128))), ""},
		{"label-key-64-bytes", record("labels", `{"`+strings.Repeat("k", 64)+`":"v"}`), ""},

		// Refused.
		{"unknown-field", record("extra", `"x"`), `unknown field "extra"`},
		{"kind-field-refused", record("kind", `"decision/v1"`), `unknown field "kind"`},
		{"unknown-field-in-model", record("model", `{"name":"acme/assistant","version":"1.0","family":"x"}`), `unknown field "family" in model`},
		{"unknown-field-in-commitments", record("commitments", `{"input":"{IN}","output":"{OUT}","prompt":"{IN}"}`), `unknown field "prompt" in commitments`},
		{"field-name-case-matters", record("System", `"support-bot"`), `unknown field "System"`},
		{"missing-model-name", record("model", `{"version":"1.0"}`), "model.name is required"},
		{"missing-model-version", record("model", `{"name":"acme/assistant"}`), "model.version is required"},
		{"missing-model", record("model", ""), "model.name is required"},
		{"missing-system", record("system", ""), "system is required"},
		{"empty-system", record("system", `""`), "system is required"},
		{"missing-decision-id", record("decision_id", ""), "decision_id is required"},
		{"missing-time", record("time", ""), "time is required"},
		{"missing-commitments", record("commitments", ""), "commitments.input is required"},
		{"missing-commitments-output", record("commitments", `{"input":"{IN}"}`), "commitments.output is required"},
		{"bad-time-month-13", record("time", `"2026-13-01T12:00:00Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-february-30", record("time", `"2026-02-30T12:00:00Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-february-29-no-leap-year", record("time", `"2026-02-29T12:00:00Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-hour-24", record("time", `"2026-03-01T24:00:00Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-leap-second", record("time", `"2026-06-30T23:59:60Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-no-zone", record("time", `"2026-03-01T12:00:00"`), "not an RFC 3339 timestamp"},
		{"bad-time-space-separator", record("time", `"2026-03-01 12:00:00Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-offset-24-hours", record("time", `"2026-03-01T12:00:00+24:00"`), "not an RFC 3339 timestamp"},
		{"bad-time-offset-without-colon", record("time", `"2026-03-01T12:00:00+0100"`), "not an RFC 3339 timestamp"},
		{"bad-time-comma-fraction", record("time", `"2026-03-01T12:00:00,5Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-empty-fraction", record("time", `"2026-03-01T12:00:00.Z"`), "not an RFC 3339 timestamp"},
		{"bad-time-date-only", record("time", `"2026-03-01"`), "not an RFC 3339 timestamp"},
		{"bad-time-unix-seconds", record("time", `"1772366400"`), "not an RFC 3339 timestamp"},
		{"bad-commitment-uppercase-hex", record("commitments", `{"input":"sha256:`+strings.Repeat("AB", 32)+`","output":"{OUT}"}`), "commitments.input"},
		{"bad-commitment-short", record("commitments", `{"input":"sha256:abcd","output":"{OUT}"}`), "commitments.input"},
		{"bad-commitment-sha512-prefix", record("commitments", `{"input":"sha512:`+strings.Repeat("ab", 32)+`","output":"{OUT}"}`), "commitments.input"},
		{"bad-commitment-plain-text", record("commitments", `{"input":"What is my balance?","output":"{OUT}"}`), "commitments.input"},
		{"bad-commitment-output", record("commitments", `{"input":"{IN}","output":"sha256:"}`), "commitments.output"},
		{"bad-commitment-rationale", record("commitments", `{"input":"{IN}","output":"{OUT}","rationale":"because"}`), "commitments.rationale"},
		{"bad-commitment-data-accessed", record("commitments", `{"input":"{IN}","output":"{OUT}","data_accessed":["{D1}","accounts/4711"]}`), "commitments.data_accessed[1]"},
		{"bad-model-digest", record("model", `{"name":"acme/assistant","version":"1.0","digest":"sha256:1234"}`), "model.digest"},
		{"duplicate-key", strings.Replace(record(), `"decision_id"`, `"system":"other-bot","decision_id"`, 1), `duplicate field "system"`},
		{"duplicate-key-via-escape", strings.Replace(record(), `"system":"support-bot"`, `"system":"support-bot","syst\u0065m":"other-bot"`, 1), `duplicate field "system"`},
		{"duplicate-label-key", record("labels", `{"k":"1","k":"2"}`), `duplicate field "k"`},
		{"duplicate-key-in-model", record("model", `{"name":"acme/assistant","version":"1.0","name":"acme/other"}`), `duplicate field "name"`},
		{"duplicate-key-in-commitments", record("commitments", `{"input":"{IN}","output":"{OUT}","input":"{WHY}"}`), `duplicate field "input"`},
		{"null-value", record("actor", `null`), "actor must be a string, not null"},
		{"null-labels", record("labels", `null`), "labels must be an object"},
		{"null-data-accessed", record("commitments", `{"input":"{IN}","output":"{OUT}","data_accessed":null}`), "commitments.data_accessed must be an array"},
		{"null-label-value", record("labels", `{"k":null}`), "not null"},
		{"number-value", record("decision_id", `7`), "decision_id must be a string"},
		{"boolean-value", record("outcome", `true`), "outcome must be a string"},
		{"label-value-number", record("labels", `{"k":1}`), `label "k" must be a string`},
		{"label-value-object", record("labels", `{"k":{"a":"b"}}`), `label "k" must be a string`},
		{"data-accessed-element-number", record("commitments", `{"input":"{IN}","output":"{OUT}","data_accessed":[1]}`), "commitments.data_accessed element must be a string"},
		{"control-u0001-escaped", record("actor", `"a\u0001b"`), "actor contains control characters"},
		{"control-u001f-escaped", record("outcome", `"a\u001fb"`), "outcome contains control characters"},
		{"control-u007f-raw", record("actor", "\"a\x7fb\""), "actor contains control characters"},
		{"control-u007f-escaped", record("system", `"a\u007fb"`), "system contains control characters"},
		{"control-newline-escaped", record("decision_id", `"d-\n0001"`), "decision_id contains control characters"},
		{"control-tab-escaped-in-label-value", record("labels", `{"k":"a\tb"}`), `label "k": value must be`},
		{"control-in-label-key", record("labels", `{"a\u0000b":"v"}`), "label key"},
		{"control-in-model-name", record("model", `{"name":"acme\u001b[31m","version":"1.0"}`), "model.name contains control characters"},
		{"raw-control-char-in-string", record("actor", "\"a\x01b\""), "control character in string"},
		{"raw-tab-in-string", record("actor", "\"a\tb\""), "control character in string"},
		{"raw-newline-in-string", record("actor", "\"a\nb\""), "control character in string"},
		{"lone-high-surrogate", record("actor", `"\ud800"`), "lone UTF-16 surrogate"},
		{"lone-low-surrogate", record("actor", `"\udc00"`), "lone UTF-16 surrogate"},
		{"high-surrogate-then-non-surrogate", record("actor", `"\ud83d\u0041"`), "lone UTF-16 surrogate"},
		{"lone-surrogate-in-label-key", record("labels", `{"\ud800":"v"}`), "lone UTF-16 surrogate"},
		{"bad-escape", record("actor", `"\x41"`), "bad escape"},
		{"bad-unicode-escape", record("actor", `"\u12"`), `bad \u escape`},
		{"single-quotes", strings.Replace(record(), `"support-bot"`, `'support-bot'`, 1), "system must be a string"},
		{"trailing-data", record() + "{}", "trailing data after the record"},
		{"two-records-on-one-line", record() + record(), "trailing data after the record"},
		{"trailing-comma", strings.TrimSuffix(record(), "}") + ",}", "record key must be a string"},
		{"not-an-object", `[]`, "record must be an object"},
		{"json-string", `"support-bot"`, "record must be an object"},
		{"empty-record", ``, "unexpected end of JSON"},
		{"truncated-record", strings.TrimSuffix(record(), "}"), "unexpected end of JSON"},
		{"empty-object", `{}`, "system is required"},
		{"labels-33", record("labels", labels(33)), "33 labels, at most 32"},
		{"labels-not-object", record("labels", `["region","eu"]`), "labels must be an object"},
		{"empty-label-key", record("labels", `{"":"v"}`), "label key"},
		{"label-key-65-bytes", record("labels", `{"`+strings.Repeat("k", 65)+`":"v"}`), "label key"},
		{"actor-258-bytes", record("actor", quoted(strings.Repeat("é", 129))), "actor is longer than 256 bytes"},
		{"label-value-257-bytes", record("labels", `{"k":"`+strings.Repeat("v", 257)+`"}`), `label "k": value must be at most 256 bytes`},
		{"model-as-string", record("model", `"acme/assistant"`), "model must be an object"},
		{"commitments-as-array", record("commitments", `["{IN}","{OUT}"]`), "commitments must be an object"},
		{"model-version-number", record("model", strings.Replace(model, `"1.0"`, `1.0`, 1)), "model.version must be a string"},
	}
}

func decisions() ([]DecisionCase, error) {
	fill, err := decisionValues()
	if err != nil {
		return nil, err
	}
	cases := decisionCases()
	var out []DecisionCase
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			return nil, fmt.Errorf("two cases named %q", c.name)
		}
		seen[c.name] = true
		rec := fill.Replace(c.record)
		_, entry, err := attest.ParseDecision([]byte(rec))
		v := DecisionCase{Name: c.name, Record: rec, Valid: err == nil}
		if v.Error, err = verdict(c.name, c.err, err); err != nil {
			return nil, err
		}
		if v.Valid {
			h := proofs.HashLeaf(entry)
			v.Entry = base64.StdEncoding.EncodeToString(entry)
			v.LeafHash = hex.EncodeToString(h[:])
		}
		out = append(out, v)
	}
	return out, nil
}
