// Package telemetry is what the two servers (tlog serve, witness serve and
// witness watch) share to be observed: a Prometheus registry per server
// with the Go, process and build-info collectors, an Echo middleware that
// counts and times every request by route and writes one access log line
// for it, the slog logger that --log-format and --log-level make, and the
// opt-in debug listener (pprof and metrics, loopback only by default).
//
// Metrics live on a registry per server, never on the global default, so
// that several servers run side by side in one process (tests).
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlogai/tlog/internal/buildinfo"
)

// NewRegistry returns a registry holding the Go runtime collector (go_*),
// the process collector (process_*) and <program>_build_info, a gauge of 1
// labelled with the binary's version, VCS revision and Go version (from
// runtime/debug.ReadBuildInfo). program is "tlog" or "witness".
func NewRegistry(program string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	bi := buildinfo.Read()
	rev := bi.Revision
	if bi.Modified {
		rev += "+dirty"
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        program + "_build_info",
		Help:        "Always 1; the labels name the binary's module version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": rev, "goversion": bi.GoVersion},
	})
	build.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}

// MetricsHandler serves g in the Prometheus exposition format the scraper
// asks for (text by default). A collector that fails leaves out only its
// own metrics: the rest is still served.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Log formats of --log-format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// NewLogger returns the logger of a server: every line (access lines
// included) at level or above ("debug", "info", "warn", "error"), as
// logfmt-style text (format "text") or one JSON object a line ("json"),
// written to w. The errors name the flags, --log-format and --log-level.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
