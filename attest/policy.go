package attest

import (
	"bufio"
	"bytes"
	"fmt"
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
//	<subject name prefix> <sha256:fingerprint> [<sha256:fingerprint> ...]
//
// A fingerprint is "sha256:" and the hex SHA-256 of the key's DER
// SubjectPublicKeyInfo (tlog keygen and tlog attest print it).
type Policy struct {
	rules []rule
}

type rule struct {
	prefix  string
	allowed map[string]bool
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
			return nil, fmt.Errorf("publisher policy line %d: want a subject name prefix and at least one sha256:<hex> key fingerprint", n)
		}
		if err := checkName(f[0], true); err != nil {
			return nil, fmt.Errorf("publisher policy line %d: prefix %q %v", n, f[0], err)
		}
		if prev, ok := seen[foldKey(f[0])]; ok {
			return nil, fmt.Errorf("publisher policy line %d: prefix %q already has a rule on line %d (prefixes are compared ignoring case)", n, f[0], prev)
		}
		seen[foldKey(f[0])] = n
		r := rule{prefix: f[0], allowed: map[string]bool{}}
		for _, fp := range f[1:] {
			if _, err := ParseDigest(fp); err != nil {
				return nil, fmt.Errorf("publisher policy line %d: %q is not a key fingerprint (sha256:<64 lowercase hex>)", n, fp)
			}
			r.allowed[fp] = true
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

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// Check returns an ErrForbidden error if signer may not sign one of the
// subject names, and an ErrInvalid error for a name Admit would refuse.
func (p *Policy) Check(names []string, signer string) error {
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
		if best != nil && !best.allowed[signer] {
			return fmt.Errorf("%w: subject %q is covered by the rule for %q, which does not list the signing key %s", ErrForbidden, name, best.prefix, signer)
		}
	}
	return nil
}
