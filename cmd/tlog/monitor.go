package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/monitor"
	"github.com/tlogai/tlog/signer"
)

func monitorCmd() *cobra.Command {
	var (
		logURL, logKey, policyFile, stateFile, allowedFile, webhook string
		models, digests, identities, systems                        []string
		once                                                        bool
		interval                                                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "monitor --log URL (--log-key LOG.pub | --policy FILE) --state FILE (--model NAME | --digest D | --identity X | --system S | --allowed-signers FILE)... [--webhook URL] [--once | --interval 10s]",
		Short: "Follow the log from its tiles and report what you watch for, none missing",
		Long: `Reads every entry of the log from its tiles, from the position saved in
--state, each entry bundle authenticated against a checkpoint verified with
the log's key (--log-key) or a witness policy (--policy) and proven
consistent with the checkpoint saved in --state. The search API, which
nothing signs, is never used.

Each entry that matches is one JSON line on stdout: releases whose subject
or model-signing name is a --model (ignoring case; a NAME ending in '/'
watches every name under it), any entry naming a --digest (release
subjects, model and dataset digests; raw entries by their SHA-256), keyless
releases of an --identity, records of a --system. With --allowed-signers
(one signer a line: sha256:<key fingerprint>, or identity=<SAN>
issuer=<URL>, as in tlog serve --publishers), a release of a watched model
— of any model without --model — signed by anyone else is reported with
"unexpected": true and the reason. --webhook POSTs each line as JSON
(retried with backoff) before it is printed. Progress goes to stderr.

The state (checkpoint and next index) is saved atomically once the lines
before it are printed and accepted, so a rerun reports nothing twice.
--once reads to the current checkpoint and exits; without it the monitor
follows the log every --interval until interrupted, retrying when the log
or the webhook cannot be reached.

Exit status: 0 nothing unexpected, 1 an unexpected entry was reported, 2
could not check (bad flags, log unreachable, a checkpoint that does not
verify, tiles that do not match it, the webhook refusing a line, or a fork:
the log contradicts the saved checkpoint; both signed checkpoints are then
printed and written to STATE.evidence).`,
		Example: `  tlog monitor --log http://127.0.0.1:8080 --log-key log.pub --state acme.state \
    --model acme/fraud-v3 --allowed-signers acme.signers --once
  tlog monitor --log https://log.example.com --policy policy.txt --state all.state \
    --allowed-signers acme.signers --webhook https://alerts.example.com/tlog`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			usage := func(err error) error {
				fmt.Fprintln(stderr, "tlog monitor:", err)
				return exitError{monitor.ExitCouldNotCheck}
			}
			switch {
			case logURL == "":
				return usage(errors.New("--log URL is required"))
			case stateFile == "":
				return usage(errors.New("--state FILE is required: the monitor keeps its checkpoint and position there"))
			case (logKey == "") == (policyFile == ""):
				return usage(errors.New("give exactly one of --log-key LOG.pub and --policy FILE (a policy names the log's key)"))
			case !once && interval <= 0:
				return usage(fmt.Errorf("--interval %v: must be positive", interval))
			}
			w := monitor.Watch{Models: models, Digests: digests, Identities: identities, Systems: systems}
			if allowedFile != "" {
				b, err := os.ReadFile(allowedFile)
				if err != nil {
					return usage(fmt.Errorf("--allowed-signers: %w", err))
				}
				if w.Allowed, err = attest.ParseSigners(b); err != nil {
					return usage(fmt.Errorf("--allowed-signers %s: %w", allowedFile, err))
				}
			}
			if err := w.Validate(); err != nil {
				return usage(err)
			}
			var opts []client.Option
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return usage(fmt.Errorf("--policy: %w", err))
				}
				p, err := signer.ParsePolicy(b)
				if err != nil {
					return usage(fmt.Errorf("--policy %s: %w", policyFile, err))
				}
				opts = append(opts, client.WithPolicy(p))
			}
			c, err := newClient(logURL, logKey, opts...)
			if err != nil {
				return usage(err)
			}
			cfg := monitor.Config{Client: c, State: stateFile, Watch: w, Out: cmd.OutOrStdout(), Status: stderr}
			if webhook != "" {
				if cfg.Webhook, err = monitor.NewWebhook(webhook); err != nil {
					return usage(fmt.Errorf("--webhook: %w", err))
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m, err := monitor.New(ctx, cfg)
			if err != nil {
				return monitorExit(stderr, monitor.Summary{}, err)
			}
			fmt.Fprintf(stderr, "monitoring %s from index %d\n", c.URL(), m.Next())
			var s monitor.Summary
			if once {
				s, err = m.Pass(ctx)
				if err == nil && ctx.Err() != nil {
					err = fmt.Errorf("interrupted: %w", ctx.Err())
				}
				if err == nil || s.Entries > 0 {
					fmt.Fprintln(stderr, s)
				}
			} else {
				s, err = m.Follow(ctx, interval)
				fmt.Fprintf(stderr, "stopped at index %d: %d read, %d reported, %d unexpected\n", s.Next, s.Entries, s.Matched, s.Unexpected)
			}
			return monitorExit(stderr, s, err)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintln(c.ErrOrStderr(), "tlog monitor:", err)
		return exitError{monitor.ExitCouldNotCheck}
	})
	fl := cmd.Flags()
	fl.StringVar(&logURL, "log", "", "log URL (required)")
	fl.StringVar(&logKey, "log-key", "", "log verifier key file (or --policy)")
	fl.StringVar(&policyFile, "policy", "", "c2sp.org/tlog-policy file: checkpoints need the log's signature and the witness quorum (instead of --log-key)")
	fl.StringVar(&stateFile, "state", "", "the monitor's state file: the checkpoint it trusts and the next index (required; created if missing)")
	fl.StringArrayVar(&models, "model", nil, "report releases, decisions and evaluations of this model name (ignoring case; NAME/ watches all names under it); repeatable")
	fl.StringArrayVar(&digests, "digest", nil, "report any entry naming this sha256:<hex> digest (raw entries: their SHA-256); repeatable")
	fl.StringArrayVar(&identities, "identity", nil, "report keyless releases of this certificate identity (SAN); repeatable")
	fl.StringArrayVar(&systems, "system", nil, "report decision, access and evaluation records of this system; repeatable")
	fl.StringVar(&allowedFile, "allowed-signers", "", "file of allowed release signers, one a line (sha256:<key fingerprint> or identity=<SAN> issuer=<URL>): flag releases of watched models (all models without --model) signed by others")
	fl.StringVar(&webhook, "webhook", "", "POST each report line as JSON to this URL (retried; a refusal is exit 2)")
	fl.BoolVar(&once, "once", false, "one pass to the log's current checkpoint, then exit")
	fl.DurationVar(&interval, "interval", 10*time.Second, "how often to poll the log when following")
	return cmd
}

// monitorExit prints how a monitor run ended and returns its exit status.
func monitorExit(stderr io.Writer, s monitor.Summary, err error) error {
	var fe *monitor.ForkError
	switch {
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "INCONSISTENT: %s\nkept checkpoint:\n%s\nlog's checkpoint:\n%s", fe.Reason, fe.Kept, fe.Seen)
		if fe.Evidence != "" {
			fmt.Fprintf(stderr, "evidence written to %s\n", fe.Evidence)
		} else {
			fmt.Fprintf(stderr, "couldn't write the evidence: %v\n", fe.WriteErr)
		}
	case err != nil:
		fmt.Fprintf(stderr, "could not check: %v\n", err)
	}
	if s.Unexpected > 0 {
		fmt.Fprintf(stderr, "UNEXPECTED: %d of %d reported (\"unexpected\": true)\n", s.Unexpected, s.Matched)
	}
	if code := monitor.ExitCode(s, err); code != monitor.ExitOK {
		return exitError{code}
	}
	return nil
}
