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
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/flagconfig"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/internal/serving"
	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

// Layout of a data directory.
const (
	storeDir    = "store"   // the Pebble store
	keyFileName = "log.key" // the signer key made on first start without --key
	pubFileName = "log.pub" // its verifier key
)

// HTTP server timeouts. Entries are small (≤ 64 KiB) and answers are
// immediate once committed, so these bounds only cut off stuck or
// malicious clients.
const (
	// readHeaderTimeout: slowloris protection.
	readHeaderTimeout = 10 * time.Second
	// readTimeout: a 32 MiB decision batch at ~1.5 MB/s, or a 64 KiB body
	// on a very slow link.
	readTimeout = 30 * time.Second
	// writeTimeout: from the end of the request headers to the end of the
	// answer, which for POST /add includes the commit (milliseconds when
	// healthy); a store stuck longer than this cuts the connection.
	writeTimeout = time.Minute
	// idleTimeout: keep-alive connections of busy writers stay open
	// between requests; idle ones are not left to pile up.
	idleTimeout = 30 * time.Second
	// shutdownTimeout: how long SIGTERM waits for requests in flight.
	shutdownTimeout = 30 * time.Second
)

// Defaults of the abuse bounds.
const (
	// defaultMemoryLimit keeps tlog serve under 1 GiB of RSS under any
	// mix of requests: GOMEMLIMIT is set to three quarters of it and large
	// submissions share a quarter.
	defaultMemoryLimit = 768 << 20
	// defaultMaxConnections: beyond, new connections wait in the
	// kernel's backlog.
	defaultMaxConnections = 4096
	// defaultRateLimit applies to listeners beyond loopback: requests/s
	// per writer and per client address.
	defaultRateLimit = 200
)

type serveFlags struct {
	data, listen, keyFile, origin, logLevel string
	keyRef                                  string
	policy, publishers, trustedRoot         string
	acceptUnverifiedCerts                   bool
	witnessInterval, witnessWait            time.Duration
	batchSize, poolSize, tileCache, nodes   int
	batchAge, history, commitTimeout        time.Duration
	maxClockSkew, maxRecordAge              time.Duration
	writeTokens, allowedHosts               string
	tlsCert, tlsKey, clientCA               string
	rateLimit                               float64
	rateBurst, maxRequests, maxConns        int
	memoryLimit                             int64
	logFormat, debugListen                  string
	debugListenAny                          bool
	publish                                 publishFlags
}

func serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--listen ADDR] [--key FILE]",
		Short: "Run the log: c2sp.org/tlog-tiles reads and POST /add writes",
		Long: `Runs the log over HTTP. Without --key, the first start creates a key in the
data directory (DIR/log.key, DIR/log.pub) named by --origin and prints the
public key; later starts reuse it. With --key-ref, the key stays in a KMS
(an Ed25519 key; see tlog keygen --key-ref). An entry is acknowledged only once it is
committed to disk with fsync. SIGTERM or SIGINT stops accepting requests,
finishes those in flight and closes the store.`,
		Example: `  tlog serve
  tlog serve --data /var/lib/tlog --listen 0.0.0.0:8080 --key /etc/tlog/log.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "./data", "data directory (created if missing)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP listen address (port 0 picks a free port)")
	fl.StringVar(&f.keyFile, "key", "", "signer key file (PRIVATE+KEY+...); default DIR/log.key, created on first start")
	fl.StringVar(&f.origin, "origin", "", "log origin for a key created on first start (default <hostname>/tlog); with --key-ref, the KMS key's name (required for a new log)")
	fl.StringVar(&f.keyRef, "key-ref", "", "the log's Ed25519 key in a KMS, instead of --key: hashivault://NAME or openbao://NAME (Vault/OpenBao transit), or <plugin>://KEY served by a sigstore KMS plugin sigstore-kms-<plugin> on PATH; its public key is written to DIR/log.pub")
	fl.IntVar(&f.batchSize, "batch-size", log.DefaultBatchMaxSize, "most entries per commit")
	fl.DurationVar(&f.batchAge, "batch-age", log.DefaultBatchMaxAge, "longest wait for more entries before a commit (0: none)")
	fl.DurationVar(&f.commitTimeout, "commit-timeout", log.DefaultCommitTimeout, "how long POST /add waits on a stalled commit before answering 503 (the entry may still be logged)")
	fl.IntVar(&f.poolSize, "pool-size", log.DefaultPoolSize, "most entries waiting for a commit; beyond, POST /add answers 503")
	fl.DurationVar(&f.history, "checkpoint-history", log.DefaultCheckpointHistoryInterval, "least time between two checkpoints kept in the history (0: keep all)")
	fl.IntVar(&f.tileCache, "tile-cache", log.DefaultTileCacheSize, "full tiles and entry bundles cached in memory")
	fl.IntVar(&f.nodes, "node-cache", log.DefaultNodeCacheSize, "node hashes cached in memory for proofs (about 40 bytes each; 0 disables)")
	fl.StringVar(&f.policy, "witness-policy", "", "c2sp.org/tlog-policy file with this log's key and witnesses (with URLs): /checkpoint then serves the latest checkpoint meeting its quorum (the log's own only until a first one does)")
	fl.DurationVar(&f.witnessInterval, "witness-interval", time.Second, "least time between two witnessing rounds")
	fl.DurationVar(&f.witnessWait, "witness-wait", api.DefaultWitnessWait, "longest a ?wait=witnessed submission waits for a witnessed checkpoint before answering 202 with the log's own")
	fl.DurationVar(&f.maxClockSkew, "max-clock-skew", api.DefaultMaxClockSkew, "refuse a record (decision, access, evaluation) whose time is further than this ahead of the log's clock (0: any time ahead is refused; negative: off)")
	fl.DurationVar(&f.maxRecordAge, "max-record-age", 0, "refuse a record whose time is further than this behind the log's clock (0: off)")
	fl.StringVar(&f.publishers, "publishers", "", "publisher policy file: lines '<subject name prefix> <signer>...', a signer being sha256:<key fingerprint> or identity=<SAN>|identity=~<regexp> followed by issuer=<URL>|issuer=~<regexp>; releases of covered models signed by others get 403 (default: open log); reloaded on SIGHUP")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json (Fulcio CAs, Rekor logs, timestamp authorities, CT logs): certificate-signed releases are admitted only if their certificate validates against it, and their entry names its identity and OIDC issuer; reloaded on SIGHUP (default: certificates refused)")
	fl.BoolVar(&f.acceptUnverifiedCerts, "accept-unverified-certificates", false, "without --trusted-root, admit certificate-signed releases on the certificate's key alone, without validating the certificate (not recommended: anyone can mint a certificate for any key)")
	fl.StringVar(&f.writeTokens, "write-tokens", "", "writers file (mode 0600): lines '<name> <token> [kinds=raw,release,decision,access,evaluation] [systems=pattern,...]'; every write then needs Authorization: Bearer <token> (default: anyone may write); reloaded on SIGHUP")
	fl.StringVar(&f.allowedHosts, "allowed-hosts", "", "comma-separated Host names served (others get 421); default any")
	fl.Float64Var(&f.rateLimit, "rate-limit", -1, "requests per second per writer and per client address, beyond which 429 (0: off; default: off on a loopback listener, 200 otherwise)")
	fl.IntVar(&f.rateBurst, "rate-burst", 0, "burst of the rate limit (default twice --rate-limit)")
	fl.IntVar(&f.maxRequests, "max-requests", api.DefaultMaxRequests, "most requests handled at once; beyond, 503 with Retry-After")
	fl.IntVar(&f.maxConns, "max-connections", defaultMaxConnections, "most open connections; beyond, new ones wait to be accepted")
	fl.Int64Var(&f.memoryLimit, "memory-limit", defaultMemoryLimit, "memory budget in bytes: GOMEMLIMIT is 3/4 of it (unless set in the environment), large submissions share 1/4, cached tiles hold at most 1/12")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate chain (PEM); with --tls-key, serve HTTPS (TLS 1.2+); reloaded on SIGHUP")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key (PEM, mode 0600)")
	fl.StringVar(&f.clientCA, "client-ca", "", "CA certificates (PEM) of writers' client certificates: a writer may present one instead of a token, named by the certificate's subject common name")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", telemetry.FormatText, "text or json: the format of every log line, one access line per request included (stderr)")
	fl.StringVar(&f.debugListen, "debug-listen", "", "serve net/http/pprof and /metrics on this separate address, loopback only (e.g. 127.0.0.1:6060); default off")
	fl.BoolVar(&f.debugListenAny, "debug-listen-any", false, "allow --debug-listen on an address that is not loopback (pprof exposes memory and the command line)")
	f.publish.add(fl)
	flagconfig.Bind(cmd, "TLOG")
	return cmd
}

func serve(cmd *cobra.Command, f serveFlags) error {
	// Catch SIGTERM and SIGINT from the very start, so that a stop sent as
	// soon as the log is up still drains it rather than killing it; SIGHUP
	// reloads files and must never kill it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Everything this process creates (store, keys, state) is its own:
	// directories 0700, files 0600, whatever umask it was started with.
	syscall.Umask(0o077)

	logger, err := telemetry.NewLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(logger) // whatever logs through slog or log does so in the same format
	if err := f.validate(); err != nil {
		return err
	}
	// The memory budget: the Go heap is bounded by GOMEMLIMIT (the
	// collector works harder near it), unless the environment sets one.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(f.memoryLimit / 4 * 3)
	}

	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("couldn't create data directory: %w", err)
	}
	r := &reloadable{writersFile: f.writeTokens, publishersFile: f.publishers, trustedRootFile: f.trustedRoot, logger: logger}
	var trusted *root.TrustedRoot
	if f.trustedRoot != "" {
		var err error
		if trusted, err = loadTrustedRoot(f.trustedRoot); err != nil {
			return err
		}
		logger.Info("trusted root loaded; certificate-signed releases are validated", "file", f.trustedRoot,
			"fulcio_cas", len(trusted.FulcioCertificateAuthorities()), "rekor_logs", len(trusted.RekorLogs()),
			"timestamp_authorities", len(trusted.TimestampingAuthorities()), "ct_logs", len(trusted.CTLogs()))
	} else if f.acceptUnverifiedCerts {
		logger.Warn("--accept-unverified-certificates: certificate-signed releases are admitted without validating their certificate")
	}
	var publishers *attest.Policy
	if f.publishers != "" {
		var err error
		if publishers, err = loadPublishers(f.publishers); err != nil {
			return err
		}
		logger.Info("publisher policy loaded", "file", f.publishers, "rules", publishers.Rules())
	}
	var writers *api.Writers
	if f.writeTokens != "" {
		var err error
		if writers, err = readWritersFile(f.writeTokens); err != nil {
			return err
		}
		logger.Info("writers loaded; writes need a token", "file", f.writeTokens, "writers", writers.Len())
	} else if f.clientCA == "" {
		logger.Warn("no --write-tokens: anyone who can reach this log may write to it")
	}
	var tlsCfg *tls.Config
	if f.tlsCert != "" {
		r.cert = &serving.Cert{CertFile: f.tlsCert, KeyFile: f.tlsKey}
		if err := r.cert.Load(); err != nil {
			return err
		}
		var err error
		if tlsCfg, err = r.cert.Config(f.clientCA); err != nil {
			return err
		}
	}
	s, err := loadOrCreateKey(cmd, f, logger)
	if err != nil {
		return err
	}
	metrics := api.NewMetrics()
	l, err := log.Open(log.Config{
		Dir:                       filepath.Join(f.data, storeDir),
		Signer:                    s,
		BatchMaxSize:              f.batchSize,
		BatchMaxAge:               nonZero(f.batchAge),
		PoolSize:                  f.poolSize,
		CommitTimeout:             f.commitTimeout,
		CheckpointHistoryInterval: nonZero(f.history),
		TileCacheSize:             f.tileCache,
		TileCacheBytes:            f.memoryLimit / 12,
		NodeCacheSize:             nodeCacheFlag(f.nodes),
		Logger:                    logger,
		OnBatch:                   metrics.ObserveBatch,
	})
	if err != nil {
		return err
	}
	ln, err := serving.Listen(f.listen, f.maxConns, tlsCfg)
	if err != nil {
		l.Close()
		return err
	}
	if f.debugListen != "" {
		d, err := telemetry.ServeDebug(f.debugListen, f.debugListenAny, metrics.Registry(), logger)
		if err != nil {
			ln.Close()
			l.Close()
			return err
		}
		defer d.Close()
	}
	rateLimit := f.rateLimit
	if rateLimit < 0 {
		rateLimit = defaultRateLimit
		if serving.IsLoopback(f.listen) {
			rateLimit = 0
		}
	}
	apiCfg := api.Config{
		Log: l, Logger: logger, Publishers: publishers, WitnessWait: f.witnessWait,
		Metrics: metrics, AccessLog: logger,
		AcceptUnverifiedCertificates: f.acceptUnverifiedCerts,
		Writers:                      writers, ClientCertWriters: f.clientCA != "",
		AllowedHosts: splitList(f.allowedHosts),
		RateLimit:    rateLimit, RateBurst: f.rateBurst,
		MaxRequests:      f.maxRequests,
		SubmissionMemory: f.memoryLimit / 4,
		MaxClockSkew:     clockSkew(f.maxClockSkew),
		MaxRecordAge:     f.maxRecordAge,
	}
	if trusted != nil {
		apiCfg.TrustedRoot = trusted
	}
	fatal := make(chan error, 1)
	ctx, cancelWitnessing := context.WithCancel(context.Background())
	defer cancelWitnessing()
	if f.policy != "" {
		w, err := newWitnessing(f.policy, f.witnessInterval, l, logger, metrics.Registry())
		if err != nil {
			l.Close()
			return err
		}
		w.apiHooks(&apiCfg)
		w.start(ctx, l, f.witnessInterval, func(err error) { fatal <- err })
	}
	var pub *publishing
	if f.publish.url != "" {
		p, err := f.publish.publisher(l, logger, metrics.Registry(), nil)
		if err != nil {
			l.Close()
			return err
		}
		pub = &publishing{p: p}
		apiCfg.AddGate = pub.gate(apiCfg.AddGate)
		pub.start(ctx, l, func(err error) {
			select {
			case fatal <- err:
			default:
			}
		})
		logger.Info("publishing to a bucket; writes wait until its checkpoint is checked", "bucket", f.publish.url, "endpoint", f.publish.endpoint)
	}
	r.srv = api.New(apiCfg)
	srv := &http.Server{
		Handler:           r.srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "origin", l.Origin(), "vkey", s.VerifierKey(), "rate_limit", rateLimit)

	var stopErr error
wait:
	for {
		select {
		case err := <-served:
			l.Close()
			return fmt.Errorf("HTTP server stopped: %w", err)
		case <-hup:
			logger.Info("SIGHUP: reloading")
			r.reload()
		case got := <-sig:
			logger.Info("shutting down", "signal", got.String())
			break wait
		case stopErr = <-fatal:
			logger.Error("refusing to sign; stopping", "err", stopErr)
			break wait
		}
	}
	cancelWitnessing()
	// Stop accepting requests and let those in flight finish: their
	// entries are in the pool and the sequencer is still running.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("requests still in flight at shutdown", "err", err)
	}
	if pub != nil {
		// Every acknowledged entry is committed: the bucket gets them too.
		pub.finish(logger)
	}
	// Close integrates whatever is still pooled, then closes the store.
	if err := l.Close(); err != nil {
		return fmt.Errorf("couldn't close the store: %w", err)
	}
	logger.Info("stopped", "size", l.Published().Size)
	return stopErr
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// validate rejects sizes that make no sense (the log would read 0 as its
// default, which would surprise whoever typed 0).
func (f serveFlags) validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"--batch-size", f.batchSize}, {"--pool-size", f.poolSize}, {"--tile-cache", f.tileCache}} {
		if v.n < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", v.name, v.n)
		}
	}
	if f.nodes < 0 || f.batchAge < 0 || f.history < 0 {
		return errors.New("--node-cache, --batch-age and --checkpoint-history must not be negative")
	}
	if f.commitTimeout <= 0 || f.witnessInterval <= 0 || f.witnessWait <= 0 {
		return errors.New("--commit-timeout, --witness-interval and --witness-wait must be positive")
	}
	if f.maxRequests < 1 || f.maxConns < 1 || f.rateBurst < 0 {
		return errors.New("--max-requests and --max-connections must be at least 1, --rate-burst not negative")
	}
	if f.memoryLimit < 64<<20 {
		return fmt.Errorf("--memory-limit %d: at least 64 MiB (%d)", f.memoryLimit, 64<<20)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.trustedRoot != "" && f.acceptUnverifiedCerts {
		return errors.New("--accept-unverified-certificates is for logs without --trusted-root: give one or the other")
	}
	if f.clientCA != "" && f.tlsCert == "" {
		return errors.New("--client-ca needs --tls-cert and --tls-key")
	}
	if f.debugListen != "" && !f.debugListenAny && !serving.IsLoopback(f.debugListen) {
		return fmt.Errorf("%w (got %q)", telemetry.ErrDebugNotLoopback, f.debugListen)
	}
	return f.publish.validate()
}

// nonZero keeps an explicit 0 flag meaning "none" (the log's negative),
// since the log reads 0 as "default".
func nonZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// nodeCacheFlag maps the flag's 0 ("disable") to the log's negative.
func nodeCacheFlag(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// loadOrCreateKey returns the signer: from --key-ref (a KMS key, see
// loadKMSKey), else from --key, else DIR/log.key, else a new key written
// there (and printed) on first start.
//
// A key must back exactly one tree: the same key over two stores signs two
// histories, a fork. So without --key, a store without its key, or a key
// without its store, is refused rather than papered over with a new key or
// a new empty store. With --key and no store, a new log is created (that is
// how a log with a key made by tlog keygen starts), with a warning.
func loadOrCreateKey(cmd *cobra.Command, f serveFlags, logger *slog.Logger) (*signer.Signer, error) {
	if f.keyRef != "" {
		return loadKMSKey(cmd, f, logger)
	}
	store := filepath.Join(f.data, storeDir)
	hasStore := nonEmptyDir(store)
	path := f.keyFile
	if path == "" {
		path = filepath.Join(f.data, keyFileName)
		_, err := os.Stat(path)
		hasKey := err == nil
		switch {
		case hasStore && !hasKey:
			return nil, fmt.Errorf("%s holds a log but %s is missing: restore the key, or give the log's key with --key (a new key would start another log over the same data)", store, path)
		case hasKey && !hasStore:
			return nil, fmt.Errorf("%s exists but its store %s does not: this key already started a log, and a new empty tree under it would fork that log; restore the store, or move the key away to start a new log", path, store)
		case !hasKey:
			origin := f.origin
			if origin == "" {
				origin = defaultOrigin()
			}
			skey, vkey, err := signer.GenerateKey(rand.Reader, origin)
			if err != nil {
				return nil, err
			}
			if err := keyfile.WritePair(strings.TrimSuffix(path, ".key"), skey, vkey); err != nil {
				return nil, err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created a new log key in %s; the log's public key is:\n%s\n", path, vkey)
		}
	}
	b, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read key: %w", err)
	}
	s, err := signer.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.origin != "" && f.origin != s.Name() {
		return nil, fmt.Errorf("--origin %q differs from the key's name %q in %s", f.origin, s.Name(), path)
	}
	if f.keyFile != "" && !hasStore {
		logger.Warn("creating a new, empty log; a key must back exactly one log: if this key already signed checkpoints of another store, stop now, this would fork it",
			"store", store, "vkey", s.VerifierKey())
	}
	return s, nil
}

// nonEmptyDir reports whether dir exists and holds anything.
func nonEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

// defaultOrigin names a log made without --origin after the host.
func defaultOrigin() string {
	h, err := os.Hostname()
	h = strings.ToLower(strings.Map(func(r rune) rune {
		if r <= ' ' || r == '+' || r == '/' {
			return -1
		}
		return r
	}, h))
	if err != nil || h == "" {
		h = "localhost"
	}
	return h + "/tlog"
}

// clockSkew maps --max-clock-skew to api.Config.MaxClockSkew, where 0
// means the default: a flag of 0 refuses any time ahead of the clock (to
// the nanosecond).
func clockSkew(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}
