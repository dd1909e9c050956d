// Package api is the HTTP surface of tlog serve: Echo routes and handlers,
// request limits, and the one place where errors become HTTP statuses
// (errors.go). Handlers hold no state of their own; the log does.
package api

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
)

// Config configures the HTTP handlers.
type Config struct {
	// Log is the log served. Required.
	Log *log.Log

	// Logger receives request errors worth an operator's attention (5xx).
	// Nil discards them.
	Logger *slog.Logger
}

// Content types and cache policies of c2sp.org/tlog-tiles.
const (
	contentTypeText   = "text/plain; charset=utf-8"
	contentTypeBinary = "application/octet-stream"
	// Full tiles and bundles never change.
	cacheImmutable = "public, max-age=31536000, immutable"
	// The checkpoint moves with every batch; partial tiles are replaced by
	// wider ones, so caches must revalidate them.
	cacheNone = "no-cache"
)

type server struct {
	cfg Config
	log *log.Log
}

// New returns the HTTP handler of tlog serve.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &server{cfg: cfg, log: cfg.Log}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError

	e.GET("/checkpoint", s.checkpoint)
	e.GET("/tile/*", s.tile)
	e.POST("/add", s.add)
	e.GET("/healthz", s.healthz)

	e.GET("/api/v1/proofs/inclusion", s.inclusion)
	e.GET("/api/v1/proofs/consistency", s.consistency)
	e.GET("/api/v1/entries/:index", s.entry)
	e.GET("/api/v1/entries/:index/tlog-proof", s.tlogProof)
	return e
}

// GET /checkpoint: the latest signed checkpoint.
func (s *server) checkpoint(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheNone)
	return c.Blob(http.StatusOK, contentTypeText, s.log.Checkpoint())
}

// GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>].
func (s *server) tile(c echo.Context) error {
	t, entries, err := proofs.ParseTilePath(c.Request().URL.Path)
	if err != nil {
		return err
	}
	var b []byte
	if entries {
		b, err = s.log.ReadEntryBundle(c.Request().Context(), t)
	} else {
		b, err = s.log.ReadTile(c.Request().Context(), t)
	}
	if err != nil {
		return err
	}
	h := c.Response().Header()
	if t.Full() {
		h.Set(echo.HeaderCacheControl, cacheImmutable)
	} else {
		h.Set(echo.HeaderCacheControl, cacheNone)
	}
	return c.Blob(http.StatusOK, contentTypeBinary, b)
}

// POST /add: the body is the entry; the answer, once the entry is durably
// logged, is its index in decimal on the first line.
func (s *server) add(c echo.Context) error {
	entry, err := readBody(c.Request(), log.MaxEntrySize)
	if err != nil {
		return err
	}
	// No timeout of our own: the wait is bounded by the commit of the
	// batch, and the number of waiting requests by the pool size. A client
	// that gives up cancels the request context.
	res, err := s.log.Add(entry).Wait(c.Request().Context())
	if err != nil {
		return err
	}
	body := strconv.AppendUint(make([]byte, 0, 21), res.Index, 10)
	return c.Blob(http.StatusOK, contentTypeText, append(body, '\n'))
}

// GET /healthz: 200 while the log accepts entries, 503 with the reason
// otherwise.
func (s *server) healthz(c echo.Context) error {
	if err := s.log.Healthy(); err != nil {
		return c.String(http.StatusServiceUnavailable, err.Error()+"\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

// readBody reads a request body of 1…max bytes: errEmptyBody or
// errBodyTooLarge otherwise. It never reads more than max+1 bytes.
func readBody(r *http.Request, max int) ([]byte, error) {
	if r.ContentLength > int64(max) {
		return nil, errBodyTooLarge(max)
	}
	var (
		b   []byte
		err error
	)
	if r.ContentLength >= 0 {
		// The common case: read exactly the announced length (net/http
		// never yields more than Content-Length bytes).
		b = make([]byte, r.ContentLength)
		if _, err = io.ReadFull(r.Body, b); err != nil {
			return nil, errBadBody(err)
		}
	} else if b, err = io.ReadAll(io.LimitReader(r.Body, int64(max)+1)); err != nil {
		return nil, errBadBody(err)
	}
	if len(b) > max {
		return nil, errBodyTooLarge(max)
	}
	if len(b) == 0 {
		return nil, errEmptyBody
	}
	return b, nil
}
