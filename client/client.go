package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tlogai/tlog/signer"
)

// Client talks to one log. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	token     string
	userAgent string

	// open verifies a signed checkpoint note (the log's signature, and the
	// witness quorum with a policy); nil without a key.
	open      func(note []byte) (signer.Checkpoint, *signer.Note, error)
	policy    *signer.Policy // open checks it: ask for witnessed receipts
	stateFile string
	tiles     *TileFetcher

	// checkMu serializes checkpoint verification, which may fetch a
	// consistency proof: one check at a time keeps the kept state a
	// simple chain. mu guards the fields below it; it is never held over
	// network calls.
	checkMu  sync.Mutex
	mu       sync.Mutex
	kept     signer.Checkpoint
	keptNote []byte
	// seen holds checkpoints already proven consistent with kept, by
	// size, so that the checkpoint of every receipt of a batch is checked
	// once.
	seen map[uint64]seenCheckpoint
}

// Option configures New.
type Option func(*Client) error

// DefaultTimeout bounds each request of a client made without
// WithHTTPClient: proofs, entries and checkpoints are small, so a log that
// takes longer is down or overloaded. Bulk submissions use their own
// context deadlines.
const DefaultTimeout = 30 * time.Second

// maxAnswer bounds what the client reads of one answer (a 64 KiB entry
// with its proof is far smaller; 10,000 full receipts are larger, see
// maxBatchAnswer).
const maxAnswer = 4 << 20

// WithHTTPClient sets the HTTP client (its Timeout bounds every request;
// TLS settings, proxies).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil http.Client")
		}
		c.hc = hc
		return nil
	}
}

// WithToken sets the writer token sent with submissions
// (Authorization: Bearer). Reads never send it.
func WithToken(token string) Option {
	return func(c *Client) error { c.token = strings.TrimSpace(token); return nil }
}

// WithLogKey makes the client verify every checkpoint with the log's key
// (a signed-note verifier, e.g. signer.NewVerifier of the log's .pub
// file).
func WithLogKey(v signer.NoteVerifier) Option {
	return func(c *Client) error {
		if v == nil {
			return errors.New("client: nil log key")
		}
		c.open = func(note []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(note, v) }
		return nil
	}
}

// WithPolicy makes the client verify every checkpoint against a witness
// policy (c2sp.org/tlog-policy): the log's signature and a quorum of
// witness cosignatures. Submissions then wait for witnessed receipts.
func WithPolicy(p *signer.Policy) Option {
	return func(c *Client) error {
		if p == nil {
			return errors.New("client: nil policy")
		}
		c.open, c.policy = p.Check, p
		return nil
	}
}

// WithStateFile keeps the verified state in path: the last verified
// signed checkpoint, as the log served it. New reads it (it must verify
// with the log's key); every newer verified checkpoint replaces it
// atomically (written, synced, renamed) before the client uses it. A
// missing file is an empty state.
func WithStateFile(path string) Option {
	return func(c *Client) error { c.stateFile = path; return nil }
}

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// New returns a client of the log at logURL (an http or https URL; a bare
// host:port means http). With WithStateFile, the kept checkpoint is
// loaded and verified now.
func New(logURL string, opts ...Option) (*Client, error) {
	if logURL == "" {
		return nil, errors.New("client: empty log URL")
	}
	if !strings.Contains(logURL, "://") {
		logURL = "http://" + logURL
	}
	u, err := url.Parse(logURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not an http(s) URL", logURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, hc: &http.Client{Timeout: DefaultTimeout}, userAgent: "tlog-go-client", seen: map[uint64]seenCheckpoint{}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	c.tiles = &TileFetcher{base: u, hc: c.hc, userAgent: c.userAgent}
	if c.stateFile != "" {
		if c.open == nil {
			return nil, errors.New("client: WithStateFile needs WithLogKey or WithPolicy")
		}
		if err := c.loadState(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// URL returns the log's URL.
func (c *Client) URL() string { return c.base.String() }

// Tiles returns the client's tile fetcher (same HTTP client and URL).
func (c *Client) Tiles() *TileFetcher { return c.tiles }

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// get fetches path and returns the body of a 200 answer; any other status
// is a *StatusError.
func (c *Client) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return httpGet(ctx, c.hc, c.userAgent, c.endpoint(path, q), maxAnswer)
}

// httpGet fetches u and returns the body of a 200 answer (at most limit
// bytes); any other status is a *StatusError (a 404 also matches
// ErrNotFound).
func httpGet(ctx context.Context, hc *http.Client, userAgent, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(http.MethodGet, u, resp.StatusCode, resp.Header, body)
	}
	return body, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	body, err := c.get(ctx, path, q)
	if err != nil {
		return err
	}
	if err := jsonUnmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: the log answered malformed JSON: %w", path, err)
	}
	return nil
}

// post sends body and returns the body of a 200 or 202 answer (at most
// limit bytes) with its status; any other status is a *StatusError.
func (c *Client) post(ctx context.Context, path string, q url.Values, contentType string, body []byte, limit int64) (int, []byte, error) {
	u := c.endpoint(path, q)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := readLimited(resp.Body, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return 0, nil, statusError(http.MethodPost, u, resp.StatusCode, resp.Header, b)
	}
	return resp.StatusCode, b, nil
}

// readLimited reads r to the end, failing beyond limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, badAnswer("answer larger than %d bytes", limit)
	}
	return b, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
