package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Webhook posts report lines to a URL, one JSON object per request
// (Content-Type: application/json). A 2xx answer accepts the line. A
// transport error, a 408, 429 or 5xx answer is retried, Attempts in all,
// waiting Backoff, then twice as long each time; any other answer fails
// at once.
type Webhook struct {
	URL string
	// Client sends the requests; nil: one with a 10 s timeout.
	Client *http.Client
	// Attempts is how many times a line is sent before giving up; 0: 4.
	Attempts int
	// Backoff is the wait before the first retry; 0: 500 ms.
	Backoff time.Duration
}

// NewWebhook checks rawURL (http or https, with a host) and returns a
// webhook with the defaults.
func NewWebhook(rawURL string) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %q is not an http(s) URL", rawURL)
	}
	return &Webhook{URL: rawURL}, nil
}

// WebhookError is a line the webhook did not accept.
type WebhookError struct {
	URL      string
	Attempts int
	Err      error
}

func (e *WebhookError) Error() string {
	return fmt.Sprintf("webhook %s did not accept a report line after %d attempt(s): %v", e.URL, e.Attempts, e.Err)
}

func (e *WebhookError) Unwrap() error { return e.Err }

// permanentError is a failure that retrying will not change.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Post sends one line, retrying as the type's doc says; it returns a
// *WebhookError when the line was not accepted.
func (w *Webhook) Post(ctx context.Context, line []byte) error {
	hc := w.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, wait := w.Attempts, w.Backoff
	if attempts <= 0 {
		attempts = 4
	}
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	var err error
	for n := 1; ; n++ {
		if err = w.post(ctx, hc, line); err == nil {
			return nil
		}
		if n == attempts || errors.As(err, new(permanentError)) || ctx.Err() != nil {
			return &WebhookError{URL: w.URL, Attempts: n, Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &WebhookError{URL: w.URL, Attempts: n, Err: ctx.Err()}
		case <-t.C:
		}
		wait *= 2
	}
}

func (w *Webhook) post(ctx context.Context, hc *http.Client, line []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(line))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tlog-monitor")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	if c := resp.StatusCode; c != http.StatusRequestTimeout && c != http.StatusTooManyRequests && c < 500 {
		return permanentError{err}
	}
	return err
}
