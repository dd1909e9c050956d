package attest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func fpOf(s string) string { return "sha256:" + sha256Hex(s) }

func TestParsePolicy(t *testing.T) {
	a, b := fpOf("a"), fpOf("b")
	text := fmt.Sprintf(`# publishers of acme models
acme/            %s   # the release key
acme/secret/	%s	%s
  other/model-x  %s

# trailing comment
`, a, a, b, b)
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if p.Rules() != 3 {
		t.Errorf("Rules() = %d, want 3", p.Rules())
	}
	for _, tc := range []struct {
		name, signer string
		ok           bool
	}{
		{"acme/llm", a, true},
		{"acme/llm", b, false},
		{"acme/secret/llm", a, true},
		{"acme/secret/llm", b, true},
		{"other/model-x", b, true},
		{"other/model-x-large", b, true},
		{"other/model-x", a, false},
		{"other/model-y", a, true}, // not covered
		{"acme", a, true},          // shorter than every prefix
		{"", b, true},
	} {
		err := p.Check([]string{tc.name}, tc.signer)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q, %s) = %v, want ok=%v", tc.name, tc.signer[:12], err, tc.ok)
		}
	}
}

func TestParsePolicyCRLF(t *testing.T) {
	a := fpOf("a")
	p, err := ParsePolicy([]byte("acme/ " + a + "\r\nbeta/ " + a + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Rules() != 2 {
		t.Errorf("Rules() = %d, want 2", p.Rules())
	}
	if err := p.Check([]string{"acme/x", "beta/y"}, a); err != nil {
		t.Error(err)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	a := fpOf("a")
	for _, tc := range []struct {
		name, text string
		msg        []string
	}{
		{"empty file", "", []string{"no rules"}},
		{"blank lines", "\n\n   \n\t\n", []string{"no rules"}},
		{"comments only", "# nothing\n   # still nothing\n#" + a + "\n", []string{"no rules"}},
		{"no fingerprint", "acme/\n", []string{"line 1", "fingerprint"}},
		{"fingerprint commented out", "# header\nacme/ # " + a + "\n", []string{"line 2"}},
		{"bad fingerprint uppercase", "acme/ " + strings.ToUpper(a), []string{"line 1", "not a key fingerprint"}},
		{"bad fingerprint short", "acme/ " + a[:len(a)-1], []string{"not a key fingerprint"}},
		{"bad fingerprint no prefix", "acme/ " + a[7:], []string{"not a key fingerprint"}},
		{"bad fingerprint sha512", "acme/ sha512:" + a[7:], []string{"not a key fingerprint"}},
		{"one good one bad fingerprint", "acme/ " + a + " sha256:xyz", []string{`"sha256:xyz"`}},
		{"fingerprint as prefix", a + "\n", []string{"line 1"}},
		{"duplicate prefix", "acme/ " + a + "\nbeta/ " + a + "\n\nacme/ " + fpOf("b") + "\n", []string{"line 4", `"acme/"`, "line 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.text))
			if err == nil {
				t.Fatalf("ParsePolicy(%q) = %d rules, want an error", tc.text, p.Rules())
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestPolicyLongestPrefix: the longest matching prefix decides, whatever
// the order of the rules in the file.
func TestPolicyLongestPrefix(t *testing.T) {
	outer, inner, innermost := fpOf("outer"), fpOf("inner"), fpOf("innermost")
	rules := []string{
		"acme/ " + outer,
		"acme/private/ " + inner,
		"acme/private/keys/ " + innermost,
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		var text strings.Builder
		for _, i := range order {
			text.WriteString(rules[i] + "\n")
		}
		p, err := ParsePolicy([]byte(text.String()))
		if err != nil {
			t.Fatal(err)
		}
		for name, allowed := range map[string]string{
			"acme/public":             outer,
			"acme/private/model":      inner,
			"acme/private/keys/model": innermost,
			"acme/privatex":           outer,
		} {
			for _, signer := range []string{outer, inner, innermost} {
				err := p.Check([]string{name}, signer)
				if signer == allowed {
					if err != nil {
						t.Errorf("order %v: %s signing %s: %v", order, signer[:14], name, err)
					}
					continue
				}
				wantErr(t, err, ErrForbidden, fmt.Sprintf("%q", name), signer)
				// The error names the deciding rule.
				var rule string
				for _, r := range rules {
					if f := strings.Fields(r); strings.HasPrefix(name, f[0]) && len(f[0]) > len(rule) {
						rule = f[0]
					}
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", rule)) {
					t.Errorf("error %q does not name the rule %q", err, rule)
				}
			}
		}
	}
}

func TestPolicyCheckEverySubject(t *testing.T) {
	a, b := fpOf("a"), fpOf("b")
	p, err := ParsePolicy([]byte("acme/ " + a + "\nbeta/ " + b + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check([]string{"acme/x", "free/y"}, a); err != nil {
		t.Error(err)
	}
	err = p.Check([]string{"acme/x", "free/y", "beta/z"}, a)
	wantErr(t, err, ErrForbidden, `"beta/z"`, `"beta/"`, a)
	if err := p.Check(nil, a); err != nil {
		t.Errorf("no subjects: %v", err)
	}
}

func TestNilPolicyAllowsAll(t *testing.T) {
	var p *Policy
	if err := p.Check([]string{"acme/x", ""}, "anything"); err != nil {
		t.Error(err)
	}
}

// TestAdmitPolicy: Admit applies the policy to the verified signer.
func TestAdmitPolicy(t *testing.T) {
	ks := keys(t)
	p, err := ParsePolicy([]byte("acme/ " + ks.p256.fp(t) + " " + ks.ed.fp(t) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	payload := slsaStatement(t, subj("acme/llm"), subj("other/llm"))
	for _, k := range []*testKey{ks.p256, ks.ed} {
		env := k.sign(t, payload)
		rel := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, p)
		checkRelease(t, rel, env, want{key: k, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: []testSubject{subj("acme/llm"), subj("other/llm")}})
	}
	for _, k := range []*testKey{ks.p256b, ks.rsa} {
		rel, err := Admit(&Submission{Envelope: k.sign(t, payload), PublicKey: k.pem(t)}, p, maxEntry)
		if rel != nil {
			t.Errorf("%s: release returned with the error", k.name)
		}
		wantErr(t, err, ErrForbidden, `"acme/llm"`, `"acme/"`, k.fp(t))
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrSignature) {
			t.Errorf("policy error wraps another sentinel: %v", err)
		}
	}
	// Every subject is checked, not only the first.
	_, err = Admit(&Submission{Envelope: ks.rsa.sign(t, slsaStatement(t, subj("other/llm"), subj("acme/llm"))), PublicKey: ks.rsa.pem(t)}, p, maxEntry)
	wantErr(t, err, ErrForbidden, `"acme/llm"`)
	// An uncovered subject alone may be signed by anyone.
	admit(t, &Submission{Envelope: ks.rsa.sign(t, slsaStatement(t, subj("other/llm"))), PublicKey: ks.rsa.pem(t)}, p)
	// A bad signature is a signature error even when the policy would
	// forbid the key: the policy applies to verified signers only.
	_, err = Admit(&Submission{Envelope: ks.p256b.sign(t, payload), PublicKey: ks.rsa.pem(t)}, p, maxEntry)
	wantErr(t, err, ErrSignature)
}
