package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// RFC 8785 Appendix B: IEEE 754 doubles (as bits) and their canonical
// text; NaN and infinities have none.
var rfc8785Numbers = []struct {
	bits uint64
	want string
}{
	{0x0000000000000000, "0"},
	{0x8000000000000000, "0"},
	{0x0000000000000001, "5e-324"},
	{0x8000000000000001, "-5e-324"},
	{0x7fefffffffffffff, "1.7976931348623157e+308"},
	{0xffefffffffffffff, "-1.7976931348623157e+308"},
	{0x4340000000000000, "9007199254740992"},
	{0xc340000000000000, "-9007199254740992"},
	{0x4430000000000000, "295147905179352830000"},
	{0x44b52d02c7e14af5, "9.999999999999997e+22"},
	{0x44b52d02c7e14af6, "1e+23"},
	{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
	{0x444b1ae4d6e2ef4e, "999999999999999700000"},
	{0x444b1ae4d6e2ef4f, "999999999999999900000"},
	{0x444b1ae4d6e2ef50, "1e+21"},
	{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
	{0x3eb0c6f7a0b5ed8d, "0.000001"},
	{0x41b3de4355555553, "333333333.3333332"},
	{0x41b3de4355555554, "333333333.33333325"},
	{0x41b3de4355555555, "333333333.3333333"},
	{0x41b3de4355555556, "333333333.3333334"},
	{0x41b3de4355555557, "333333333.33333343"},
	{0xbecbf647612f3696, "-0.0000033333333333333333"},
	{0x43143ff3c1cb0959, "1424953923781206.2"},
}

func TestAppendNumberRFC8785(t *testing.T) {
	for _, tc := range rfc8785Numbers {
		v := math.Float64frombits(tc.bits)
		if got := string(AppendNumber(nil, v)); got != tc.want {
			t.Errorf("%016x (%v): %s, want %s", tc.bits, v, got, tc.want)
		}
		// The canonical text reads back as the same double (but -0).
		if back, err := parseNumber(tc.want); err != nil || (back != v && v != 0) {
			t.Errorf("%s reads back as %v (%v), want %v", tc.want, back, err, v)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"1e21", "1e+21"}, {"1e-7", "1e-7"}, {"1E-7", "1e-7"}, {"0.0000001", "1e-7"}, {"1e-6", "0.000001"},
		{"100", "100"}, {"1.0", "1"}, {"-0.0", "0"}, {"-0", "0"}, {"1e2", "100"}, {"0.5", "0.5"},
		{"123456789012345678901", "123456789012345680000"}, {"1e20", "100000000000000000000"},
		{"0.912", "0.912"}, {"12480", "12480"}, {"2.5E+3", "2500"}, {"1e-400", "0"},
	} {
		v, err := parseNumber(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := string(AppendNumber(nil, v)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
}

// AppendNumber agrees with encoding/json (ECMAScript formatting too, a
// different implementation) on random doubles, and reads back exactly.
func TestAppendNumberRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for i := range 200000 {
		var v float64
		switch i % 3 {
		case 0:
			v = math.Float64frombits(rng.Uint64())
		case 1:
			v = float64(rng.Int64N(1<<53)) * math.Pow(10, float64(rng.IntN(60)-30))
		default:
			v = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		got := string(AppendNumber(nil, v))
		want, _ := json.Marshal(v)
		if v == 0 {
			want = []byte("0")
		}
		if got != string(want) {
			t.Fatalf("%016x: %s, encoding/json %s", math.Float64bits(v), got, want)
		}
		if back, err := strconv.ParseFloat(got, 64); err != nil || (back != v && v != 0) || !isJSONNumber(got) {
			t.Fatalf("%s does not read back as %v", got, v)
		}
	}
}

func TestJSONNumberGrammar(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "10", "1.5", "-1.5e10", "1E+2", "1e-2", "0.0", "0e0"} {
		if !isJSONNumber(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "1..2", "1e1.5", "0x1", "NaN", "Infinity", "1 ", " 1", "1_000"} {
		if isJSONNumber(s) {
			t.Errorf("%q taken", s)
		}
		if json.Valid([]byte(s)) && s != " 1" && s != "1 " {
			t.Errorf("%q: encoding/json takes it, the grammar does not", s)
		}
	}
	for _, s := range []string{strings.Repeat("1", 41), "1e309", "-1e309", "1" + strings.Repeat("0", 40)} {
		if _, err := parseNumber(s); err == nil {
			t.Errorf("%q taken", s)
		}
	}
}

func minimalEvaluation() map[string]any {
	return map[string]any{
		"system":        "clinical-recommender",
		"evaluation_id": "ev-1",
		"time":          "2026-11-20T10:00:00Z",
		"model":         map[string]any{"name": "acme/triage", "version": "4.2"},
		"dataset":       map[string]any{"name": "holdout", "digest": commitment("dataset")},
		"metrics":       map[string]any{"auroc": json.Number("0.912")},
		"evaluator":     "acme-qa",
	}
}

func fullEvaluation() map[string]any {
	m := minimalEvaluation()
	m["system"] = "clinic \"eu\" / é \U0001F600"
	m["model"] = map[string]any{"name": "acme/triage", "version": "4.2", "digest": commitment("weights")}
	m["dataset"] = map[string]any{"name": "holdout-2026q3", "commitment": commitment("private data")}
	m["metrics"] = map[string]any{"auroc": json.Number("0.912"), "n": json.Number("12480"), "tiny": json.Number("1e-7"), "big": json.Number("1e21"),
		"neg": json.Number("-3.5"), "\U0001F600": json.Number("1"), "\uFFFD": json.Number("2"), "zero": json.Number("0")}
	m["labels"] = map[string]string{"site": "north", "\U0001F600": "x"}
	return m
}

// expectedEvaluationEntry is the entry computed without Canonical: the
// reference encoder over the record's map with the kind added.
func expectedEvaluationEntry(t testing.TB, rec map[string]any) string {
	t.Helper()
	m := map[string]any{"kind": KindEvaluation}
	for k, v := range rec {
		m[k] = v
	}
	ref, err := refCanonical(parseGeneric(t, mustJSON(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestParseEvaluationValid(t *testing.T) {
	for _, rec := range []map[string]any{minimalEvaluation(), fullEvaluation()} {
		b := mustJSON(t, rec)
		e, entry, err := ParseEvaluation(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		assertCanonical(t, entry)
		if want := expectedEvaluationEntry(t, rec); string(entry) != want {
			t.Fatalf("entry\n%s\nwant\n%s", entry, want)
		}
		ind, _ := json.MarshalIndent(rec, "", "\t")
		_, entry2, err := ParseEvaluation(ind)
		if err != nil || !bytes.Equal(entry, entry2) {
			t.Fatalf("indented: %v\n%s", err, entry2)
		}
		re, err := ParseEvaluationEntry(b)
		if err != nil || re.System != e.System || re.Time != e.Time {
			t.Fatal(err)
		}
	}
	_, entry, _ := ParseEvaluation(mustJSON(t, fullEvaluation()))
	if !bytes.Contains(entry, []byte(`"big":1e+21`)) || !bytes.Contains(entry, []byte(`"tiny":1e-7`)) || !bytes.Contains(entry, []byte(`"n":12480,`)) {
		t.Fatalf("numbers not canonical: %s", entry)
	}
	e, _, _ := ParseEvaluation(mustJSON(t, fullEvaluation()))
	got := termStrings(e.Terms())
	want := []string{"evaluation/v1 system=" + e.System, "evaluation/v1 model=acme/triage", "evaluation/v1 event=ev-1", "evaluation/v1 digest=" + commitment("weights")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("terms %q, want %q", got, want)
	}
}

// Random valid evaluations: Canonical matches the reference encoder.
func TestEvaluationCanonicalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	str := func() string {
		var b strings.Builder
		for b.Len() == 0 || rng.IntN(3) > 0 {
			r := awkwardRunes[rng.IntN(len(awkwardRunes))]
			if r < 0x20 || r == 0x7f {
				continue
			}
			b.WriteRune(r)
			if b.Len() > 30 {
				break
			}
		}
		return b.String()
	}
	for range 1000 {
		e := &Evaluation{System: str(), EvaluationID: str(), Time: "2026-01-02T03:04:05Z", Evaluator: str(),
			Model: Model{Name: str(), Version: str()}, Dataset: Dataset{Name: str(), Digest: commitment(str())}, Metrics: map[string]float64{}}
		for range 1 + rng.IntN(8) {
			v := math.Float64frombits(rng.Uint64())
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = rng.Float64()
			}
			k := str()
			if len(k) > maxLabelKey {
				k = k[:1]
			}
			e.Metrics[k] = v
		}
		if rng.IntN(2) == 0 {
			e.Dataset = Dataset{Name: str(), Commitment: commitment(str())}
		}
		if err := e.Validate(); err != nil {
			continue
		}
		entry := e.Canonical()
		assertCanonical(t, entry)
		back, err := parseEvaluationJSON(bytes.Replace(entry, []byte(`,"kind":"evaluation/v1"`), nil, 1))
		if err != nil {
			t.Fatalf("%s: %v", entry, err)
		}
		if !reflect.DeepEqual(normalizeEvaluation(back), normalizeEvaluation(e)) {
			t.Fatalf("round trip changed %s", entry)
		}
	}
}

func parseEvaluationJSON(b []byte) (*Evaluation, error) {
	e := &Evaluation{}
	r := &jsonReader{b: b, s: string(b)}
	if err := e.read(r); err != nil {
		return nil, err
	}
	if r.ws(); r.i != len(r.b) {
		return nil, r.fail("trailing data after the record")
	}
	return e, nil
}

func normalizeEvaluation(e *Evaluation) Evaluation {
	n := *e
	if len(n.Labels) == 0 {
		n.Labels = nil
	}
	if len(n.Metrics) == 0 {
		n.Metrics = nil
	}
	for k, v := range n.Metrics {
		if v == 0 {
			n.Metrics[k] = 0 // -0 and 0 alike
		}
	}
	return n
}

func TestParseEvaluationRejects(t *testing.T) {
	edit := func(f func(m map[string]any)) []byte {
		m := minimalEvaluation()
		f(m)
		return mustJSON(t, m)
	}
	raw := string(mustJSON(t, minimalEvaluation()))
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"no system", edit(func(m map[string]any) { delete(m, "system") }), "system is required"},
		{"no metrics", edit(func(m map[string]any) { delete(m, "metrics") }), "at least one"},
		{"no dataset pin", edit(func(m map[string]any) { m["dataset"] = map[string]any{"name": "x"} }), "give digest"},
		{"both pins", edit(func(m map[string]any) {
			m["dataset"] = map[string]any{"name": "x", "digest": commitment("a"), "commitment": commitment("b")}
		}), "not both"},
		{"bad model digest", edit(func(m map[string]any) { m["model"] = map[string]any{"name": "a", "version": "1", "digest": "sha256:1"} }), "model.digest"},
		{"metric name too long", edit(func(m map[string]any) { m["metrics"] = map[string]any{strings.Repeat("k", 65): 1} }), "metric name"},
		{"65 metrics", edit(func(m map[string]any) {
			mm := map[string]any{}
			for i := range 65 {
				mm[fmt.Sprint("m", i)] = i
			}
			m["metrics"] = mm
		}), "65 metrics"},
		{"unknown field", edit(func(m map[string]any) { m["notes"] = "x" }), `unknown field "notes"`},
		{"null metric", []byte(strings.Replace(raw, `0.912`, `null`, 1)), "not null"},
		{"01", []byte(strings.Replace(raw, `0.912`, `01`, 1)), "not a JSON number"},
		{"1.", []byte(strings.Replace(raw, `0.912`, `1.`, 1)), "not a JSON number"},
		{".5", []byte(strings.Replace(raw, `0.912`, `.5`, 1)), "not a JSON number"},
		{"+1", []byte(strings.Replace(raw, `0.912`, `+1`, 1)), "not a JSON number"},
		{"1e", []byte(strings.Replace(raw, `0.912`, `1e`, 1)), "not a JSON number"},
		{"1e999", []byte(strings.Replace(raw, `0.912`, `1e999`, 1)), "out of the range"},
		{"long number", []byte(strings.Replace(raw, `0.912`, "0."+strings.Repeat("9", 60), 1)), "at most 40"},
		{"lone surrogate", []byte(strings.Replace(raw, `acme-qa`, `acme\udc00`, 1)), "lone UTF-16 surrogate"},
		{"invalid UTF-8", []byte(strings.Replace(raw, `acme-qa`, "acme\xc3", 1)), "not valid UTF-8"},
		{"oversize", []byte(strings.Replace(raw, `{`, "{"+strings.Repeat(" ", MaxEvaluationSize), 1)), "longer than the limit"},
	} {
		_, _, err := ParseEvaluation(tc.b)
		wantErr(t, err, ErrInvalid, tc.want)
	}
	if err := (&Evaluation{System: "s", EvaluationID: "e", Time: "2026-01-01T00:00:00Z", Evaluator: "x", Model: Model{Name: "m", Version: "1"},
		Dataset: Dataset{Name: "d", Digest: commitment("d")}, Metrics: map[string]float64{"a": math.NaN()}}).Validate(); err == nil {
		t.Fatal("NaN metric validated")
	}
}

// jsonEvaluation decodes with encoding/json, strictly: the fuzz oracle.
func jsonEvaluation(b []byte) (*Evaluation, error) {
	var e Evaluation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("trailing data %q", rest)
	}
	return &e, nil
}

// FuzzParseEvaluationJSON checks the evaluation reader against
// encoding/json as FuzzParseDecisionJSON does decisions: what it accepts,
// encoding/json accepts with the same result (numbers: the same double);
// accepted valid records round-trip through their entry.
func FuzzParseEvaluationJSON(f *testing.F) {
	for _, rec := range []map[string]any{minimalEvaluation(), fullEvaluation()} {
		f.Add(mustJSON(f, rec))
	}
	raw := string(mustJSON(f, minimalEvaluation()))
	for _, n := range []string{"-0", "1e21", "1E-7", "5e-324", "01", "1.", ".5", "+1", "1e", "1e999", "null", `"1"`, "1.7976931348623157e308", "-0.0000033333333333333333"} {
		f.Add([]byte(strings.Replace(raw, "0.912", n, 1)))
	}
	f.Add([]byte(`{"metrics":{"a":1,"a":2}}`))
	f.Add([]byte(`{"Metrics":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		e, err := parseEvaluationJSON(b)
		if err != nil {
			if strings.Contains(err.Error(), "lone UTF-16 surrogate") && checkJSONText(b) == nil {
				t.Fatalf("refused %q for a lone surrogate, checkJSONText did not", b)
			}
			return
		}
		if err := checkJSONText(b); err != nil {
			t.Fatalf("accepted %q, checkJSONText did not: %v", b, err)
		}
		je, jerr := jsonEvaluation(b)
		if jerr != nil {
			t.Fatalf("accepted %q, encoding/json did not: %v", b, jerr)
		}
		if got, want := normalizeEvaluation(e), normalizeEvaluation(je); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nours          %+v\nencoding/json %+v", b, got, want)
		}
		if e.Validate() != nil {
			return
		}
		entry := e.Canonical()
		assertCanonical(t, entry)
		back, err := parseEvaluationJSON(bytes.Replace(entry, []byte(`,"kind":"evaluation/v1"`), nil, 1))
		if err != nil {
			t.Fatalf("entry %s does not parse back: %v", entry, err)
		}
		if !bytes.Equal(back.Canonical(), entry) {
			t.Fatalf("entry not stable: %s then %s", entry, back.Canonical())
		}
	})
}
