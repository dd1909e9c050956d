package attest

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Signers is a list of allowed signers, without subject names: the
// signers of one publisher policy rule, for a reader of the log (tlog
// monitor --allowed-signers) rather than the log's admission. It parses
// and matches exactly as a Policy rule does.
//
// File format, one signer per line (several on one line are allowed, as
// in a policy rule), '#' starts a comment:
//
//	sha256:<fingerprint>
//	identity=<SAN> issuer=<OIDC issuer URL>
//	identity=~<regexp> issuer=~<regexp>
//
// See Policy for what each form means. A nil *Signers allows nobody.
type Signers struct {
	r rule
	n int
}

// ParseSigners parses an allowed-signers file; one without any signer is
// an error.
func ParseSigners(text []byte) (*Signers, error) {
	s := &Signers{r: rule{allowed: map[string]bool{}}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		before := len(s.r.allowed) + len(s.r.identities)
		if err := s.r.parseSigners(f, "allowed signers", n); err != nil {
			return nil, err
		}
		s.n += len(s.r.allowed) + len(s.r.identities) - before
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read allowed signers: %w", err)
	}
	if s.n == 0 {
		return nil, fmt.Errorf("allowed signers: no signer listed (want lines of sha256:<key fingerprint> or identity=<SAN> issuer=<URL>)")
	}
	return s, nil
}

// Len returns the number of signers listed (a fingerprint listed twice
// counts once).
func (s *Signers) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Allows reports whether the list names sg: its key's fingerprint, or the
// certificate identity and issuer the log validated.
func (s *Signers) Allows(sg Signer) bool {
	return s != nil && s.r.allows(sg)
}
