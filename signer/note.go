package signer

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors of note parsing and verification. They are returned wrapped; test
// with errors.Is.
var (
	// ErrMalformedNote: the bytes are not a signed note.
	ErrMalformedNote = errors.New("malformed signed note")
	// ErrInvalidSignature: a signature by a known key does not verify.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrUnverifiedNote: no signature by a known key.
	ErrUnverifiedNote = errors.New("note has no signature by a known key")
)

// MaxNoteSignatures caps the number of signature lines a note may carry, as
// x/mod's note.Open does; the signed-note spec asks verifiers to accept at
// least 16.
const MaxNoteSignatures = 100

// NoteSigner signs note text under a key name and ID.
// *Signer implements it, and so does golang.org/x/mod/sumdb/note's Signer.
type NoteSigner interface {
	Name() string
	KeyHash() uint32
	Sign(msg []byte) ([]byte, error)
}

// NoteVerifier checks a signature of a key name and ID.
// *Verifier implements it, and so does golang.org/x/mod/sumdb/note's Verifier.
type NoteVerifier interface {
	Name() string
	KeyHash() uint32
	Verify(msg, sig []byte) bool
}

// Signature is one signature line of a note.
type Signature struct {
	Name    string // key name
	KeyHash uint32 // key ID
	Sig     []byte // the signature, without the 4-byte key ID
}

// Line returns the signature line, "— <name> <base64(keyID || sig)>\n".
func (s Signature) Line() string {
	b := make([]byte, 4, 4+len(s.Sig))
	binary.BigEndian.PutUint32(b, s.KeyHash)
	b = append(b, s.Sig...)
	return "— " + s.Name + " " + base64.StdEncoding.EncodeToString(b) + "\n"
}

// Note is a parsed signed note.
type Note struct {
	Text           string      // the text, ending in "\n"
	Sigs           []Signature // verified signatures by known keys
	UnverifiedSigs []Signature // signatures by unknown keys, not checked
}

// SignNote signs text with each signer and returns the note bytes. The text
// must be valid UTF-8, end in "\n" and hold no control characters but "\n".
func SignNote(text string, signers ...NoteSigner) ([]byte, error) {
	if err := checkText(text); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(len(text) + 1 + len(signers)*128)
	b.WriteString(text)
	b.WriteString("\n")
	for _, s := range signers {
		if !isValidName(s.Name()) {
			return nil, fmt.Errorf("%w: invalid signer name %q", ErrMalformedKey, s.Name())
		}
		sig, err := s.Sign([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("couldn't sign note with %s: %w", s.Name(), err)
		}
		b.WriteString(Signature{Name: s.Name(), KeyHash: s.KeyHash(), Sig: sig}.Line())
	}
	return []byte(b.String()), nil
}

func checkText(text string) error {
	if !strings.HasSuffix(text, "\n") {
		return fmt.Errorf("%w: text must end in a newline", ErrMalformedNote)
	}
	if err := checkChars(text); err != nil {
		return err
	}
	return nil
}

// checkChars: valid UTF-8 and no control characters other than "\n".
func checkChars(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: invalid UTF-8", ErrMalformedNote)
		}
		if r < 0x20 && r != '\n' {
			return fmt.Errorf("%w: control character %#x", ErrMalformedNote, r)
		}
		i += size
	}
	return nil
}

// OpenNote parses msg and verifies its signatures against verifiers, following
// c2sp.org/signed-note: signatures of unknown keys (name and ID) are kept
// unverified, a failing signature of a known key rejects the note, and at
// least one known key must have signed. Repeated signatures are dropped.
func OpenNote(msg []byte, verifiers ...NoteVerifier) (*Note, error) {
	n, err := ParseNote(msg)
	if err != nil {
		return nil, err
	}
	type nameHash struct {
		name string
		hash uint32
	}
	known := make(map[nameHash]NoteVerifier, len(verifiers))
	for _, v := range verifiers {
		known[nameHash{v.Name(), v.KeyHash()}] = v
	}
	all := n.UnverifiedSigs
	n.UnverifiedSigs = nil
	seen := make(map[nameHash]bool)
	for _, s := range all {
		k := nameHash{s.Name, s.KeyHash}
		v, ok := known[k]
		if !ok {
			n.UnverifiedSigs = append(n.UnverifiedSigs, s)
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if !v.Verify([]byte(n.Text), s.Sig) {
			return nil, fmt.Errorf("%w: by %s+%08x", ErrInvalidSignature, s.Name, s.KeyHash)
		}
		n.Sigs = append(n.Sigs, s)
	}
	if len(n.Sigs) == 0 {
		return nil, ErrUnverifiedNote
	}
	return n, nil
}

// ParseNote splits msg into text and signatures without verifying anything:
// every signature lands in UnverifiedSigs (exact repeats dropped).
func ParseNote(msg []byte) (*Note, error) {
	if err := checkChars(string(msg)); err != nil {
		return nil, err
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil, fmt.Errorf("%w: no blank line before the signatures", ErrMalformedNote)
	}
	text, sigs := msg[:split+1], msg[split+2:]
	if len(sigs) == 0 || sigs[len(sigs)-1] != '\n' {
		return nil, fmt.Errorf("%w: signature block must be non-empty and end in a newline", ErrMalformedNote)
	}
	n := &Note{Text: string(text)}
	seen := make(map[string]bool)
	count := 0
	for len(sigs) > 0 {
		i := bytes.IndexByte(sigs, '\n')
		line := string(sigs[:i])
		sigs = sigs[i+1:]
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, fmt.Errorf("%w: signature line does not start with an em dash and a space", ErrMalformedNote)
		}
		name, b64, _ := strings.Cut(rest, " ")
		// Only the canonical encoding: Go's decoder ignores the unused
		// bits of the last character, so four spellings would decode to
		// the same signature and a one-byte change of a note would still
		// verify. (x/mod's note.Open accepts all four; we are stricter.)
		sig, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err == nil && base64.StdEncoding.EncodeToString(sig) != b64 {
			err = errors.New("not canonical base64")
		}
		if err != nil || !isValidName(name) || b64 == "" || len(sig) < 5 {
			return nil, fmt.Errorf("%w: bad signature line %q", ErrMalformedNote, line)
		}
		if count++; count > MaxNoteSignatures {
			return nil, fmt.Errorf("%w: more than %d signatures", ErrMalformedNote, MaxNoteSignatures)
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		n.UnverifiedSigs = append(n.UnverifiedSigs, Signature{
			Name:    name,
			KeyHash: binary.BigEndian.Uint32(sig[:4]),
			Sig:     sig[4:],
		})
	}
	return n, nil
}
