package attest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Issue 9: names that bypassed the rule for "acme/" — another case, a
// leading space, a backslash — and the other forms that read as a
// covered name.
func TestPolicyCoverageIgnoresCase(t *testing.T) {
	a, b := fpOf("a"), fpOf("b")
	p, err := ParsePolicy([]byte("acme/ " + a + "\nacme/private/ " + b + "\nkcme/ " + a + "\ns/ " + a + "\nhttps://acme.example/ " + a + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rule string // the deciding rule, "" for none
	}{
		{"acme/fraud-v3", "acme/"},
		{"ACME/fraud-v3", "acme/"},
		{"Acme/Fraud-v3", "acme/"},
		{"aCmE/x", "acme/"},
		{"ACME/PRIVATE/x", "acme/private/"}, // the longest prefix, folded
		{"acme/Private/x", "acme/private/"},
		{"\u212acme/x", "kcme/"}, // Kelvin sign folds to k
		{"KCME/x", "kcme/"},
		{"\u017f/x", "s/"}, // long s folds to s
		{"S/x", "s/"},
		{"acme/pr\u0131vate/x", "acme/private/"}, // dotless i upper-cases to I
		{"acme/pr\u0130vate/x", "acme/private/"}, // dotted I lower-cases to i
		{"HTTPS://ACME.EXAMPLE/model", "https://acme.example/"},
		{"acmex/y", ""},
		{"acm/e", ""},
		{"café/x", ""},
		{"асме/x", ""}, // Cyrillic: another name to every registry (documented)
		{"", ""},
	} {
		for _, signer := range []string{a, b} {
			err := p.Check([]string{tc.name}, signer)
			if errors.Is(err, ErrInvalid) {
				t.Fatalf("Check(%q) = %v, want a policy decision", tc.name, err)
			}
			allowed := tc.rule == "" || (tc.rule == "acme/private/") == (signer == b)
			if allowed != (err == nil) {
				t.Errorf("Check(%q, %s) = %v, want allowed=%v (rule %q)", tc.name, signer[:12], err, allowed, tc.rule)
			}
			if err != nil {
				wantErr(t, err, ErrForbidden, `"`+tc.rule+`"`)
			}
		}
	}
}

// refusedNames read as another name without being it; each is refused at
// admission (with or without a policy) and by Policy.Check.
var refusedNames = map[string]string{
	" acme/fraud-v3":          "whitespace",
	"acme/fraud-v3 ":          "whitespace",
	"\tacme/x":                "control",
	"acme\\/x":                "backslash",
	"acme\\x":                 "backslash",
	"acme\x00/x":              "control",
	"acme/x\x00":              "control",
	"acme\u0085/x":            "control",
	"\u00a0acme/x":            "U+00A0",
	"acme/\u3000x":            "U+3000",
	"acme/\u2028x":            "U+2028",
	"acme\u200b/x":            "U+200B",
	"acme\u200d/x":            "U+200D",
	"\u202eacme/x":            "U+202E",
	"\u2066acme/x":            "U+2066",
	"\ufeffacme/x":            "U+FEFF",
	"ac\u00adme/x":            "U+00AD",
	"acme\ufe0f/x":            "U+FE0F",
	"acme\u034f/x":            "U+034F",
	"acme\u3164/x":            "U+3164",
	"acme\u2800/x":            "U+2800",
	"acme\U000e0100/x":        "U+E0100",
	"\ue000acme/x":            "U+E000",
	"acme\U000e0001/x":        "U+E0001",
	"acme\u0301/x":            "combining",
	"acme/x\u0301":            "combining",
	"acme/\ufffd":             "U+FFFD",
	"ａｃｍｅ/x":                  "U+FF41",
	"acme／x":                  "U+FF0F",
	"acme\u2215x":             "U+2215",
	"acme\u2044x":             "U+2044",
	"acme\u29f8x":             "U+29F8",
	"acme\u2216x":             "U+2216",
	"\U0001d41acme/x":         "U+1D41A",
	"ⓐcme/x":                  "U+24D0",
	"acme//x":                 "empty path segment",
	"acme//private/x":         "empty path segment",
	"/acme/x":                 "empty path segment",
	"acme/":                   "empty path segment",
	"./acme/x":                `"."`,
	"acme/./private/x":        `"."`,
	"other/../acme/x":         `".."`,
	"..":                      `".."`,
	"https://acme.example//x": "empty path segment",
	"acme%2fx":                `"%2f"`,
	"acme%2Fprivate/x":        `"%2F"`,
	"%61cme/x":                `"%61"`,
	"acme%5cx":                `"%5c"`,
	"acme%2e%2e/x":            `"%2e"`,
	"acme%20/x":               `"%20"`,
	"acme%00/x":               `"%00"`,
	strings.Repeat("n", 1025): "longer than 1024",
}

var acceptedNames = []string{
	"acme/fraud-v3",
	"ACME/fraud-v3",
	"model.safetensors",
	"acme/llm 7b", // an inner space is visible
	"pkg:huggingface/acme/llm@abc",
	"pkg:npm/%40acme/llm", // an escape a package URL needs
	"acme/caf%C3%A9",
	"https://acme.example/llm",
	"hf://acme/llm",
	"acme/..x/.y/x..",
	"acme/\"quoted\"<name>&\U0001F600 é",
	"café/x",
	"日本語/モデル",
	"हिन्दी/मॉडल", // combining marks on non-ASCII letters
	"acme/x%",
	"acme/x%2",
	"acme/100%zz",
	strings.Repeat("n", 1024),
	"",
}

func TestCheckSubjectName(t *testing.T) {
	for name, msg := range refusedNames {
		err := checkSubjectName(name)
		if err == nil {
			t.Errorf("checkSubjectName(%q) = nil, want an error", name)
			continue
		}
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(msg)) {
			t.Errorf("checkSubjectName(%q) = %q, want it to mention %q", name, err, msg)
		}
	}
	for _, name := range acceptedNames {
		if err := checkSubjectName(name); err != nil {
			t.Errorf("checkSubjectName(%q) = %v, want nil", name, err)
		}
	}
}

// TestPolicyCheckRefusesConfusableNames: Check refuses the names too, as
// invalid, not forbidden, whatever the signer.
func TestPolicyCheckRefusesConfusableNames(t *testing.T) {
	a := fpOf("a")
	p, err := ParsePolicy([]byte("acme/ " + a + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range refusedNames {
		for _, signer := range []string{a, fpOf("b")} {
			err := p.Check([]string{"other/ok", "acme/ok", name}, signer)
			if err == nil || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbidden) {
				t.Errorf("Check(%q) = %v, want ErrInvalid", name, err)
			}
		}
	}
}

// TestAdmitRefusesConfusableNames: with or without a policy, and before
// the policy decides.
func TestAdmitRefusesConfusableNames(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	p, err := ParsePolicy([]byte("acme/ " + ks.ed.fp(t) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ACME/fraud-v3", "Acme/x", "acme/Fraud-v3"} {
		_, err := Admit(&Submission{Envelope: k.sign(t, slsaStatement(t, subj(name))), PublicKey: k.pem(t)}, p, maxEntry)
		wantErr(t, err, ErrForbidden, `"acme/"`)
		admit(t, &Submission{Envelope: ks.ed.sign(t, slsaStatement(t, subj(name))), PublicKey: ks.ed.pem(t)}, p)
	}
	for name, msg := range refusedNames {
		for _, pol := range []*Policy{nil, p} {
			env := k.sign(t, slsaStatement(t, subj("other/ok"), subj(name)))
			rel, err := Admit(&Submission{Envelope: env, PublicKey: k.pem(t)}, pol, maxEntry)
			if rel != nil {
				t.Errorf("%q: release returned with the error", name)
			}
			wantErr(t, err, ErrInvalid, "subject 1", msg)
		}
	}
	for _, name := range acceptedNames {
		admit(t, &Submission{Envelope: k.sign(t, slsaStatement(t, subj(name))), PublicKey: k.pem(t)}, nil)
	}
}

func TestParsePolicyPrefixes(t *testing.T) {
	a, b := fpOf("a"), fpOf("b")
	for _, tc := range []struct{ text, msg string }{
		{"acme/ " + a + "\nACME/ " + b + "\n", "line 2"},
		{"acme/ " + a + "\nAcMe/ " + b + "\n", "ignoring case"},
		{"kcme/ " + a + "\n\u212acme/ " + b + "\n", "ASCII"},
		{"acme\\ " + a, "backslash"},
		{"ａcme/ " + a, "ASCII"},
		{"café/ " + a, "ASCII"},
		{"acme// " + a, "empty path segment"},
		{"/acme/ " + a, "empty path segment"},
		{"./ " + a, `"."`},
		{"acme/../ " + a, `".."`},
		{"acme%2f " + a, "%2f"},
		{"\u200bacme/ " + a, "ASCII"},
	} {
		p, err := ParsePolicy([]byte(tc.text))
		if err == nil {
			t.Errorf("ParsePolicy(%q) = %d rules, want an error", tc.text, p.Rules())
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParsePolicy(%q) = %q, want it to mention %q", tc.text, err, tc.msg)
		}
	}
	for _, prefix := range []string{"acme/", "acme", "acme/private/", "https://acme.example/", "pkg:huggingface/acme/", "a"} {
		if _, err := ParsePolicy([]byte(prefix + " " + a)); err != nil {
			t.Errorf("ParsePolicy(%q): %v", prefix, err)
		}
	}
}

// Issue 9: a lone surrogate escape in a statement would be read as U+FFFD
// by encoding/json; it is refused, wherever it is.
func TestAdmitRefusesLoneSurrogates(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	digest := `{"sha256":"` + sha256Hex("x") + `"}`
	for _, tc := range []struct{ payload, msg string }{
		{`{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/\ud800x","digest":` + digest + `}]}`, `\ud800`},
		{`{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/x\udc00","digest":` + digest + `}]}`, `\udc00`},
		{`{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/\udbff\u0041","digest":` + digest + `}]}`, `\udbff`},
		{`{"_type":"` + StatementV1 + `","predicateType":"p\ud800","subject":[{"name":"acme/x","digest":` + digest + `}]}`, `\ud800`},
		{`{"_type":"` + StatementV1 + `","predicateType":"p","predicate":{"note":"\ude00"},"subject":[{"name":"acme/x","digest":` + digest + `}]}`, `\ude00`},
		{`{"_type":"` + StatementV1 + `","predicateType":"p","predicate":{"\ud83d":1},"subject":[{"name":"acme/x","digest":` + digest + `}]}`, `\ud83d`},
	} {
		_, err := Admit(&Submission{Envelope: k.sign(t, []byte(tc.payload)), PublicKey: k.pem(t)}, nil, maxEntry)
		wantErr(t, err, ErrInvalid, "lone UTF-16 surrogate", tc.msg)
	}
	// A pair is one character, kept.
	ok := `{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/\ud83d\ude00","digest":` + digest + `}]}`
	rel := admit(t, &Submission{Envelope: k.sign(t, []byte(ok)), PublicKey: k.pem(t)}, nil)
	if len(rel.Subjects) != 1 || rel.Subjects[0] != "acme/\U0001F600" {
		t.Errorf("subjects %q", rel.Subjects)
	}
	// In the envelope and the submission too.
	env := `{"payloadType":"application/vnd.in-toto+json\udc00","payload":"` + base64.StdEncoding.EncodeToString([]byte(ok)) + `","signatures":[{"sig":"AA=="}]}`
	_, err := Admit(&Submission{Envelope: []byte(env), PublicKey: k.pem(t)}, nil, maxEntry)
	wantErr(t, err, ErrInvalid, "lone UTF-16 surrogate")
	_, err = ParseSubmission([]byte(`{"public_key":"\ud800"}`))
	wantErr(t, err, ErrInvalid, "lone UTF-16 surrogate")
	_, err = ParseSubmission([]byte("{\"public_key\":\"\xff\"}"))
	wantErr(t, err, ErrInvalid, "UTF-8")
}

func TestCheckJSONText(t *testing.T) {
	for _, doc := range []string{
		`"\ud800"`, `"\udfff"`, `"\uD800"`, `"a\ud800\"`, `"\ud800\u0041"`, `"\ud800\ud800"`, `"\udc00\ud800"`,
		`["ok","\\","\ud800"]`, `{"k\udbff":1}`, `"\\\ud800"`,
	} {
		if err := checkJSONText([]byte(doc)); err == nil {
			t.Errorf("checkJSONText(%s) = nil, want a lone surrogate", doc)
		}
	}
	for _, doc := range []string{
		`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\\ud800"`, `"\\\\ud800"`, `"ud800"`, `{"a":"\u0041\ufffd"}`, `"\"\ud800\udc00"`, `1`, `"\u12"`,
	} {
		if err := checkJSONText([]byte(doc)); err != nil {
			t.Errorf("checkJSONText(%s) = %v", doc, err)
		}
	}
}

// FuzzSubjectName: no accepted name carries the forms issue 9 found, and
// coverage is case-insensitive: a name that starts with a rule's prefix
// under ASCII case folding is covered by it.
func FuzzSubjectName(f *testing.F) {
	for name := range refusedNames {
		f.Add(name)
	}
	for _, name := range acceptedNames {
		f.Add(name)
	}
	a := fpOf("a")
	p, err := ParsePolicy([]byte("acme/ " + a + "\nacme/private/ " + fpOf("b") + "\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := checkSubjectName(name)
		if perr := p.Check([]string{name}, fpOf("c")); (err != nil) != errors.Is(perr, ErrInvalid) {
			t.Fatalf("%q: checkSubjectName %v, Check %v", name, err, perr)
		}
		if err != nil {
			return
		}
		if !utf8.ValidString(name) || strings.TrimFunc(name, unicode.IsSpace) != name || strings.ContainsAny(name, "\\\x00") ||
			strings.Contains(name, "/./") || strings.Contains(name, "/../") || strings.HasPrefix(name, "./") ||
			strings.Contains(name[schemeLength(name):], "//") ||
			strings.Contains(strings.ToLower(name), "%2f") || strings.ContainsRune(name, utf8.RuneError) {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if !unicode.IsPrint(r) {
				t.Fatalf("accepted %q with %U", name, r)
			}
		}
		for _, folded := range []string{strings.ToLower(name), strings.ToUpper(name), string(bytes.ToLower([]byte(name)))} {
			folded = strings.ToLower(folded)
			if strings.HasPrefix(folded, "acme/") && p.Check([]string{name}, fpOf("c")) == nil {
				t.Fatalf("%q is not covered by acme/", name)
			}
			if strings.HasPrefix(folded, "acme/private/") && p.Check([]string{name}, a) == nil {
				t.Fatalf("%q is not covered by acme/private/", name)
			}
		}
	})
}
