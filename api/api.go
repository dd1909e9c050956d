// Package api is the HTTP surface of tlog serve: Echo routes and handlers,
// request limits, and the one place where errors become HTTP statuses
// (errors.go). Handlers hold no state of their own; the log does.
package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sigstore/sigstore-go/pkg/root"
	"golang.org/x/sync/semaphore"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/explorer"
	"github.com/tlogai/tlog/internal/telemetry"
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

	// AccessLog, when set, receives one line per request at info level,
	// once it is answered: message "request", fields request_id (also
	// answered in X-Request-Id), method, route (the route pattern, or
	// "unmatched"), status, latency_ms, bytes (of the answer's body),
	// remote and, on authenticated writes, writer (the writer's name).
	// Nil writes none.
	AccessLog *slog.Logger

	// Metrics are the server's Prometheus metrics, served at GET /metrics;
	// New registers the log's counters and the HTTP request metrics on
	// them. Nil makes new ones (whose batch histograms then stay empty:
	// the log reports batches to the Metrics its Config.OnBatch names).
	Metrics *Metrics

	// Witnessed, when set (the log has a witness policy), returns the
	// latest checkpoint whose cosignatures meet the policy's quorum: its
	// size and note, ok false while there is none. GET /checkpoint then
	// serves it (with cosignatures), and tlog-proof files are made against
	// it, so that they verify under the policy.
	Witnessed func() (size uint64, note []byte, ok bool)

	// AddGate, when set, is asked before every POST /add; an error refuses
	// the entry with 503 (the log waits for its witnesses to confirm its
	// state on start, and must not sign before).
	AddGate func() error

	// Publishers is the publisher policy for model release attestations;
	// nil admits any publisher whose signature verifies (an open log).
	Publishers *attest.Policy

	// TrustedRoot validates the certificates of certificate-signed
	// attestations (a Sigstore trusted root; see attest.AdmitOptions).
	// Nil refuses them with 400, unless AcceptUnverifiedCertificates.
	// Server.SetTrustedRoot replaces it while serving.
	TrustedRoot root.TrustedMaterial
	// AcceptUnverifiedCertificates, without TrustedRoot, admits
	// certificate-signed attestations on the certificate's key alone,
	// without validating the certificate (the entry names no identity).
	AcceptUnverifiedCertificates bool
	// Now is the log's clock: the time a certificate without a timestamp
	// is checked at, and the one records' times are checked against
	// (time.Now when nil; tests set it).
	Now func() time.Time

	// MaxClockSkew bounds how far a record's time (decision, access,
	// evaluation) may be ahead of Now: further ahead is refused with 400
	// naming the bound; exactly at it is taken. 0 means
	// DefaultMaxClockSkew; negative turns the check off.
	MaxClockSkew time.Duration
	// MaxRecordAge, when positive, bounds how far a record's time may be
	// behind Now (older is refused with 400). 0 or negative: off.
	MaxRecordAge time.Duration

	// AttestationBodyLimit bounds POST /api/v1/attestations bodies (the
	// envelope is kept as a blob; the entry holds digests). Default 8 MiB.
	AttestationBodyLimit int

	// DecisionBodyLimit bounds an NDJSON batch of records of any kind
	// (decisions, access, evaluations).
	// Default 32 MiB (10,000 records of up to ~3 KiB).
	DecisionBodyLimit int

	// WitnessWait bounds how long a ?wait=witnessed submission waits for
	// a witnessed checkpoint covering its entries. Default 10s: a few
	// witnessing rounds.
	WitnessWait time.Duration

	// Writers, when set, are the only ones who may write: every write
	// (POST /add, attestations, decisions) needs a writer's bearer token
	// (401 otherwise) and stays within its scopes (403). Reads stay
	// public. Nil leaves writing open to anyone. Server.SetWriters
	// replaces them while serving.
	Writers *Writers

	// ClientCertWriters, when set (tlog serve --client-ca), also admits as
	// a writer any request over TLS with a verified client certificate
	// and no token: the writer is named by the certificate's subject
	// common name, within the scopes of the writers-file line of that name
	// if there is one, else unscoped. Writing then needs a certificate or
	// a token, even with no Writers.
	ClientCertWriters bool

	// AllowedHosts, when set, are the only Host header values served
	// (names, compared without port and case; or exact host:port); others
	// get 421. Empty serves any Host.
	AllowedHosts []string

	// RateLimit is the sustained requests per second allowed to each
	// writer (writes with a token) and to each client address (everything
	// else), as a token bucket of RateBurst; over it, 429 with
	// Retry-After. 0 turns rate limits off.
	RateLimit float64
	// RateBurst is the bucket size. Default 2×RateLimit (at least 1).
	RateBurst int

	// MaxRequests caps the requests being handled at once; beyond, 503
	// with Retry-After at once, before the body is read. Default 4096 (a
	// load tester with 3,000 concurrent writers fits; a raw entry is at most
	// 64 KiB, so they hold at most 256 MiB).
	MaxRequests int

	// SubmissionMemory is the memory that large submissions (attestation
	// and decision bodies, with what parsing them takes) may hold at
	// once: each reserves a multiple of its body's size before reading it
	// and waits up to 5 s for room, else 503. Default 256 MiB.
	SubmissionMemory int64
}

// Defaults of Config.
const (
	DefaultAttestationBodyLimit = 8 << 20
	DefaultDecisionBodyLimit    = 32 << 20
	DefaultWitnessWait          = 10 * time.Second
	DefaultMaxRequests          = 4096
	DefaultSubmissionMemory     = 256 << 20
	DefaultMaxClockSkew         = 24 * time.Hour
)

// Memory a submission reserves, as a multiple of its body: the body, the
// parsed records, their entries and the receipts (decisions); the decoded
// envelope, the statement parsed and re-encoded (attestations).
const (
	decisionMemoryFactor    = 4
	attestationMemoryFactor = 8
)

// Content types and cache policies of c2sp.org/tlog-tiles.
const (
	contentTypeText   = "text/plain; charset=utf-8"
	contentTypeBinary = "application/octet-stream"
	// Tiles and bundles never change: a partial tile's URL names its width,
	// and this log serves that prefix for as long as it runs.
	cacheImmutable = "public, max-age=31536000, immutable"
	// The checkpoint moves with every batch.
	cacheNone = "no-cache"
)

type server struct {
	cfg Config
	log *log.Log
	// writers and publishers are replaced whole on reload.
	writers    atomic.Pointer[Writers]
	publishers atomic.Pointer[attest.Policy]
	trust      atomic.Pointer[trustedRoot]
	inFlight   *semaphore.Weighted
	cop        *http.CrossOriginProtection
	limiter    *rateLimiter // nil: no rate limits
	subs       *submissions
	// Counters of the AI endpoints, for /metrics.
	releasesLogged, decisionsLogged, accessLogged, evaluationsLogged, rejected, unauthorized, rateLimitedN, busy atomic.Uint64

	metrics *Metrics // served at /metrics
}

// Server is the HTTP handler of tlog serve.
type Server struct {
	http.Handler
	s *server
}

// Metrics returns the server's metrics (Config.Metrics, or those New made).
func (srv *Server) Metrics() *Metrics { return srv.s.metrics }

// SetWriters replaces the writers (nil opens writing to anyone). Requests
// in flight finish under the writers they started with.
func (srv *Server) SetWriters(ws *Writers) { srv.s.writers.Store(ws) }

// SetPublishers replaces the publisher policy (nil: any publisher).
func (srv *Server) SetPublishers(p *attest.Policy) { srv.s.publishers.Store(p) }

// trustedRoot holds a root.TrustedMaterial for an atomic.Pointer.
type trustedRoot struct{ root.TrustedMaterial }

// SetTrustedRoot replaces the trusted root (nil: certificates refused,
// unless Config.AcceptUnverifiedCertificates). Requests in flight finish
// under the root they started with.
func (srv *Server) SetTrustedRoot(tm root.TrustedMaterial) {
	if tm == nil {
		srv.s.trust.Store(nil)
		return
	}
	srv.s.trust.Store(&trustedRoot{tm})
}

// New returns the HTTP handler of tlog serve.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.AttestationBodyLimit <= 0 {
		cfg.AttestationBodyLimit = DefaultAttestationBodyLimit
	}
	if cfg.DecisionBodyLimit <= 0 {
		cfg.DecisionBodyLimit = DefaultDecisionBodyLimit
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.WitnessWait <= 0 {
		cfg.WitnessWait = DefaultWitnessWait
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.SubmissionMemory <= 0 {
		cfg.SubmissionMemory = DefaultSubmissionMemory
	}
	for i, h := range cfg.AllowedHosts {
		cfg.AllowedHosts[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	s := &server{
		cfg:      cfg,
		log:      cfg.Log,
		inFlight: semaphore.NewWeighted(int64(cfg.MaxRequests)),
		subs:     &submissions{sem: semaphore.NewWeighted(cfg.SubmissionMemory), max: cfg.SubmissionMemory},
		cop:      http.NewCrossOriginProtection(),
	}
	s.writers.Store(cfg.Writers)
	s.publishers.Store(cfg.Publishers)
	if cfg.TrustedRoot != nil {
		s.trust.Store(&trustedRoot{cfg.TrustedRoot})
	}
	if cfg.RateLimit > 0 {
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = max(1, int(2*cfg.RateLimit))
		}
		s.limiter = newRateLimiter(cfg.RateLimit, burst)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
		s.cfg.Metrics = cfg.Metrics
	}
	s.metrics = cfg.Metrics
	s.metrics.reg.MustRegister(newStatsCollector(s))
	// First: the request id, then the count, time and access line of
	// every request, whatever the guard or the handler answers.
	e.Use(telemetry.NewHTTP(s.metrics.reg, "tlog").Middleware(telemetry.Options{AccessLog: cfg.AccessLog, Writer: writerName}))
	e.Use(s.guard)

	// Every read answers HEAD too (net/http sends no body for it).
	get := func(path string, h echo.HandlerFunc) { e.Match([]string{http.MethodGet, http.MethodHead}, path, h) }
	get("/checkpoint", s.checkpoint)
	get("/tile/*", s.tile)
	e.POST("/add", s.add)
	get("/healthz", s.healthz)
	get("/readyz", s.readyz)
	get("/metrics", echo.WrapHandler(telemetry.MetricsHandler(s.metrics.reg)))

	get("/api/v1/proofs/inclusion", s.inclusion)
	get("/api/v1/proofs/consistency", s.consistency)
	get("/api/v1/entries/:index", s.entry)
	get("/api/v1/entries/:index/tlog-proof", s.tlogProof)
	e.POST("/api/v1/attestations", s.attestation)
	e.POST("/api/v1/decisions", s.records(decisionRecords))
	e.POST("/api/v1/access", s.records(accessRecords))
	e.POST("/api/v1/evaluations", s.records(evaluationRecords))
	get("/api/v1/blobs/:digest", s.blob)
	get("/api/v1/search", s.search)
	get("/api/v1/openapi.json", s.openAPI)

	// The log explorer (package explorer): a web page for people, not API.
	ex := echo.WrapHandler(explorer.New(explorer.Config{Origin: cfg.Log.Origin(), LogKey: cfg.Log.VerifierKey(), WitnessPolicy: cfg.Witnessed != nil}))
	get("/", ex)
	get("/explorer/*", ex)
	return &Server{Handler: e, s: s}
}

// GET /checkpoint: the latest signed checkpoint.
func (s *server) checkpoint(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, cacheNone)
	if s.cfg.Witnessed != nil {
		if _, note, ok := s.cfg.Witnessed(); ok {
			return c.Blob(http.StatusOK, contentTypeText, note)
		}
		// No quorum yet (a new log): the log's own checkpoint, which
		// policy clients will reject until witnesses cosign one.
	}
	return c.Blob(http.StatusOK, contentTypeText, s.log.Checkpoint())
}

// GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>].
func (s *server) tile(c echo.Context) error {
	// The path as sent: URL.Path is percent-decoded (issue 9).
	t, entries, err := proofs.ParseTileURL(c.Request().URL)
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
	h.Set(echo.HeaderCacheControl, cacheImmutable)
	if entries {
		// Entry bundles are compressed for clients that accept gzip, as
		// tlog-tiles recommends; hash tiles are random bytes and are not.
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if len(b) >= 1024 && acceptsGzip(c.Request()) {
			var z bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
			zw.Write(b)
			zw.Close()
			h.Set(echo.HeaderContentEncoding, "gzip")
			b = z.Bytes()
		}
	}
	return c.Blob(http.StatusOK, contentTypeBinary, b)
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAcceptEncoding), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
			if !ok {
				return true
			}
			w, err := strconv.ParseFloat(q, 64)
			return err == nil && w > 0
		}
	}
	return false
}

// POST /add: the body is the entry; the answer, once the entry is durably
// logged, is its index in decimal on the first line.
func (s *server) add(c echo.Context) error {
	if s.cfg.AddGate != nil {
		if err := s.cfg.AddGate(); err != nil {
			return err
		}
	}
	entry, err := readBody(c.Request(), log.MaxEntrySize)
	if err != nil {
		return err
	}
	// An entry in the form of an AI entry must come through its endpoint,
	// which verifies it and indexes it; taken here, it would stand in the
	// log unverified and, deduplicated, keep the real one from ever being
	// indexed.
	if attest.ClaimsKind(entry) {
		return badRequest(`this entry has the form of an AI entry ("kind" model-release/…, decision/…, access/… or evaluation/…): submit releases to /api/v1/attestations and records to /api/v1/decisions, /api/v1/access or /api/v1/evaluations`)
	}
	// The wait ends with the commit, with ErrTimeout if the batch stalls
	// beyond the log's CommitTimeout, or when the client goes away.
	res, err := s.log.Add(entry).Wait(c.Request().Context())
	if err != nil {
		return err
	}
	body := strconv.AppendUint(make([]byte, 0, 21), res.Index, 10)
	return c.Blob(http.StatusOK, contentTypeText, append(body, '\n'))
}

// GET /healthz: liveness. 200 while the process serves and a restart
// would not help; 503 with the reason after a storage failure (a restart,
// which re-verifies the store, is the remedy) or while the log shuts down.
// A log halted by a safety check (a witness reported a fork) stays alive:
// 200, saying that it takes no writes. Restarting it would stop it serving
// reads and evidence, and hand the decision to sign again to the start-up
// check instead of to the operator the halt calls for. /readyz says
// whether it takes writes.
func (s *server) healthz(c echo.Context) error {
	err := s.log.Healthy()
	switch {
	case errors.Is(err, log.ErrHalted):
		_, reason := status(err)
		return c.String(http.StatusOK, "alive, but not taking writes: "+reason+" (see /readyz)\n")
	case err != nil:
		return &probeError{err}
	}
	return c.String(http.StatusOK, "ok\n")
}

// GET /readyz: readiness. 200 while the log takes writes; 503 with a
// one-line reason while it waits for its witnesses' start-up check, once
// signing halted (a witness reported a fork) or the store failed, and while
// it shuts down.
func (s *server) readyz(c echo.Context) error {
	if err := s.ready(); err != nil {
		return &probeError{err}
	}
	return c.String(http.StatusOK, "ready\n")
}

// ready returns nil while the log takes writes, else why not.
func (s *server) ready() error {
	if err := s.log.Healthy(); err != nil {
		return err
	}
	if s.cfg.AddGate != nil {
		return s.cfg.AddGate()
	}
	return nil
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
			return nil, errBadBody
		}
	} else if b, err = io.ReadAll(io.LimitReader(r.Body, int64(max)+1)); err != nil {
		return nil, errBadBody
	}
	if len(b) > max {
		return nil, errBodyTooLarge(max)
	}
	if len(b) == 0 {
		return nil, errEmptyBody
	}
	return b, nil
}
