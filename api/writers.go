package api

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Writer kinds: what a writer may log. Each write endpoint logs one kind.
const (
	KindRaw        = "raw"        // POST /add
	KindRelease    = "release"    // POST /api/v1/attestations
	KindDecision   = "decision"   // POST /api/v1/decisions
	KindAccess     = "access"     // POST /api/v1/access
	KindEvaluation = "evaluation" // POST /api/v1/evaluations
)

// writerKinds are the kinds a writers file may name.
var writerKinds = []string{KindRaw, KindRelease, KindDecision, KindAccess, KindEvaluation}

// kindsWithSystem are the kinds whose records name a system, to which a
// systems= scope applies.
var kindsWithSystem = []string{KindDecision, KindAccess, KindEvaluation}

// MinTokenBytes is the least entropy of a writer token: 32 random bytes
// (256 bits), so that guessing one online is hopeless.
const MinTokenBytes = 32

// Writer is one writer of a writers file.
type Writer struct {
	// Name identifies the writer in logs and refusals. Never secret.
	Name string
	// Kinds the writer may log; nil means every kind.
	Kinds []string
	// Systems are the patterns (exact, or with * matching any run of
	// characters) that the system of each record it logs must match; nil
	// means any system.
	Systems []string

	tokenHash [sha256.Size]byte
}

// MayLog reports whether w may log entries of kind.
func (w *Writer) MayLog(kind string) bool {
	return w.Kinds == nil || slices.Contains(w.Kinds, kind)
}

// MayLogSystem reports whether w may log a record in system's name.
func (w *Writer) MayLogSystem(system string) bool {
	if w.Systems == nil {
		return true
	}
	for _, p := range w.Systems {
		if globMatch(p, system) {
			return true
		}
	}
	return false
}

// Writers is a parsed writers file: who may write, with which token, within
// which scopes. Tokens are kept only as SHA-256 hashes and compared in
// constant time. A nil *Writers means writing is open to anyone.
type Writers struct {
	writers []*Writer
}

// Len is the number of writers.
func (ws *Writers) Len() int { return len(ws.writers) }

// byName returns the writer of that name, or nil (also for nil ws).
func (ws *Writers) byName(name string) *Writer {
	if ws == nil {
		return nil
	}
	for _, w := range ws.writers {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// Authenticate returns the writer whose token this is. Every writer's hash
// is compared, in constant time, so that the time taken says nothing about
// which writer or how much of a hash matched.
func (ws *Writers) Authenticate(token string) (*Writer, bool) {
	h := sha256.Sum256([]byte(token))
	var found *Writer
	for _, w := range ws.writers {
		if subtle.ConstantTimeCompare(h[:], w.tokenHash[:]) == 1 {
			found = w
		}
	}
	return found, found != nil
}

// ParseWriters parses a writers file: one writer per line,
//
//	<name> <token> [kinds=<kind>,…] [systems=<pattern>,…]
//
// with blank lines and lines starting with # ignored. A name is printable
// ASCII without spaces; a token is at least MinTokenBytes random bytes
// written as text (tlog token new makes one: base64url, 43 characters);
// kinds are raw, release, decision, access and evaluation; a systems
// pattern is a system name where * matches any run of characters (loan-*).
// systems= without kinds= limits the writer to the kinds whose records
// name a system (decision, access, evaluation):
// a scope on systems must not leave the writer free to log other kinds.
// Names and tokens must be unique.
func ParseWriters(text []byte) (*Writers, error) {
	ws := &Writers{}
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w, err := parseWriter(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if names[w.Name] {
			return nil, fmt.Errorf("line %d: writer %q named twice", n, w.Name)
		}
		if hashes[w.tokenHash] {
			return nil, fmt.Errorf("line %d: writer %q has the token of another writer", n, w.Name)
		}
		names[w.Name], hashes[w.tokenHash] = true, true
		ws.writers = append(ws.writers, w)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ws.writers) == 0 {
		return nil, errors.New("no writers: a writers file must name at least one (tlog token new --name NAME prints a line)")
	}
	return ws, nil
}

func parseWriter(line string) (*Writer, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, errors.New("want <name> <token> [kinds=…] [systems=…]")
	}
	w := &Writer{Name: f[0]}
	for _, r := range w.Name {
		if r <= ' ' || r > '~' {
			return nil, fmt.Errorf("writer name %q: printable ASCII only", w.Name)
		}
	}
	if strings.Contains(w.Name, "=") {
		return nil, fmt.Errorf("writer name %q: must not contain '='", w.Name)
	}
	tok := f[1]
	if strings.Contains(tok, "=") && (strings.HasPrefix(tok, "kinds=") || strings.HasPrefix(tok, "systems=")) {
		return nil, fmt.Errorf("writer %q has no token", w.Name)
	}
	if err := checkToken(tok); err != nil {
		return nil, fmt.Errorf("writer %q: %w", w.Name, err)
	}
	w.tokenHash = sha256.Sum256([]byte(tok))
	for _, opt := range f[2:] {
		key, val, ok := strings.Cut(opt, "=")
		if !ok || val == "" {
			return nil, fmt.Errorf("writer %q: %q: want kinds=… or systems=…", w.Name, opt)
		}
		list := strings.Split(val, ",")
		switch key {
		case "kinds":
			if w.Kinds != nil {
				return nil, fmt.Errorf("writer %q: kinds= given twice", w.Name)
			}
			for _, k := range list {
				if !slices.Contains(writerKinds, k) {
					return nil, fmt.Errorf("writer %q: unknown kind %q (want %s)", w.Name, k, strings.Join(writerKinds, ", "))
				}
			}
			w.Kinds = list
		case "systems":
			if w.Systems != nil {
				return nil, fmt.Errorf("writer %q: systems= given twice", w.Name)
			}
			for _, p := range list {
				if p == "" || strings.ContainsAny(p, " \t") {
					return nil, fmt.Errorf("writer %q: empty system pattern", w.Name)
				}
			}
			w.Systems = list
		default:
			return nil, fmt.Errorf("writer %q: unknown option %q (want kinds= or systems=)", w.Name, key)
		}
	}
	if w.Systems != nil {
		if w.Kinds == nil {
			w.Kinds = slices.Clone(kindsWithSystem)
		}
		for _, k := range w.Kinds {
			if !slices.Contains(kindsWithSystem, k) {
				return nil, fmt.Errorf("writer %q: systems= limits records that name a system, but kind %q names none; drop it from kinds= or give that kind to another writer", w.Name, k)
			}
		}
	}
	return w, nil
}

// checkToken refuses tokens too short to hold MinTokenBytes of entropy.
// Base64 carries 6 bits a character, so 32 bytes need 43 characters; a
// token is otherwise any printable ASCII (an operator may make their own).
func checkToken(tok string) error {
	if len(tok) < base64.RawURLEncoding.EncodedLen(MinTokenBytes) {
		return fmt.Errorf("token too short: at least %d random bytes as text (%d base64 characters); tlog token new makes one", MinTokenBytes, base64.RawURLEncoding.EncodedLen(MinTokenBytes))
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return errors.New("token: printable ASCII only")
		}
	}
	return nil
}

// NewToken returns a fresh writer token: MinTokenBytes from crypto/rand,
// base64url without padding.
func NewToken() string {
	b := make([]byte, MinTokenBytes)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}

// globMatch reports whether s matches pattern, where * matches any run of
// characters (also none) and every other byte itself.
func globMatch(pattern, s string) bool {
	first, rest, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	// Each further literal part must appear in order; the last one must
	// end the string.
	parts := strings.Split(rest, "*")
	for i, p := range parts {
		if i == len(parts)-1 {
			return len(s) >= len(p) && strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}
