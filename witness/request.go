package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// MaxProofLines is the most consistency proof lines an add-checkpoint body
// may carry (c2sp.org/tlog-witness).
const MaxProofLines = 63

// MaxBodySize bounds an add-checkpoint body: a checkpoint with many
// signatures and 63 proof lines fit many times over.
const MaxBodySize = 64 << 10

// Request is an add-checkpoint request body.
type Request struct {
	OldSize    uint64
	Proof      [][]byte
	Checkpoint []byte // the signed note, verbatim
}

// Format returns the body: "old N", proof lines, an empty line, the note.
func (r Request) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ErrMalformedRequest is returned (wrapped) for a body that does not parse.
var ErrMalformedRequest = errors.New("malformed add-checkpoint request")

// ParseRequest parses an add-checkpoint body strictly.
func ParseRequest(body []byte) (Request, error) {
	var r Request
	rest := string(body)
	next := func() (string, bool) {
		l, after, ok := strings.Cut(rest, "\n")
		rest = after
		return l, ok
	}
	l, ok := next()
	if !ok {
		return r, fmt.Errorf("%w: no old size line", ErrMalformedRequest)
	}
	old, isOld := strings.CutPrefix(l, "old ")
	if !isOld {
		return r, fmt.Errorf("%w: first line must be \"old <size>\"", ErrMalformedRequest)
	}
	n, err := signer.ParseDecimal(old)
	if err != nil {
		return r, fmt.Errorf("%w: old size: %v", ErrMalformedRequest, err)
	}
	r.OldSize = n
	for {
		l, ok := next()
		if !ok {
			return r, fmt.Errorf("%w: no empty line before the checkpoint", ErrMalformedRequest)
		}
		if l == "" {
			break
		}
		if len(r.Proof) == MaxProofLines {
			return r, fmt.Errorf("%w: more than %d proof lines", ErrMalformedRequest, MaxProofLines)
		}
		h, err := proofs.ParseHashLine(l)
		if err != nil {
			return r, fmt.Errorf("%w: proof line %d: %v", ErrMalformedRequest, len(r.Proof)+1, err)
		}
		r.Proof = append(r.Proof, h)
	}
	r.Checkpoint = []byte(rest)
	return r, nil
}
