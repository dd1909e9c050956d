package signer

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformedPolicy is returned (wrapped) for text that is not a
// c2sp.org/tlog-policy file.
var ErrMalformedPolicy = errors.New("malformed policy")

// ErrQuorum is returned (wrapped) when a checkpoint's cosignatures do not
// meet a policy's quorum.
var ErrQuorum = errors.New("witness quorum not met")

// Policy is a parsed c2sp.org/tlog-policy: the logs and witnesses a client
// trusts and the quorum of witness cosignatures it requires.
type Policy struct {
	// Logs are the trusted logs, in file order.
	Logs []PolicyLog
	// Witnesses are the known witnesses, in file order.
	Witnesses []*PolicyWitness
	// quorum is the root of the quorum rule; nil means "quorum none".
	quorum *policyNode
}

// PolicyLog is a "log <vkey> [<url>]" line.
type PolicyLog struct {
	Verifier *Verifier
	URL      string
}

// PolicyWitness is a "witness <name> <vkey> [<url>]" line.
type PolicyWitness struct {
	Name     string // the name in the policy, not the key name
	Verifier *CosignatureVerifier
	URL      string
}

// policyNode is a witness (leaf) or a group with a threshold.
type policyNode struct {
	witness   *PolicyWitness
	threshold int
	members   []*policyNode
}

// ParsePolicy parses a policy file. It enforces the spec's rules: names
// defined before use, each member once per group, 1 ≤ k ≤ n, no duplicate
// keys, exactly one quorum line, and only tab, newline and printable
// characters.
func ParsePolicy(text []byte) (*Policy, error) {
	for _, c := range text {
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return nil, fmt.Errorf("%w: control character %#x", ErrMalformedPolicy, c)
		}
	}
	p := &Policy{}
	names := map[string]*policyNode{}
	keys := map[string]bool{}
	quorums := 0
	for n, line := range strings.Split(string(text), "\n") {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrMalformedPolicy, n+1, fmt.Sprintf(format, args...))
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, fail("want: log <vkey> [<url>]")
			}
			v, err := NewVerifier(f[1])
			if err != nil {
				return nil, fail("%v", err)
			}
			if raw := rawKey(f[1]); keys[raw] {
				return nil, fail("duplicate key")
			} else {
				keys[raw] = true
			}
			p.Logs = append(p.Logs, PolicyLog{Verifier: v, URL: optional(f, 2)})
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, fail("want: witness <name> <vkey> [<url>]")
			}
			if _, ok := names[f[1]]; ok || f[1] == "none" {
				return nil, fail("name %q already defined", f[1])
			}
			v, err := NewCosignatureVerifier(f[2])
			if err != nil {
				return nil, fail("%v", err)
			}
			if raw := rawKey(f[2]); keys[raw] {
				return nil, fail("duplicate key")
			} else {
				keys[raw] = true
			}
			w := &PolicyWitness{Name: f[1], Verifier: v, URL: optional(f, 3)}
			p.Witnesses = append(p.Witnesses, w)
			names[f[1]] = &policyNode{witness: w}
		case "group":
			if len(f) < 4 {
				return nil, fail("want: group <name> all|any|<k> <member>...")
			}
			if _, ok := names[f[1]]; ok || f[1] == "none" {
				return nil, fail("name %q already defined", f[1])
			}
			g := &policyNode{}
			seen := map[string]bool{}
			for _, m := range f[3:] {
				node, ok := names[m]
				if !ok {
					return nil, fail("member %q is not defined on an earlier line", m)
				}
				if seen[m] {
					return nil, fail("member %q listed twice", m)
				}
				seen[m] = true
				g.members = append(g.members, node)
			}
			switch f[2] {
			case "all":
				g.threshold = len(g.members)
			case "any":
				g.threshold = 1
			default:
				k, err := ParseDecimal(f[2])
				if err != nil || k < 1 || k > uint64(len(g.members)) {
					return nil, fail("threshold %q must be all, any or 1…%d", f[2], len(g.members))
				}
				g.threshold = int(k)
			}
			names[f[1]] = g
		case "quorum":
			if len(f) != 2 {
				return nil, fail("want: quorum <name>|none")
			}
			if quorums++; quorums > 1 {
				return nil, fail("a second quorum line")
			}
			if f[1] == "none" {
				continue
			}
			node, ok := names[f[1]]
			if !ok {
				return nil, fail("quorum %q is not defined on an earlier line", f[1])
			}
			p.quorum = node
		default:
			return nil, fail("unknown keyword %q", f[0])
		}
	}
	if quorums == 0 {
		return nil, fmt.Errorf("%w: no quorum line", ErrMalformedPolicy)
	}
	return p, nil
}

func optional(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// rawKey is the public key a vkey wraps, so that two vkeys with other
// names or IDs over one key count as duplicates.
// A vkey is <name>+<hex id>+<base64 key>: names hold no '+', base64 may.
func rawKey(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return vkey
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) != 1+ed25519.PublicKeySize {
		return vkey
	}
	return string(b[1:])
}

// Witnessed reports whether the quorum needs any cosignature.
func (p *Policy) Witnessed() bool { return p.quorum != nil }

// Check verifies a signed checkpoint against the policy: it must carry a
// valid signature of one of the policy's logs (its origin being that log's
// key name), and valid cosignatures meeting the quorum. Cosignatures of
// witnesses the policy does not know are ignored; a known witness's bad
// cosignature rejects the checkpoint.
func (p *Policy) Check(msg []byte) (Checkpoint, *Note, error) {
	verifiers := make([]NoteVerifier, 0, len(p.Logs)+len(p.Witnesses))
	for _, l := range p.Logs {
		verifiers = append(verifiers, l.Verifier)
	}
	for _, w := range p.Witnesses {
		verifiers = append(verifiers, w.Verifier)
	}
	n, err := OpenNote(msg, verifiers...)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	logSigned := false
	cosigned := map[*PolicyWitness]bool{}
	for _, s := range n.Sigs {
		for _, l := range p.Logs {
			if s.Name == l.Verifier.Name() && s.KeyHash == l.Verifier.KeyHash() && c.Origin == l.Verifier.Name() {
				logSigned = true
			}
		}
		for _, w := range p.Witnesses {
			if s.Name == w.Verifier.Name() && s.KeyHash == w.Verifier.KeyHash() {
				cosigned[w] = true
			}
		}
	}
	if !logSigned {
		return Checkpoint{}, nil, fmt.Errorf("%w: no signature of a policy log for origin %q", ErrUnverifiedNote, c.Origin)
	}
	if p.quorum != nil && !p.quorum.met(cosigned) {
		names := make([]string, 0, len(cosigned))
		for w := range cosigned {
			names = append(names, w.Name)
		}
		return Checkpoint{}, nil, fmt.Errorf("%w: valid cosignatures from %d witnesses %v", ErrQuorum, len(cosigned), names)
	}
	return c, n, nil
}

func (g *policyNode) met(cosigned map[*PolicyWitness]bool) bool {
	if g.witness != nil {
		return cosigned[g.witness]
	}
	k := 0
	for _, m := range g.members {
		if m.met(cosigned) {
			k++
		}
	}
	return k >= g.threshold
}

// QuorumMet reports whether the named witnesses (policy names) meet the
// quorum. Logs use it to decide when a checkpoint may be published.
func (p *Policy) QuorumMet(names map[string]bool) bool {
	if p.quorum == nil {
		return true
	}
	cosigned := map[*PolicyWitness]bool{}
	for _, w := range p.Witnesses {
		if names[w.Name] {
			cosigned[w] = true
		}
	}
	return p.quorum.met(cosigned)
}
