package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/internal/flagconfig"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/publish"
)

// Exit codes of tlog publish.
const (
	publishExitFenced = 1 // the bucket holds another history or log
	publishExitError  = 2 // bad flags, store or bucket unusable
)

// finalPublishTimeout bounds the last round tlog serve runs at shutdown.
const finalPublishTimeout = 15 * time.Second

// publishFlags say where and how a log is published.
type publishFlags struct {
	url, endpoint, region string
	interval              time.Duration
	parallel              int
}

func (f *publishFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.url, "publish", "", "publish the log to S3-compatible object storage at s3://BUCKET[/PREFIX]: tiles and entry bundles after each commit, the checkpoint last (conditional writes fence out a second sequencer); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, ~/.aws/credentials or an instance role")
	fl.StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint for --publish: https://HOST[:PORT] or http://HOST[:PORT] (default https://s3.amazonaws.com)")
	fl.StringVar(&f.region, "s3-region", "", "bucket region for --publish (default AWS_REGION, else us-east-1)")
	fl.DurationVar(&f.interval, "publish-interval", publish.DefaultInterval, "least time between two publishing rounds")
	fl.IntVar(&f.parallel, "publish-parallel", publish.DefaultParallel, "uploads in flight at once while publishing")
}

func (f publishFlags) validate() error {
	if f.url == "" {
		if f.endpoint != "" || f.region != "" {
			return errors.New("--s3-endpoint and --s3-region need --publish s3://BUCKET[/PREFIX]")
		}
		return nil
	}
	if _, _, err := publish.ParseURL(f.url); err != nil {
		return fmt.Errorf("--publish: %w", err)
	}
	if f.interval <= 0 || f.parallel < 1 {
		return errors.New("--publish-interval must be positive and --publish-parallel at least 1")
	}
	return nil
}

// publisher opens the bucket of f and a publisher of l to it.
func (f publishFlags) publisher(l *log.Log, logger *slog.Logger, reg prometheus.Registerer, progress *os.File) (*publish.Publisher, error) {
	region := f.region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	b, err := publish.OpenBucket(publish.BucketConfig{URL: f.url, Endpoint: f.endpoint, Region: region})
	if err != nil {
		return nil, err
	}
	cfg := publish.Config{Log: l, Bucket: b, Interval: f.interval, Parallel: f.parallel,
		Logger: logger.With("component", "publish"), Registerer: reg}
	if progress != nil {
		cfg.Progress = progress
	}
	return publish.New(cfg)
}

// publishing runs a publisher beside tlog serve.
type publishing struct {
	p     *publish.Publisher
	ready atomic.Bool // the bucket's checkpoint was checked: writes may go on
	done  chan error  // Run's result
}

// start runs the publisher until ctx ends; a FenceError halts the log and
// is sent to fatal.
func (w *publishing) start(ctx context.Context, l *log.Log, fatal func(error)) {
	w.done = make(chan error, 1)
	go func() {
		err := w.p.Run(ctx, func() { w.ready.Store(true) })
		var fe *publish.FenceError
		if errors.As(err, &fe) {
			l.Halt(err)
			fatal(err)
		}
		w.done <- err
	}()
}

// gate wraps an api.Config.AddGate: writes wait for the bucket check.
func (w *publishing) gate(next func() error) func() error {
	return func() error {
		if !w.ready.Load() {
			return api.ErrWaitingForBucket
		}
		if next != nil {
			return next()
		}
		return nil
	}
}

// finish waits for Run to stop (its context was canceled) and, if the
// bucket was being published, publishes what the log committed last.
func (w *publishing) finish(logger *slog.Logger) {
	err := <-w.done
	var fe *publish.FenceError
	if !w.ready.Load() || errors.As(err, &fe) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finalPublishTimeout)
	defer cancel()
	size, err := w.p.Publish(ctx)
	if err != nil {
		logger.Warn("last publishing round failed; the next start catches up", "bucket_size", size, "lag", w.p.Lag(), "err", err)
		return
	}
	logger.Info("bucket up to date", "bucket_size", size)
}

func publishCmd() *cobra.Command {
	var (
		sf   serveFlags
		pf   publishFlags
		once bool
	)
	cmd := &cobra.Command{
		Use:   "publish --once --publish s3://BUCKET[/PREFIX] [--data DIR] [--s3-endpoint URL]",
		Short: "Re-sync and verify a log's bucket offline",
		Long: `Makes the bucket a complete, verified copy of the log in --data (which no
tlog serve may have open): the bucket's checkpoint must verify with the
log's key and be one this store extends; every object under tile/ is read
back and must be this log's bytes; missing tiles and entry bundles are
written (never overwriting anything); the checkpoint is written last.

Exit status 0: the bucket is this log's and complete; 1: the bucket holds
another history, another log or objects that are not this log's (named);
2: the store or the bucket could not be read. tlog serve --publish
publishes continuously.`,
		Example: `  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... tlog publish --once --data ./data --publish s3://logs/tlog --s3-endpoint http://127.0.0.1:9000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			fail := func(code int, err error) error {
				fmt.Fprintln(stderr, "tlog publish:", err)
				return exitError{code}
			}
			switch {
			case !once:
				return fail(publishExitError, errors.New("tlog publish syncs once: give --once (tlog serve --publish publishes continuously)"))
			case pf.url == "":
				return fail(publishExitError, errors.New("--publish s3://BUCKET[/PREFIX] is required"))
			}
			if err := pf.validate(); err != nil {
				return fail(publishExitError, err)
			}
			if !nonEmptyDir(filepath.Join(sf.data, storeDir)) {
				return fail(publishExitError, fmt.Errorf("%s holds no log", filepath.Join(sf.data, storeDir)))
			}
			logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			s, err := loadOrCreateKey(cmd, sf, logger)
			if err != nil {
				return fail(publishExitError, err)
			}
			l, err := log.Open(log.Config{Dir: filepath.Join(sf.data, storeDir), Signer: s, Logger: logger})
			if err != nil {
				return fail(publishExitError, err)
			}
			defer l.Close()
			var progress *os.File
			if f, ok := stderr.(*os.File); ok {
				progress = f
			}
			p, err := pf.publisher(l, logger, nil, progress)
			if err != nil {
				return fail(publishExitError, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			rep, err := p.Sync(ctx)
			var fe *publish.FenceError
			if errors.As(err, &fe) {
				return fail(publishExitFenced, err)
			}
			if err != nil {
				return fail(publishExitError, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: checkpoint at size %d; %d objects verified, %d uploaded, %d other keys ignored (%.1fs)\n",
				pf.url, rep.Size, rep.Checked, rep.Uploaded, rep.Ignored, time.Since(start).Seconds())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sf.data, "data", "./data", "the log's data directory (tlog serve must not be running on it)")
	fl.StringVar(&sf.keyFile, "key", "", "the log's signer key file; default DIR/log.key")
	fl.StringVar(&sf.keyRef, "key-ref", "", "the log's Ed25519 key in a KMS, instead of --key (see tlog serve --key-ref)")
	fl.BoolVar(&once, "once", false, "sync once and exit (required)")
	pf.add(fl)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintln(c.ErrOrStderr(), "tlog publish:", err)
		return exitError{publishExitError}
	})
	flagconfig.Bind(cmd, "TLOG")
	return cmd
}
