// Command witness runs a transparency log witness (c2sp.org/tlog-witness):
// it cosigns a log's checkpoints only if they are consistent with every
// checkpoint of that log it cosigned before, and keeps the evidence when
// they are not.
//
// Subcommands: keygen (make a witness key), serve (the add-checkpoint
// server), watch (follow a tiles log that does not push). Run
// "witness <command> --help" for flags.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/internal/buildinfo"
	"github.com/tlogai/tlog/internal/flagconfig"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/internal/serving"
	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/witness"
)

type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	root := &cobra.Command{
		Use:           "witness",
		Short:         "A transparency log witness: cosigns consistent checkpoints, keeps evidence of forks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(keygenCmd(), serveCmd(), watchCmd(), buildinfo.Command("witness"))
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
}

func keygenCmd() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --out PREFIX",
		Short: "Make a witness key pair",
		Long: `Writes PREFIX.key (the signer key, mode 0600) and PREFIX.pub, the cosignature
verifier key <name>+<id>+<base64(0x04 || public key)> that logs and clients put
in their policies. Prints the verifier key. Never overwrites a file.`,
		Example: "  witness keygen --name witness.example.org/w1 --out ./w1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || out == "" {
				return errors.New("--name and --out are required")
			}
			skey, vkey, err := signer.GenerateWitnessKey(rand.Reader, name)
			if err != nil {
				return err
			}
			if err := keyfile.WritePair(out, skey, vkey); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "witness name, also the key name (required)")
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the .key and .pub files (required)")
	return cmd
}

// common flags of serve and watch
type stateFlags struct {
	data, keyFile, logLevel string
	logFormat, debugListen  string
	debugListenAny          bool
	// serve only (registerRate)
	rateLimit float64
	rateBurst int
}

func (f *stateFlags) registerRate(cmd *cobra.Command) {
	cmd.Flags().Float64Var(&f.rateLimit, "rate-limit", witness.DefaultRateLimit, "add-checkpoint requests per second allowed per client address (IPv6: per /64) and per log origin; 0 is no limit")
	cmd.Flags().IntVar(&f.rateBurst, "rate-burst", witness.DefaultRateBurst, "requests allowed at once above --rate-limit, per client address and per origin")
}

func (f *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "./witness-data", "witness state directory (created if missing)")
	cmd.Flags().StringVar(&f.keyFile, "key", "", "witness signer key file from witness keygen (required)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&f.logFormat, "log-format", telemetry.FormatText, "text or json: the format of every log line, one access line per request included (stderr)")
	cmd.Flags().StringVar(&f.debugListen, "debug-listen", "", "serve net/http/pprof and /metrics on this separate address, loopback only (e.g. 127.0.0.1:6061); default off")
	cmd.Flags().BoolVar(&f.debugListenAny, "debug-listen-any", false, "allow --debug-listen on an address that is not loopback (pprof exposes memory and the command line)")
}

// serveDebug starts the --debug-listen listener, if asked for, with reg's
// metrics; the returned function stops it.
func (f *stateFlags) serveDebug(reg *prometheus.Registry, logger *slog.Logger) (func(), error) {
	if f.debugListen == "" {
		return func() {}, nil
	}
	d, err := telemetry.ServeDebug(f.debugListen, f.debugListenAny, reg, logger)
	if err != nil {
		return nil, err
	}
	return func() { d.Close() }, nil
}

func (f *stateFlags) open(cmd *cobra.Command, logs []witness.LogKey) (*witness.Witness, *slog.Logger, error) {
	logger, err := telemetry.NewLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return nil, nil, err
	}
	slog.SetDefault(logger) // whatever logs through slog or log does so in the same format
	if f.debugListen != "" && !f.debugListenAny && !serving.IsLoopback(f.debugListen) {
		return nil, nil, fmt.Errorf("%w (got %q)", telemetry.ErrDebugNotLoopback, f.debugListen)
	}
	if f.keyFile == "" {
		return nil, nil, errors.New("--key FILE is required (make one with witness keygen)")
	}
	rate := f.rateLimit
	if rate == 0 {
		rate = -1 // witness.Config: negative is no limit (watch serves nothing)
	}
	// The witness key is a secret: refused if others may read it.
	b, err := keyfile.ReadPrivate(f.keyFile)
	if err != nil {
		return nil, nil, err
	}
	s, err := signer.NewCosigner(string(b), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.keyFile, err)
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return nil, nil, err
	}
	w, err := witness.Open(witness.Config{Dir: filepath.Join(f.data, "store"), Signer: s, Logs: logs, Logger: logger,
		RateLimit: rate, RateBurst: f.rateBurst})
	if err != nil {
		return nil, nil, err
	}
	return w, logger, nil
}

// readLogs reads a logs file: one "log <vkey> [<url>]" line per log;
// blank lines and # comments are ignored.
func readLogs(path string) ([]witness.LogKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var logs []witness.LogKey
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] != "log" || len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%s:%d: want: log <vkey> [<url>]", path, i+1)
		}
		v, err := signer.NewVerifier(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if seen[v.Name()] {
			return nil, fmt.Errorf("%s:%d: a second key for origin %q", path, i+1, v.Name())
		}
		seen[v.Name()] = true
		l := witness.LogKey{Verifier: v}
		if len(f) == 3 {
			l.URL = f[2]
		}
		logs = append(logs, l)
	}
	return logs, nil
}

func serveCmd() *cobra.Command {
	var (
		sf              stateFlags
		listen, logsFn  string
		tlsCert, tlsKey string
		maxConns        int
	)
	cmd := &cobra.Command{
		Use:   "serve --data DIR --listen ADDR --key FILE --logs FILE",
		Short: "Serve c2sp.org/tlog-witness add-checkpoint",
		Long: `Serves POST /add-checkpoint for the logs listed in the logs file (one
"log <vkey> [<url>]" line each; the key's name is the log's origin), plus
GET /<hex sha256(origin)>/checkpoint, GET /forks[?limit=N&cursor=C]
(evidence, paged by the Next-Cursor header), GET /metrics, GET /healthz and
GET /readyz (each also HEAD). add-checkpoint is rate limited per client
address and per origin (429 with Retry-After); a proof that does not verify is 422 and,
since anyone can send one, not kept as evidence. The --key file must not be
readable by group or others. SIGHUP reloads the logs file; SIGTERM and
SIGINT stop.`,
		Example: "  witness serve --data ./w1-data --listen 127.0.0.1:8081 --key w1.key --logs logs.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			defer signal.Stop(sig)
			if logsFn == "" {
				return errors.New("--logs FILE is required")
			}
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if maxConns < 1 {
				return errors.New("--max-connections must be at least 1")
			}
			if sf.rateLimit < 0 || sf.rateBurst < 1 {
				return errors.New("--rate-limit must be 0 (no limit) or more, and --rate-burst 1 or more")
			}
			logs, err := readLogs(logsFn)
			if err != nil {
				return err
			}
			w, logger, err := sf.open(cmd, logs)
			if err != nil {
				return err
			}
			var cert *serving.Cert
			var tlsCfg *tls.Config
			if tlsCert != "" {
				cert = &serving.Cert{CertFile: tlsCert, KeyFile: tlsKey}
				if err := cert.Load(); err != nil {
					w.Close()
					return err
				}
				tlsCfg, _ = cert.Config("")
			}
			ln, err := serving.Listen(listen, maxConns, tlsCfg)
			if err != nil {
				w.Close()
				return err
			}
			reg := w.NewRegistry()
			stopDebug, err := sf.serveDebug(reg, logger)
			if err != nil {
				ln.Close()
				w.Close()
				return err
			}
			defer stopDebug()
			srv := &http.Server{
				Handler:           serving.Headers(witness.NewHandler(w, witness.HandlerOptions{Registry: reg, AccessLog: logger})),
				ReadHeaderTimeout: 10 * time.Second, // slowloris
				ReadTimeout:       30 * time.Second, // a 64 KiB body
				WriteTimeout:      30 * time.Second, // answers are immediate
				IdleTimeout:       30 * time.Second, // keep-alive between a log's rounds
				MaxHeaderBytes:    64 << 10,
				ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			logger.Info("listening", "addr", ln.Addr().String(), "name", w.Name(), "logs", len(logs))
		loop:
			for {
				select {
				case err := <-served:
					return fmt.Errorf("HTTP server stopped: %w", err)
				case s := <-sig:
					if s != syscall.SIGHUP {
						logger.Info("shutting down", "signal", s.String())
						break loop
					}
					if cert != nil {
						if err := cert.Load(); err != nil {
							logger.Error("SIGHUP: keeping the old TLS certificate", "err", err)
						} else {
							logger.Info("SIGHUP: reloaded the TLS certificate", "file", tlsCert)
						}
					}
					logs, err := readLogs(logsFn)
					if err != nil {
						logger.Error("SIGHUP: keeping the old logs file", "err", err)
						continue
					}
					w.SetLogs(logs)
					logger.Info("SIGHUP: reloaded the logs file", "logs", len(logs))
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				// Requests still running use the store: exit without
				// closing it (the state is synced after every write).
				return fmt.Errorf("requests still in flight at shutdown: %w", err)
			}
			return w.Close()
		},
	}
	sf.register(cmd)
	sf.registerRate(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "HTTP listen address (port 0 picks a free port)")
	cmd.Flags().StringVar(&logsFn, "logs", "", "file of \"log <vkey> [<url>]\" lines (required)")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "TLS certificate chain (PEM); with --tls-key, serve HTTPS (TLS 1.2+); reloaded on SIGHUP")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM, mode 0600)")
	cmd.Flags().IntVar(&maxConns, "max-connections", 1024, "most open connections; beyond, new ones wait to be accepted")
	flagconfig.Bind(cmd, "WITNESS")
	return cmd
}

func watchCmd() *cobra.Command {
	var (
		sf               stateFlags
		logURL, logKeyFn string
		listen           string
		interval         time.Duration
		once             bool
	)
	cmd := &cobra.Command{
		Use:   "watch --log URL --log-key FILE --key FILE [--data DIR] [--interval 10s] [--once] [--listen ADDR]",
		Short: "Follow a tiles log that does not push, and cosign what is consistent",
		Long: `Fetches the log's checkpoint, builds the consistency proof from the witness's
last cosigned size itself, from the log's c2sp.org/tlog-tiles tiles, and
cosigns or records evidence exactly as add-checkpoint would. Works with any
tlog-tiles log. With --once: one round, exit 0 when consistent, 1 on a fork
(evidence kept), 2 when the log could not be checked.`,
		Example: "  witness watch --log http://127.0.0.1:8080 --log-key log.pub --key w1.key --data ./w1-watch",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if logURL == "" || logKeyFn == "" {
				return errors.New("--log URL and --log-key FILE are required")
			}
			b, err := os.ReadFile(logKeyFn)
			if err != nil {
				return err
			}
			v, err := signer.NewVerifier(string(b))
			if err != nil {
				return fmt.Errorf("%s: %w", logKeyFn, err)
			}
			w, logger, err := sf.open(cmd, []witness.LogKey{{Verifier: v, URL: logURL}})
			if err != nil {
				return err
			}
			defer w.Close()
			wt := &witness.Watcher{W: w, LogURL: logURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
			reg := w.NewRegistry()
			stopDebug, err := sf.serveDebug(reg, logger)
			if err != nil {
				return err
			}
			defer stopDebug()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if listen != "" && !once {
				stopServing, err := serveReads(listen, w, reg, logger)
				if err != nil {
					return err
				}
				defer stopServing()
			}
			if once {
				size, err := wt.Step(ctx)
				switch {
				case errors.Is(err, witness.ErrBadProof), errors.Is(err, witness.ErrFork):
					fmt.Fprintf(cmd.ErrOrStderr(), "FORK: %v (evidence kept; see the forks in %s)\n", err, sf.data)
					return exitError{1}
				case err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "couldn't check: %v\n", err)
					return exitError{2}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "consistent: cosigned %s at size %d\n", v.Name(), size)
				return nil
			}
			logger.Info("watching", "log", logURL, "origin", v.Name(), "interval", interval)
			err = wt.Run(ctx, interval)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			if errors.Is(err, witness.ErrBadProof) || errors.Is(err, witness.ErrFork) {
				fmt.Fprintf(cmd.ErrOrStderr(), "FORK: %v (evidence kept)\n", err)
				return exitError{1}
			}
			return err
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&logURL, "log", "", "the log's tlog-tiles URL prefix (required)")
	cmd.Flags().StringVar(&logKeyFn, "log-key", "", "the log's verifier key file (required)")
	cmd.Flags().DurationVar(&interval, "interval", 10*time.Second, "time between rounds")
	cmd.Flags().BoolVar(&once, "once", false, "one round, then exit 0 (consistent), 1 (fork) or 2 (could not check)")
	cmd.Flags().StringVar(&listen, "listen", "", "publish what it cosigns: serve the witness's read API (GET /<hex sha256(origin)>/checkpoint, /forks, /metrics, /healthz) on this address; add-checkpoint is refused (405) (default: no server)")
	flagconfig.Bind(cmd, "WITNESS")
	return cmd
}

// serveReads serves the witness's read API on addr (witness watch
// --listen): what it cosigned and the evidence it kept. Writes are refused
// with 405: a watching witness takes checkpoints only from its own rounds.
// The returned function stops the server.
func serveReads(addr string, w *witness.Witness, reg *prometheus.Registry, logger *slog.Logger) (func(), error) {
	ln, err := serving.Listen(addr, 1024, nil)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           serving.Headers(witness.NewHandler(w, witness.HandlerOptions{Registry: reg, AccessLog: logger, ReadOnly: true})),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	go srv.Serve(ln)
	logger.Info("listening", "addr", ln.Addr().String(), "name", w.Name(), "reads only", true)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
