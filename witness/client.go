package witness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tlogai/tlog/signer"
)

// Client posts add-checkpoint requests to one witness.
type Client struct {
	// URL is the witness's submission prefix (add-checkpoint is appended).
	URL string
	// HTTP is the client used; it should carry a timeout.
	HTTP *http.Client
}

// AddCheckpoint sends req and returns the cosignature lines of a 200
// answer. A 409 is a *ConflictError with the witness's size; other answers
// are errors carrying the status and the witness's one-line reason (the
// status is also in the error as a *StatusError).
func (c *Client) AddCheckpoint(ctx context.Context, req Request) ([]byte, error) {
	u := strings.TrimSuffix(c.URL, "/") + "/add-checkpoint"
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Format()))
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		size, err := signer.ParseDecimal(strings.TrimSuffix(string(body), "\n"))
		if err != nil || resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			return nil, &StatusError{Code: resp.StatusCode, Msg: fmt.Sprintf("409 without a text/x.tlog.size body: %q", firstLine(body))}
		}
		return nil, &ConflictError{Size: size}
	default:
		return nil, &StatusError{Code: resp.StatusCode, Msg: firstLine(body)}
	}
}

// StatusError is a witness's non-200, non-409 answer.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("witness answered %d: %s", e.Code, e.Msg) }

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Cosignatures returns the signature lines of body that are valid
// cosignatures of the checkpoint text by v (others are ignored, as the spec
// asks of clients).
func Cosignatures(text string, body []byte, v *signer.CosignatureVerifier) []signer.Signature {
	n, err := signer.ParseNote(append([]byte(text+"\n"), body...))
	if err != nil {
		return nil
	}
	var out []signer.Signature
	for _, s := range n.UnverifiedSigs {
		if s.Name == v.Name() && s.KeyHash == v.KeyHash() && v.Verify([]byte(n.Text), s.Sig) {
			out = append(out, s)
		}
	}
	return out
}
