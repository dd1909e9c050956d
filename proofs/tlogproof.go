package proofs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/signer"
)

// TlogProofHeader is the first line of a c2sp.org/tlog-proof@v1 file.
const TlogProofHeader = "c2sp.org/tlog-proof@v1"

// MaxProofHashes bounds the inclusion proof lines a file may carry: a tree
// of 2^64 entries needs 64.
const MaxProofHashes = 64

// ErrMalformedProof is returned (wrapped) for bytes that are not a
// tlog-proof file.
var ErrMalformedProof = errors.New("malformed tlog-proof")

// TlogProof is an offline proof of inclusion (c2sp.org/tlog-proof@v1): an
// index, its inclusion proof and the signed checkpoint it leads to. It
// travels with the entry it proves, for example beside a model release.
type TlogProof struct {
	// Extra is opaque, unauthenticated data; nil when absent.
	Extra []byte
	// Index is the entry's index in the log.
	Index uint64
	// Hashes is the inclusion proof, leaf sibling first.
	Hashes [][]byte
	// Checkpoint is the signed checkpoint note, verbatim, with its
	// signature and any witness cosignatures.
	Checkpoint []byte
}

// Format returns the file's bytes.
func (p TlogProof) Format() []byte {
	var b bytes.Buffer
	b.WriteString(TlogProofHeader + "\n")
	if p.Extra != nil {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseTlogProof parses a tlog-proof file. It is strict: canonical decimal
// and base64, 32-byte hashes, at most MaxProofHashes of them, and a signed
// note whose text is a checkpoint (its signatures are not checked here; see
// VerifyTlogProof).
func ParseTlogProof(b []byte) (TlogProof, error) {
	var p TlogProof
	rest := string(b)
	line := func() (string, bool) {
		l, r, ok := strings.Cut(rest, "\n")
		if !ok {
			return "", false
		}
		rest = r
		return l, true
	}
	if l, ok := line(); !ok || l != TlogProofHeader {
		return p, fmt.Errorf("%w: first line is not %q", ErrMalformedProof, TlogProofHeader)
	}
	l, ok := line()
	if !ok {
		return p, fmt.Errorf("%w: no index line", ErrMalformedProof)
	}
	if e, isExtra := strings.CutPrefix(l, "extra "); isExtra {
		extra, err := decodeCanonical(e)
		if err != nil {
			return p, fmt.Errorf("%w: extra: %v", ErrMalformedProof, err)
		}
		p.Extra = extra
		if l, ok = line(); !ok {
			return p, fmt.Errorf("%w: no index line", ErrMalformedProof)
		}
	}
	idx, isIndex := strings.CutPrefix(l, "index ")
	if !isIndex {
		return p, fmt.Errorf("%w: want an index line, got %q", ErrMalformedProof, l)
	}
	index, err := signer.ParseDecimal(idx)
	if err != nil {
		return p, fmt.Errorf("%w: index: %v", ErrMalformedProof, err)
	}
	p.Index = index
	for {
		l, ok := line()
		if !ok {
			return p, fmt.Errorf("%w: no empty line before the checkpoint", ErrMalformedProof)
		}
		if l == "" {
			break
		}
		if len(p.Hashes) == MaxProofHashes {
			return p, fmt.Errorf("%w: more than %d proof hashes", ErrMalformedProof, MaxProofHashes)
		}
		h, err := ParseHashLine(l)
		if err != nil {
			return p, fmt.Errorf("%w: proof line %d: %v", ErrMalformedProof, len(p.Hashes)+1, err)
		}
		p.Hashes = append(p.Hashes, h)
	}
	n, err := signer.ParseNote([]byte(rest))
	if err != nil {
		return p, fmt.Errorf("%w: checkpoint: %v", ErrMalformedProof, err)
	}
	if _, err := signer.ParseCheckpoint(n.Text); err != nil {
		return p, fmt.Errorf("%w: checkpoint: %v", ErrMalformedProof, err)
	}
	p.Checkpoint = []byte(rest)
	return p, nil
}

// ParseHashLine parses one proof line of c2sp.org/tlog-proof and
// c2sp.org/tlog-witness: a SHA-256 hash in canonical standard base64.
func ParseHashLine(s string) ([]byte, error) {
	h, err := decodeCanonical(s)
	if err != nil || len(h) != HashSize {
		return nil, errors.New("not a base64 SHA-256 hash")
	}
	return h, nil
}

// decodeCanonical decodes standard base64 and insists on the canonical
// encoding (Go's decoder skips \r and \n), so that parse → format gives back
// the same bytes.
func decodeCanonical(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

// VerifiedProof is what a verified tlog-proof establishes.
type VerifiedProof struct {
	Index      uint64
	Checkpoint signer.Checkpoint
	Note       *signer.Note
}

// VerifyTlogProof verifies a tlog-proof file for entry, offline: the
// checkpoint must carry a valid signature of the log's key v (its origin is
// v's name), and the inclusion proof must lead from the entry's leaf hash at
// the proof's index to the checkpoint's root.
func VerifyTlogProof(file, entry []byte, v signer.NoteVerifier) (*VerifiedProof, error) {
	return VerifyTlogProofWith(file, entry, func(note []byte) (signer.Checkpoint, *signer.Note, error) {
		return signer.OpenCheckpoint(note, v)
	})
}

// VerifyTlogProofWith is VerifyTlogProof with the checkpoint checked by
// open instead: a witness policy's Check, to require cosignatures.
func VerifyTlogProofWith(file, entry []byte, open func(note []byte) (signer.Checkpoint, *signer.Note, error)) (*VerifiedProof, error) {
	p, err := ParseTlogProof(file)
	if err != nil {
		return nil, err
	}
	cp, n, err := open(p.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if p.Index >= cp.Size {
		return nil, fmt.Errorf("%w: index %d is not below the checkpoint's tree size %d", ErrProofInvalid, p.Index, cp.Size)
	}
	if err := CheckInclusion(p.Hashes, p.Index, cp.Size, HashLeaf(entry), cp.Hash); err != nil {
		return nil, err
	}
	return &VerifiedProof{Index: p.Index, Checkpoint: cp, Note: n}, nil
}
