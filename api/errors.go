package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/wire"
)

// ErrWaitingForWitnesses refuses entries while a log with a witness policy
// waits, on start, for its witnesses to confirm that its store is the
// history they cosigned (503: retry shortly).
var ErrWaitingForWitnesses = errors.New("the log is waiting for its witnesses to confirm its state; retry shortly")

// ErrWaitingForBucket refuses entries while a log that publishes to a
// bucket waits, on start, to check that the bucket's checkpoint is one
// its store extends (503: retry shortly).
var ErrWaitingForBucket = errors.New("the log is waiting to check the checkpoint in its bucket; retry shortly")

// Request errors found by the handlers themselves.
var (
	errEmptyBody = &httpError{http.StatusBadRequest, "empty body"}
)

func errBodyTooLarge(max int) error {
	return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", max)}
}

// errBadBody: the body ended early or timed out. The cause (addresses,
// timeouts) stays in the server's debug log, not in the answer.
var errBadBody = &httpError{http.StatusBadRequest, "couldn't read the request body (incomplete or too slow)"}

func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

// errUnauthorized: no writer token, or not one of the log's writers (401,
// with a WWW-Authenticate challenge).
func errUnauthorized(msg string) error { return &httpError{http.StatusUnauthorized, msg} }

// forbidden: a writer outside its scopes (403, naming the rule).
func forbidden(msg string) error { return &httpError{http.StatusForbidden, msg} }

// errTooBusy: the cap on requests in flight, or on the memory of large
// submissions, is reached (503: retry shortly).
var errTooBusy = &httpError{http.StatusServiceUnavailable, "the log is busy with other requests; retry shortly"}

func notFound(msg string) error { return &httpError{http.StatusNotFound, msg} }

// notWitnessedYet: the entry is not in a witnessed checkpoint yet; it will
// be within a witnessing round (about a second).
func notWitnessedYet(index, size uint64, any bool) error {
	if !any {
		return notFound("no checkpoint has been witnessed yet; retry shortly")
	}
	return notFound(fmt.Sprintf("index %d is not yet in a witnessed checkpoint (witnessed size %d); retry shortly", index, size))
}

// probeError: GET /healthz or /readyz failing for the reason err (503,
// with the reason its status would give; Retry-After as for err). Not
// logged as a failed request: the log said why when it stopped.
type probeError struct{ err error }

func (e *probeError) Error() string { return e.err.Error() }
func (e *probeError) Unwrap() error { return e.err }

// httpError is an error that already knows its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// retryAfter is the Retry-After of 503 answers, in seconds: long enough for
// a full pool to drain (batches take milliseconds), short enough that
// clients come back soon.
const retryAfter = "1"

// retryAfterStorage is the Retry-After once the store failed (a full or
// failing disk): nothing changes until an operator acts and restarts the
// log, so clients are asked to come back in minutes, not hammer it.
const retryAfterStorage = "300"

// status maps an error to its HTTP status and the one-line reason sent to
// the client. This is the only place where errors become statuses.
func status(err error) (int, string) {
	var he *httpError
	var ee *echo.HTTPError
	var pe *probeError
	switch {
	case errors.As(err, &pe):
		_, msg := status(pe.err)
		return http.StatusServiceUnavailable, msg
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, new(*rateLimited)):
		return http.StatusTooManyRequests, err.Error()
	case errors.As(err, &ee):
		return ee.Code, fmt.Sprint(ee.Message)
	case errors.Is(err, proofs.ErrBadTilePath):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, attest.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, attest.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, attest.ErrInvalid), errors.Is(err, attest.ErrSignature), errors.Is(err, attest.ErrCertificate):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, log.ErrTermTooLarge):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, log.ErrTooMany):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, log.ErrEmptyEntry):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, log.ErrEntryTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, proofs.ErrBadRange):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, log.ErrNotFound):
		return http.StatusNotFound, "not found: beyond the published tree"
	case errors.Is(err, log.ErrPushback):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, log.ErrClosed):
		return http.StatusServiceUnavailable, "log is shutting down, retry later"
	case errors.Is(err, log.ErrBatchFailed), errors.Is(err, log.ErrTimeout):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrWaitingForWitnesses), errors.Is(err, ErrWaitingForBucket), errors.Is(err, log.ErrHalted):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, log.ErrStorage):
		return http.StatusServiceUnavailable, "the log stopped after a storage failure; an operator must restart it"
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this.
		return 499, "request canceled"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// handleError is Echo's error handler: plain-text one-line reasons, with
// Retry-After on 503, and 5xx causes logged (never sent to clients).
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := status(err)
	msg = clipReason(msg)
	r := c.Request()
	if p := r.URL.Path; code >= 400 && code < 500 && (p == "/api/v1/attestations" || recordPaths[p]) {
		s.rejected.Add(1)
	}
	h := c.Response().Header()
	var rl *rateLimited
	switch {
	case code == http.StatusUnauthorized:
		s.unauthorized.Add(1)
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="tlog writers"`)
	case errors.As(err, &rl):
		s.rateLimitedN.Add(1)
		h.Set("Retry-After", rl.retryAfterSeconds())
	case errors.Is(err, log.ErrStorage):
		h.Set("Retry-After", retryAfterStorage)
	case code == http.StatusServiceUnavailable:
		if errors.Is(err, errTooBusy) {
			s.busy.Add(1)
		}
		h.Set("Retry-After", retryAfter)
	}
	if _, write := writeKinds[r.URL.Path]; write && r.Method == http.MethodPost && code >= 400 {
		// Accountability: one line per refused write, never a token.
		s.cfg.Logger.Info("write refused", "writer", writerName(c), "client", clientAddr(r), "route", r.URL.Path,
			"status", code, "reason", firstLine(msg), "request_id", c.Get(ctxRequestID))
	}
	if code >= 500 && !errors.Is(err, log.ErrPushback) && !errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrTimeout) &&
		!errors.Is(err, errTooBusy) && !errors.Is(err, log.ErrStorage) && !errors.Is(err, ErrWaitingForWitnesses) && !errors.Is(err, ErrWaitingForBucket) &&
		!errors.As(err, new(*probeError)) {
		s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", c.Get(ctxRequestID))
	}
	switch {
	case c.Request().Method == http.MethodHead:
		_ = c.NoContent(code)
	case strings.HasPrefix(c.Request().URL.Path, "/api/"):
		// The JSON API answers errors in JSON too; a rejected batch also
		// lists its bad lines.
		var be *attest.BatchError
		if errors.As(err, &be) {
			lines := make([]wire.LineReason, len(be.Lines))
			for i, l := range be.Lines {
				lines[i] = wire.LineReason{Line: l.Line, Reason: l.Reason()}
			}
			_ = c.JSON(code, wire.Error{Error: msg, Lines: lines})
			return
		}
		_ = c.JSON(code, wire.Error{Error: msg})
	default:
		_ = c.Blob(code, contentTypeText, []byte(msg+"\n"))
	}
}

// firstLine is the first line of a reason, for log lines.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// maxReason bounds a reason sent back: reasons quote the input at fault,
// and a 60 KiB parameter need not come back whole.
const maxReason = 1024

// clipReason cuts a reason to maxReason bytes at a rune boundary.
func clipReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (cut)"
}
