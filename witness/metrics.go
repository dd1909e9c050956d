package witness

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/telemetry"
)

// NewRegistry returns a Prometheus registry (never the global default)
// with the witness's metrics, read at each scrape —
//
//	witness_forks_total         counter: fork evidence records kept
//	witness_bad_proofs_total    counter: add-checkpoint requests with a log-signed checkpoint and a failing proof
//	witness_rate_limited_total  counter: add-checkpoint requests answered 429
//	witness_logs                gauge: logs followed
//
// — and witness_build_info with the Go (go_*) and process (process_*)
// collectors. NewHandler adds the HTTP request metrics to it.
func (w *Witness) NewRegistry() *prometheus.Registry {
	reg := telemetry.NewRegistry("witness")
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "witness_forks_total", Help: "Fork evidence records kept."},
			func() float64 { return float64(w.ForkCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "witness_bad_proofs_total", Help: "add-checkpoint requests with a log-signed checkpoint and a proof that fails (anyone can send one: not evidence)."},
			func() float64 { return float64(w.BadProofCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "witness_rate_limited_total", Help: "add-checkpoint requests answered 429."},
			func() float64 { return float64(w.RateLimitedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "witness_logs", Help: "Logs followed."},
			func() float64 { return float64(len(w.Logs())) }),
	)
	return reg
}
