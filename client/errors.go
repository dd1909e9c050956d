package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tlogai/tlog/wire"
)

// ErrNoLogKey is returned by calls that need the log's key to mean
// anything (Latest, Consistent, Entries) on a client made without one.
var ErrNoLogKey = errors.New("client: no log key (WithLogKey or WithPolicy)")

// ErrInconsistent matches (errors.Is) every *InconsistentError.
var ErrInconsistent = errors.New("the log is inconsistent with the checkpoint kept")

// InconsistentError is proof that the log misbehaved: two checkpoints it
// signed that cannot both be true of one append-only tree (two roots for
// one size, a tree that shrank or a consistency proof that fails). Kept and
// Seen are the signed notes, verbatim: the evidence to publish.
type InconsistentError struct {
	// Kept is the checkpoint the client had verified before.
	Kept []byte
	// Seen is the log's checkpoint that contradicts it.
	Seen []byte
	// Reason says how they contradict each other.
	Reason string
}

func (e *InconsistentError) Error() string {
	return "the log is inconsistent with the checkpoint kept: " + e.Reason
}

// Is makes errors.Is(err, ErrInconsistent) true.
func (e *InconsistentError) Is(target error) bool { return target == ErrInconsistent }

// StatusError is an error answer of the log: its status, its one-line
// reason and, for a refused batch, the refused lines (numbered from 1 in
// the request).
type StatusError struct {
	// Method and URL of the request.
	Method, URL string
	Code        int
	Reason      string
	// RetryAfter is the log's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	// Lines are the refused records of a 400 answer to a batch.
	Lines []wire.LineReason
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Code, http.StatusText(e.Code), e.Reason)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// Temporary reports whether the same request may succeed later: pushback
// (503), rate limits (429) and other 5xx answers.
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// statusError builds the error of an answer with status code and body.
func statusError(method, url string, code int, h http.Header, body []byte) *StatusError {
	e := &StatusError{Method: method, URL: url, Code: code, RetryAfter: retryAfter(h, time.Now())}
	var we wire.Error
	if err := jsonUnmarshal(body, &we); err == nil && we.Error != "" {
		e.Reason, e.Lines = we.Error, we.Lines
		return e
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	e.Reason = s
	return e
}

// retryAfter parses a Retry-After header (delay-seconds or an HTTP date);
// 0 when absent or malformed.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}
