package attest

import (
	"strings"
	"testing"
)

// Allowed-signer lists parse and match as policy rules do: keys, exact
// and regexp identities with their issuers; malformed lines are refused
// naming the line.
func TestSigners(t *testing.T) {
	key := "sha256:" + strings.Repeat("ab", 32)
	other := "sha256:" + strings.Repeat("cd", 32)
	s, err := ParseSigners([]byte("# release keys\n" + key + "\n\n" +
		"identity=bot@acme.example issuer=https://issuer.example  # CI\n" +
		"identity=~https://ci\\.acme\\.example/.* issuer=~https://(a|b)\\.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
	for _, tc := range []struct {
		name string
		sg   Signer
		want bool
	}{
		{"listed key", Signer{Key: key}, true},
		{"other key", Signer{Key: other}, false},
		{"exact identity", Signer{Key: other, Identity: "bot@acme.example", Issuer: "https://issuer.example"}, true},
		{"identity of another issuer", Signer{Key: other, Identity: "bot@acme.example", Issuer: "https://evil.example"}, false},
		{"regexp identity", Signer{Key: other, Identity: "https://ci.acme.example/release.yml", Issuer: "https://b.example"}, true},
		{"regexp is anchored", Signer{Key: other, Identity: "https://ci.acme.example/x", Issuer: "https://b.example.evil"}, false},
		{"identity without issuer", Signer{Key: other, Identity: "bot@acme.example"}, false},
	} {
		if got := s.Allows(tc.sg); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", tc.name, got, tc.want)
		}
	}
	var none *Signers
	if none.Allows(Signer{Key: key}) || none.Len() != 0 {
		t.Error("a nil list allows someone")
	}

	for _, tc := range []struct{ text, want string }{
		{"", "no signer listed"},
		{"# only a comment\n", "no signer listed"},
		{key + "\nsha256:abc\n", `allowed signers line 2: "sha256:abc" is not a key fingerprint`},
		{"acme/ " + key + "\n", `allowed signers line 1: "acme/" is not a key fingerprint`},
		{"identity=bot@acme.example\n", "must be followed by issuer="},
		{"issuer=https://issuer.example\n", "must follow an identity="},
		{"identity=~( issuer=x\n", `allowed signers line 1: "identity=~("`},
	} {
		_, err := ParseSigners([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSigners(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}
