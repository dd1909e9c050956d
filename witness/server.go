package witness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// Handler returns the witness's HTTP surface:
//
//	POST /add-checkpoint                c2sp.org/tlog-witness
//	GET  /<hex sha256(origin)>/checkpoint  latest cosigned checkpoint
//	GET  /forks                         fork evidence records, text
//	GET  /metrics                       Prometheus text: forks, logs
//	GET  /healthz
func Handler(w *Witness) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := status(err)
		var ce *ConflictError
		if errors.As(err, &ce) {
			_ = c.Blob(code, "text/x.tlog.size", []byte(strconv.FormatUint(ce.Size, 10)+"\n"))
			return
		}
		if code >= 500 {
			w.logger.Error("request failed", "path", c.Request().URL.Path, "err", err)
		}
		_ = c.Blob(code, "text/plain; charset=utf-8", []byte(msg+"\n"))
	}
	e.POST("/add-checkpoint", func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > MaxBodySize {
			return errTooLarge
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
		if err != nil {
			return fmt.Errorf("%w: couldn't read the body", ErrMalformedRequest)
		}
		if len(body) > MaxBodySize {
			return errTooLarge
		}
		lines, err := w.AddCheckpoint(r.Context(), body)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", lines)
	})
	e.GET("/forks", func(c echo.Context) error {
		fs, err := w.Forks()
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", bytes.Join(fs, []byte("\n")))
	})
	e.GET("/metrics", func(c echo.Context) error {
		body := fmt.Sprintf("# HELP witness_forks_total Fork evidence records kept.\n# TYPE witness_forks_total counter\nwitness_forks_total %d\n"+
			"# HELP witness_logs Logs followed.\n# TYPE witness_logs gauge\nwitness_logs %d\n", w.ForkCount(), len(w.Logs()))
		return c.Blob(http.StatusOK, "text/plain; version=0.0.4", []byte(body))
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/:hash/checkpoint", func(c echo.Context) error {
		note, err := w.Latest(c.Param("hash"))
		if err != nil {
			return err
		}
		if note == nil {
			return echo.NewHTTPError(http.StatusNotFound, "no cosigned checkpoint for that origin hash")
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", note)
	})
	return e
}

var errTooLarge = fmt.Errorf("%w: body larger than %d bytes", errBodyTooLarge, MaxBodySize)
var errBodyTooLarge = errors.New("request too large")

// status maps errors to the statuses of c2sp.org/tlog-witness; the one
// place where that happens.
func status(err error) (int, string) {
	var ce *ConflictError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ce):
		return http.StatusConflict, ce.Error()
	case errors.As(err, &he):
		return he.Code, fmt.Sprint(he.Message)
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, ErrMalformedRequest), errors.Is(err, ErrOldTooLarge):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrUnknownLog):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrUnauthorized):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ErrBadProof):
		return http.StatusUnprocessableEntity, err.Error()
	default:
		return http.StatusInternalServerError, "internal error"
	}
}
