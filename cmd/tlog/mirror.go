package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/mirror"
	"github.com/tlogai/tlog/signer"
)

// Exit codes of tlog mirror.
const (
	mirrorExitFork  = 1 // the source forked: evidence written
	mirrorExitError = 2 // bad flags, store unusable, --once sync failed
)

func mirrorCmd() *cobra.Command {
	var (
		from, logKey, policyFile, data, listen string
		interval                               time.Duration
		once                                   bool
	)
	cmd := &cobra.Command{
		Use:   "mirror --from URL (--log-key LOG.pub | --policy FILE) --data DIR --listen ADDR [--interval 10s] [--once]",
		Short: "Serve a verified read replica of a tlog-tiles log",
		Long: `Follows any c2sp.org/tlog-tiles log (tlog serve, Tessera) at --from and
serves its /checkpoint, /tile/… (byte-identical) and inclusion and
consistency proofs and tlog-proof files built from its own copy of the
tiles. Nothing is trusted: each checkpoint must verify with --log-key or
the witness policy --policy, be consistent with the kept one, and every
tile and entry bundle must hash to its root before it is stored in --data.

A source that forks (a checkpoint inconsistent with the kept one, a tile
that does not match its signed root) stops the mirror with exit status 1;
the evidence (both signed checkpoints) is printed and written to
DIR/evidence-<n>.txt. A source that cannot be reached is retried with
backoff while the mirror keeps serving. --once syncs once and exits
(status 2 if the source could not be read).`,
		Example: `  tlog mirror --from https://log.example.com --log-key log.pub --data ./mirror --listen 127.0.0.1:8081`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			fail := func(code int, err error) error {
				fmt.Fprintln(stderr, "tlog mirror:", err)
				return exitError{code}
			}
			switch {
			case from == "":
				return fail(mirrorExitError, errors.New("--from URL is required"))
			case data == "":
				return fail(mirrorExitError, errors.New("--data DIR is required"))
			case (logKey == "") == (policyFile == ""):
				return fail(mirrorExitError, errors.New("give exactly one of --log-key LOG.pub and --policy FILE"))
			case !once && listen == "":
				return fail(mirrorExitError, errors.New("--listen ADDR is required (or --once)"))
			case interval <= 0:
				return fail(mirrorExitError, fmt.Errorf("--interval %v: must be positive", interval))
			}
			open, err := mirrorOpener(logKey, policyFile)
			if err != nil {
				return fail(mirrorExitError, err)
			}
			src, err := client.NewTileFetcher(from, &http.Client{Timeout: client.DefaultTimeout})
			if err != nil {
				return fail(mirrorExitError, fmt.Errorf("--from: %w", err))
			}
			logger := slog.New(slog.NewTextHandler(stderr, nil))
			m, err := mirror.Open(mirror.Config{Source: src, Open: open, Dir: data, Logger: logger, Progress: stderr})
			if err != nil {
				return fail(mirrorExitError, err)
			}
			defer m.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			forked := func(err error) error {
				var fe *mirror.ForkError
				if !errors.As(err, &fe) {
					return nil
				}
				fmt.Fprintf(stderr, "tlog mirror: %v\n%s", err, fe.Evidence())
				return exitError{mirrorExitFork}
			}
			if once {
				size, err := m.Sync(ctx)
				var fe *mirror.ForkError
				if errors.As(err, &fe) {
					path, werr := m.WriteEvidence(fe)
					if werr != nil {
						fmt.Fprintln(stderr, "tlog mirror: writing the evidence:", werr)
					}
					return forked(fmt.Errorf("%w (evidence in %s)", err, path))
				}
				if err != nil {
					return fail(mirrorExitError, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "mirrored %s at tree size %d\n", from, size)
				return nil
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fail(mirrorExitError, fmt.Errorf("--listen: %w", err))
			}
			srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			cp, _, _ := m.Checkpoint()
			logger.Info("listening", "addr", ln.Addr().String(), "from", from, "size", cp.Size)
			runErr := m.Run(ctx, interval)
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			if runErr != nil {
				if e := forked(runErr); e != nil {
					return e
				}
				return fail(mirrorExitError, runErr)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the source log's tlog-tiles URL prefix")
	fl.StringVar(&logKey, "log-key", "", "the source log's verifier key file")
	fl.StringVar(&policyFile, "policy", "", "c2sp.org/tlog-policy file: checkpoints need the log's signature and the witness quorum")
	fl.StringVar(&data, "data", "", "the mirror's data directory (created if missing)")
	fl.StringVar(&listen, "listen", "", "HTTP listen address (port 0 picks a free port)")
	fl.DurationVar(&interval, "interval", 10*time.Second, "time between two syncs")
	fl.BoolVar(&once, "once", false, "sync once to the source's checkpoint and exit, without serving")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintln(c.ErrOrStderr(), "tlog mirror:", err)
		return exitError{mirrorExitError}
	})
	return cmd
}

// mirrorOpener is the checkpoint check of exactly one of --log-key and
// --policy.
func mirrorOpener(keyFile, policyFile string) (func([]byte) (signer.Checkpoint, *signer.Note, error), error) {
	if keyFile != "" {
		v, err := readVerifier(keyFile)
		if err != nil {
			return nil, fmt.Errorf("--log-key: %w", err)
		}
		return func(note []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(note, v) }, nil
	}
	b, err := os.ReadFile(policyFile)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	p, err := signer.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("--policy %s: %w", policyFile, err)
	}
	return p.Check, nil
}
