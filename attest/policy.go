package attest

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Policy is a publisher policy: which keys may sign releases of which
// models. Each rule maps a subject-name prefix to the key fingerprints
// allowed for names under it; the longest matching prefix decides. A
// subject no rule covers may be signed by anyone. A nil *Policy allows
// everything (an open log).
//
// Coverage ignores case: a rule covers every subject name that starts
// with its prefix under Unicode simple case folding, so the rule for
// "acme/" covers "ACME/fraud-v3" and "Acme/x" too (and two rules whose
// prefixes differ only in case are an error). Names that would read as a
// covered name without matching it — " acme/x", "acme\x", "acme//x",
// "./acme/x", "acme%2fx", "ａｃｍｅ/x", control, format or invisible
// characters — never reach the policy: Admit refuses them (ErrInvalid)
// whether or not a policy is set, and Check refuses them too. See
// checkSubjectName for the full list. Prefixes are printable ASCII
// without backslashes, empty, "." or ".." segments; a prefix may end in
// '/'.
//
// File format, one rule per line, '#' starts a comment:
//
//	<subject name prefix> <signer> [<signer> ...]
//
// where a signer is a key or a certificate identity:
//
//	sha256:<fingerprint>
//	identity=<SAN> issuer=<OIDC issuer URL>
//	identity=~<regexp> issuer=~<regexp>
//
// A fingerprint is "sha256:" and the hex SHA-256 of the key's DER
// SubjectPublicKeyInfo (tlog keygen and tlog attest print it). An identity
// is the subject alternative name of a Fulcio certificate (an e-mail, a
// CI workflow URI) and must be followed by the OIDC issuer that vouched
// for it, as cosign's --certificate-identity and --certificate-oidc-issuer
// (with "=~", a Go regular expression matching the whole value, as the
// -regexp flags; it cannot hold spaces: use \s). An identity matches only
// releases whose certificate the log validated against its trusted root.
type Policy struct {
	rules []rule
}

type rule struct {
	prefix     string
	allowed    map[string]bool
	identities []identityRule
}

// identityRule allows a certificate identity vouched by an issuer.
type identityRule struct {
	identity, issuer matcher
}

// matcher matches a string exactly, or with an anchored regexp.
type matcher struct {
	text string
	re   *regexp.Regexp
}

func parseMatcher(v string) (matcher, error) {
	if re, ok := strings.CutPrefix(v, "~"); ok {
		c, err := regexp.Compile(`^(?:` + re + `)$`)
		if err != nil {
			return matcher{}, err
		}
		return matcher{text: v, re: c}, nil
	}
	if v == "" {
		return matcher{}, fmt.Errorf("empty")
	}
	return matcher{text: v}, nil
}

func (m matcher) match(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return s == m.text
}

// Signer is who signed a release: its key's fingerprint and, for a
// certificate the log validated, the certificate's identity and issuer.
type Signer struct {
	Key              string
	Identity, Issuer string
}

// ParsePolicy parses a publisher policy file.
func ParsePolicy(text []byte) (*Policy, error) {
	p := &Policy{}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("publisher policy line %d: want a subject name prefix and at least one signer (sha256:<hex> key fingerprint, or identity=… issuer=…)", n)
		}
		if err := checkName(f[0], true); err != nil {
			return nil, fmt.Errorf("publisher policy line %d: prefix %q %v", n, f[0], err)
		}
		if prev, ok := seen[foldKey(f[0])]; ok {
			return nil, fmt.Errorf("publisher policy line %d: prefix %q already has a rule on line %d (prefixes are compared ignoring case)", n, f[0], prev)
		}
		seen[foldKey(f[0])] = n
		r := rule{prefix: f[0], allowed: map[string]bool{}}
		if err := r.parseSigners(f[1:], "publisher policy", n); err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read publisher policy: %w", err)
	}
	if len(p.rules) == 0 {
		return nil, fmt.Errorf("publisher policy has no rules")
	}
	return p, nil
}

// parseSigners adds the signers of line n of a what file (tokens
// sha256:<fingerprint>, identity=… issuer=…) to r.
func (r *rule) parseSigners(f []string, what string, n int) error {
	for i := 0; i < len(f); i++ {
		tok := f[i]
		switch {
		case strings.HasPrefix(tok, "identity="):
			id, err := parseMatcher(strings.TrimPrefix(tok, "identity="))
			if err != nil {
				return fmt.Errorf("%s line %d: %q: %v", what, n, tok, err)
			}
			if i+1 >= len(f) || !strings.HasPrefix(f[i+1], "issuer=") {
				return fmt.Errorf("%s line %d: %q must be followed by issuer=<OIDC issuer> (an identity means nothing without who vouched for it)", what, n, tok)
			}
			i++
			iss, err := parseMatcher(strings.TrimPrefix(f[i], "issuer="))
			if err != nil {
				return fmt.Errorf("%s line %d: %q: %v", what, n, f[i], err)
			}
			r.identities = append(r.identities, identityRule{identity: id, issuer: iss})
		case strings.HasPrefix(tok, "issuer="):
			return fmt.Errorf("%s line %d: %q must follow an identity=…", what, n, tok)
		default:
			if _, err := ParseDigest(tok); err != nil {
				return fmt.Errorf("%s line %d: %q is not a key fingerprint (sha256:<64 lowercase hex>) nor identity=… issuer=…", what, n, tok)
			}
			r.allowed[tok] = true
		}
	}
	return nil
}

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// Check returns an ErrForbidden error if the key signer may not sign one
// of the subject names, and an ErrInvalid error for a name Admit would
// refuse.
func (p *Policy) Check(names []string, signer string) error {
	return p.CheckSigner(names, Signer{Key: signer})
}

// CheckSigner is Check for a signer that may be a validated certificate
// identity: a rule allows it if it lists its key, or an identity and
// issuer that match the signer's.
func (p *Policy) CheckSigner(names []string, s Signer) error {
	if p == nil {
		return nil
	}
	for _, name := range names {
		if err := checkSubjectName(name); err != nil {
			return fmt.Errorf("%w: subject name %q %v", ErrInvalid, name, err)
		}
	}
	for _, name := range names {
		var best *rule
		for i := range p.rules {
			r := &p.rules[i]
			if covers(r.prefix, name) && (best == nil || len(r.prefix) > len(best.prefix)) {
				best = r
			}
		}
		if best == nil || best.allows(s) {
			continue
		}
		if s.Identity != "" {
			return fmt.Errorf("%w: subject %q is covered by the rule for %q, which lists neither the signing key %s nor the identity %q of issuer %q", ErrForbidden, name, best.prefix, s.Key, s.Identity, s.Issuer)
		}
		return fmt.Errorf("%w: subject %q is covered by the rule for %q, which does not list the signing key %s", ErrForbidden, name, best.prefix, s.Key)
	}
	return nil
}

func (r *rule) allows(s Signer) bool {
	if r.allowed[s.Key] {
		return true
	}
	if s.Identity == "" {
		return false
	}
	for _, ir := range r.identities {
		if ir.identity.match(s.Identity) && ir.issuer.match(s.Issuer) {
			return true
		}
	}
	return false
}
