package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tlogai/tlog/signer"
)

// requestTimeout bounds each request of the client commands: proofs and
// entries are small, so a log that takes longer is down or overloaded.
const requestTimeout = 30 * time.Second

// maxResponse bounds what the client reads from a log (an entry is at most
// 64 KiB; its JSON with a proof is a little larger).
const maxResponse = 1 << 20

// logClient talks to a log's HTTP API.
type logClient struct {
	base  *url.URL
	hc    *http.Client
	token string // a writer token (TLOG_TOKEN), sent with writes
}

// tokenEnv names the environment variable the client commands take a
// writer token from: a token on the command line would show in ps.
const tokenEnv = "TLOG_TOKEN"

func newLogClient(raw string) (*logClient, error) {
	if raw == "" {
		return nil, errors.New("--log URL is required")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--log %q is not an http(s) URL", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &logClient{base: u, hc: &http.Client{Timeout: requestTimeout}, token: strings.TrimSpace(os.Getenv(tokenEnv))}, nil
}

// get fetches path (relative to the log's prefix) and returns the body of a
// 200 answer; any other status is an error carrying the log's reason.
func (c *logClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.String(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u.String(), resp.Status, reason(body))
	}
	return body, nil
}

func (c *logClient) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	body, err := c.get(ctx, path, q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: bad JSON: %w", path, err)
	}
	return nil
}

// reason extracts the one-line reason of an error answer (JSON or text).
func reason(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// readVerifier reads a log's verifier key file (<name>+<id>+<base64>).
func readVerifier(path string) (*signer.Verifier, error) {
	if path == "" {
		return nil, errors.New("--key LOG.pub is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := signer.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// post sends body to path and returns the status and the body of the
// answer (at most limit bytes). Transport errors are errors; every status
// is returned for the caller to judge.
func (c *logClient) post(ctx context.Context, path string, q url.Values, contentType string, body []byte, limit int64) (int, http.Header, []byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("POST %s: %w", u.String(), err)
	}
	if int64(len(b)) > limit {
		return 0, nil, nil, fmt.Errorf("POST %s: answer larger than %d bytes", u.String(), limit)
	}
	return resp.StatusCode, resp.Header, b, nil
}
