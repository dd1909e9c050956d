package attest

import (
	"errors"
	"strings"
	"testing"
)

// Publisher policy rules by certificate identity: exact and anchored
// regexp identities and issuers, keys beside them, and refusals of
// malformed lines.
func TestPolicyIdentity(t *testing.T) {
	key := "sha256:" + strings.Repeat("ab", 32)
	p, err := ParsePolicy([]byte("acme/ " + key + " identity=bot@acme.example issuer=https://issuer.example\n" +
		"acme/ci/ identity=~https://ci\\.acme\\.example/.* issuer=~https://(a|b)\\.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Signer
		ok   bool
	}{
		{"acme/x", Signer{Key: key}, true},
		{"acme/x", Signer{Key: "sha256:00", Identity: "bot@acme.example", Issuer: "https://issuer.example"}, true},
		{"acme/x", Signer{Key: "sha256:00", Identity: "bot@acme.example", Issuer: "https://other.example"}, false},
		{"acme/x", Signer{Key: "sha256:00", Identity: "bot@acme.example.evil", Issuer: "https://issuer.example"}, false},
		{"acme/ci/m", Signer{Key: "sha256:00", Identity: "https://ci.acme.example/release", Issuer: "https://a.example"}, true},
		{"acme/ci/m", Signer{Key: "sha256:00", Identity: "https://ci.acme.example/release", Issuer: "https://a.example.evil"}, false},
		{"acme/ci/m", Signer{Key: "sha256:00", Identity: "xhttps://ci.acme.example/release", Issuer: "https://a.example"}, false},
		{"acme/ci/m", Signer{Key: key}, false},
	} {
		err := p.CheckSigner([]string{tc.name}, tc.s)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
			t.Errorf("%s by %+v: %v, want allowed %v", tc.name, tc.s, err, tc.ok)
		}
	}
	for _, bad := range []string{
		"acme/ identity=bot@acme.example\n",
		"acme/ issuer=https://issuer.example\n",
		"acme/ identity=~( issuer=x\n",
		"acme/ identity= issuer=x\n",
	} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("ParsePolicy(%q): no error", bad)
		}
	}
}
