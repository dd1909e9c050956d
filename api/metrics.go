package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/telemetry"
	"github.com/tlogai/tlog/log"
)

// Metrics are the Prometheus metrics of one tlog server, on a registry of
// their own (never the global default): the Go, process and
// tlog_build_info collectors, the batch histograms fed by ObserveBatch,
// and, once New has been given them, the log's counters and the HTTP
// request metrics. A witness collector registers its metrics on
// Registry too (witness.CollectorConfig.Registerer).
//
// Make them before the log, so that the log's Config.OnBatch can be
// ObserveBatch; a Metrics serves one Server.
type Metrics struct {
	reg          *prometheus.Registry
	batchSeconds prometheus.Histogram
	batchEntries prometheus.Histogram
}

// NewMetrics returns the metrics of a new server.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: telemetry.NewRegistry("tlog"),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tlog_batch_commit_seconds",
			Help: "Time from the start of a committed batch's integration (dedup lookups, hashing, signing) to the publication of its checkpoint after the fsync.",
			// 0.5 ms to 8 s.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tlog_batch_entries",
			Help: "Adds answered by each committed batch, duplicates included.",
			// 1 to 65536.
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
	}
	m.reg.MustRegister(m.batchSeconds, m.batchEntries)
	return m
}

// Registry is where the metrics are registered: GET /metrics serves it, and
// so may a debug listener.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveBatch records a committed batch; it is log.Config.OnBatch.
func (m *Metrics) ObserveBatch(b log.BatchInfo) {
	m.batchSeconds.Observe(b.Duration.Seconds())
	m.batchEntries.Observe(float64(b.Entries))
}

// statsCollector reads the log's and the server's counters at each
// scrape, from one Stats snapshot.
type statsCollector struct {
	s     *server
	descs map[string]*prometheus.Desc
	order []string
}

// serverMetrics are the metrics statsCollector exports: name, type, help.
var serverMetrics = []struct {
	name  string
	gauge bool
	help  string
}{
	{"tlog_tree_size", true, "Size of the published tree."},
	{"tlog_entries_total", false, "New entries logged since start."},
	{"tlog_duplicates_total", false, "Adds answered with an existing index since start."},
	{"tlog_batches_total", false, "Batches committed since start."},
	{"tlog_failed_batches_total", false, "Batches refused before their commit since start."},
	{"tlog_pushback_total", false, "Adds refused with 503 because the pool was full."},
	{"tlog_pending_entries", true, "Entries waiting for a batch."},
	{"tlog_releases_logged_total", false, "New model release attestations logged since start."},
	{"tlog_decisions_logged_total", false, "New decision records logged since start."},
	{"tlog_access_logged_total", false, "New access records logged since start."},
	{"tlog_evaluations_logged_total", false, "New evaluation records logged since start."},
	{"tlog_submissions_rejected_total", false, "Attestation and record (decision, access, evaluation) submissions refused with a 4xx since start."},
	{"tlog_unauthorized_total", false, "Writes refused with 401 (no or unknown writer token) since start."},
	{"tlog_rate_limited_total", false, "Requests refused with 429 (rate limit) since start."},
	{"tlog_busy_total", false, "Requests refused with 503 because too many requests or large submissions were in flight, since start."},
	{"tlog_checkpoint_age_seconds", true, "Seconds since this process published its latest checkpoint (at start for the stored one); a checkpoint is signed only for a batch with new entries, so it grows on an idle log."},
	{"tlog_ready", true, "1 while the log takes writes (GET /readyz answers 200), else 0."},
	{"tlog_witnessed_tree_size", true, "Size of the latest checkpoint meeting the witness quorum."},
}

func newStatsCollector(s *server) *statsCollector {
	c := &statsCollector{s: s, descs: map[string]*prometheus.Desc{}}
	for _, m := range serverMetrics {
		if m.name == "tlog_witnessed_tree_size" && s.cfg.Witnessed == nil {
			continue // only for a log with a witness policy
		}
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
		c.order = append(c.order, m.name)
	}
	return c
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, name := range c.order {
		ch <- c.descs[name]
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.log.Stats()
	ready := 0.0
	if s.ready() == nil {
		ready = 1
	}
	values := map[string]float64{
		"tlog_tree_size":                  float64(st.Size),
		"tlog_entries_total":              float64(st.Entries),
		"tlog_duplicates_total":           float64(st.Duplicates),
		"tlog_batches_total":              float64(st.Batches),
		"tlog_failed_batches_total":       float64(st.FailedBatches),
		"tlog_pushback_total":             float64(st.Pushback),
		"tlog_pending_entries":            float64(st.Pending),
		"tlog_releases_logged_total":      float64(s.releasesLogged.Load()),
		"tlog_decisions_logged_total":     float64(s.decisionsLogged.Load()),
		"tlog_access_logged_total":        float64(s.accessLogged.Load()),
		"tlog_evaluations_logged_total":   float64(s.evaluationsLogged.Load()),
		"tlog_submissions_rejected_total": float64(s.rejected.Load()),
		"tlog_unauthorized_total":         float64(s.unauthorized.Load()),
		"tlog_rate_limited_total":         float64(s.rateLimitedN.Load()),
		"tlog_busy_total":                 float64(s.busy.Load()),
		"tlog_checkpoint_age_seconds":     max(0, s.now().Sub(st.PublishedAt).Seconds()),
		"tlog_ready":                      ready,
	}
	if s.cfg.Witnessed != nil {
		size, _, _ := s.cfg.Witnessed()
		values["tlog_witnessed_tree_size"] = float64(size)
	}
	for _, m := range serverMetrics {
		d, ok := c.descs[m.name]
		if !ok {
			continue
		}
		kind := prometheus.CounterValue
		if m.gauge {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(d, kind, values[m.name])
	}
}
