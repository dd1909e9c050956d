package signer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformedCheckpoint is returned (wrapped) for note text that is not a
// c2sp.org/tlog-checkpoint body.
var ErrMalformedCheckpoint = errors.New("malformed checkpoint")

// Checkpoint is the body of a c2sp.org/tlog-checkpoint note.
type Checkpoint struct {
	Origin string   // the log's unique name; equal to its key name
	Size   uint64   // tree size
	Hash   [32]byte // RFC 6962 root hash of the tree of Size entries
	// Extensions are the optional lines after the root hash, without "\n".
	// This log writes none; parsing keeps them so that a note's text
	// round-trips.
	Extensions []string
}

// Text returns the note text: origin, size, base64 root, extension lines.
func (c Checkpoint) Text() string {
	var b strings.Builder
	b.Grow(len(c.Origin) + 80)
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseCheckpoint parses checkpoint note text. It is strict: decimal size with
// no leading zeros, a 32-byte root, no empty lines.
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, fmt.Errorf("%w: text does not end in a newline", ErrMalformedCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: want origin, size and root hash lines", ErrMalformedCheckpoint)
	}
	c.Origin = lines[0]
	if c.Origin == "" {
		return c, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	size, err := ParseDecimal(lines[1])
	if err != nil {
		return c, fmt.Errorf("%w: tree size: %v", ErrMalformedCheckpoint, err)
	}
	c.Size = size
	// Go's base64 decoders skip \r and \n even in strict mode; demanding
	// the canonical encoding back keeps parse → format byte-identical.
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return c, fmt.Errorf("%w: root hash is not 32 bytes of base64", ErrMalformedCheckpoint)
	}
	copy(c.Hash[:], h)
	for _, e := range lines[3:] {
		if e == "" {
			return c, fmt.Errorf("%w: empty extension line", ErrMalformedCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// ParseDecimal parses an ASCII decimal uint64 with no sign, no leading zeros
// (except "0" itself) and nothing else, the form sizes and indices take in
// C2SP formats.
func ParseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a canonical decimal", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// SignCheckpoint signs c with s. The origin must be the signer's key name:
// a checkpoint names the log, and the log's key carries the same name.
func SignCheckpoint(c Checkpoint, s NoteSigner) ([]byte, error) {
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("checkpoint origin %q differs from key name %q", c.Origin, s.Name())
	}
	return SignNote(c.Text(), s)
}

// OpenCheckpoint parses a signed checkpoint and verifies it with v: the note
// must carry a valid signature by v and its origin must be v's name.
// Signatures of other keys (witness cosignatures) are returned unverified in
// the note.
func OpenCheckpoint(msg []byte, v NoteVerifier) (Checkpoint, *Note, error) {
	n, err := OpenNote(msg, v)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, nil, fmt.Errorf("%w: origin %q is not the key name %q", ErrMalformedCheckpoint, c.Origin, v.Name())
	}
	return c, n, nil
}
