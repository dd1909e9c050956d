package vectors

import (
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/tlogai/tlog/attest"
)

// Commitment is a vector of commitments.json: valid means that
// attest.Open(commitment, salt, content) accepts, and then
// attest.Commit(salt, content) returns commitment. Reason says why an
// invalid one is refused: "salt" (another salt), "content" (other
// content), "salt_length" (not 32 bytes), "malformed" (the commitment is
// not sha256:<64 lowercase hex>).
type Commitment struct {
	Name       string `json:"name"`
	Salt       string `json:"salt_hex"`
	Content    string `json:"content_b64"`
	Commitment string `json:"commitment"`
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason,omitempty"`
}

func commitments() ([]Commitment, error) {
	var out []Commitment
	add := func(name, reason string, salt, content []byte, commitment string) {
		out = append(out, Commitment{
			Name: name, Salt: hex.EncodeToString(salt), Content: base64.StdEncoding.EncodeToString(content),
			Commitment: commitment, Valid: attest.Open(commitment, salt, content) == nil, Reason: reason,
		})
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	valid := []struct {
		name    string
		salt    []byte
		content []byte
	}{
		{"empty-content", seed("salt 1"), []byte{}},
		{"ascii-text", seed("salt 2"), []byte("The applicant's income was verified against payslips.")},
		{"utf8-text", seed("salt 3"), []byte("Entscheidung: abgelehnt — Grund: «unvollständig» 日本語 😀")},
		{"binary-all-bytes", seed("salt 4"), all},
		{"json-document", seed("salt 5"), []byte(`{"prompt":"Is this transaction fraudulent?","account":"4711"}` + "\n")},
		{"zero-salt", make([]byte, 32), []byte("x")},
		{"salt-of-0xff", []byte(strings.Repeat("\xff", 32)), []byte("x")},
		{"same-content-other-salt", seed("salt 6"), []byte("x")},
	}
	for _, v := range valid {
		c, err := attest.Commit(v.salt, v.content)
		if err != nil {
			return nil, err
		}
		add(v.name, "", v.salt, v.content, c)
	}
	salt, content := seed("salt 7"), []byte("the private rationale")
	c, err := attest.Commit(salt, content)
	if err != nil {
		return nil, err
	}
	h := strings.TrimPrefix(c, "sha256:")
	add("wrong-salt", "salt", seed("salt 8"), content, c)
	add("wrong-content", "content", salt, []byte("the private rationale."), c)
	add("empty-content-instead", "content", salt, []byte{}, c)
	add("salt-31-bytes", "salt_length", salt[:31], content, c)
	add("salt-33-bytes", "salt_length", append(append([]byte(nil), salt...), 0), content, c)
	add("salt-empty", "salt_length", []byte{}, content, c)
	// The same hashed bytes, the salt's last byte moved to the content:
	// the fixed salt length keeps salt and content from trading bytes.
	add("salt-byte-moved-to-content", "salt_length", salt[:31], append([]byte{salt[31]}, content...), c)
	add("commitment-uppercase-hex", "malformed", salt, content, "sha256:"+strings.ToUpper(h))
	add("commitment-uppercase-prefix", "malformed", salt, content, "SHA256:"+h)
	add("commitment-no-prefix", "malformed", salt, content, h)
	add("commitment-sha512-prefix", "malformed", salt, content, "sha512:"+h)
	add("commitment-63-hex", "malformed", salt, content, c[:len(c)-1])
	add("commitment-65-hex", "malformed", salt, content, c+"0")
	add("commitment-trailing-newline", "malformed", salt, content, c+"\n")
	add("commitment-leading-space", "malformed", salt, content, " "+c)
	add("commitment-empty", "malformed", salt, content, "")
	return out, nil
}
