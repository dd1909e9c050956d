package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/serving"
)

// ErrDebugNotLoopback refuses a debug listener on an address that is not
// loopback-only without the explicit --debug-listen-any.
var ErrDebugNotLoopback = errors.New("--debug-listen: not a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT); pprof exposes the process's memory and command line: add --debug-listen-any to listen there anyway")

// DebugHandler serves net/http/pprof under /debug/pprof/ and g at
// /metrics. It is meant for the debug listener only: the public listeners
// never route /debug/pprof/ (their routers are Echo's, not
// http.DefaultServeMux, where importing net/http/pprof also registers it).
func DebugHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", MetricsHandler(g))
	return mux
}

// DebugServer is a running debug listener.
type DebugServer struct {
	ln  net.Listener
	srv *http.Server
}

// ServeDebug starts the debug listener on addr (--debug-listen): plain
// HTTP, DebugHandler(g). An address that does not bind loopback only is
// refused with ErrDebugNotLoopback unless allowAny (--debug-listen-any).
// It has no write timeout, so that CPU profiles and traces of any length
// can be taken.
func ServeDebug(addr string, allowAny bool, g prometheus.Gatherer, logger *slog.Logger) (*DebugServer, error) {
	if !allowAny && !serving.IsLoopback(addr) {
		return nil, fmt.Errorf("%w (got %q)", ErrDebugNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen: %w", err)
	}
	d := &DebugServer{ln: ln, srv: &http.Server{
		Handler:           DebugHandler(g),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}}
	go d.srv.Serve(ln)
	logger.Info("debug listener (pprof, metrics)", "addr", ln.Addr().String())
	return d, nil
}

// Addr is the address the debug listener is bound to.
func (d *DebugServer) Addr() net.Addr { return d.ln.Addr() }

// Close stops the debug listener, cutting profiles in progress.
func (d *DebugServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		return d.srv.Close()
	}
	return nil
}
