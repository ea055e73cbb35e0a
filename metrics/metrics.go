// The registry and its collectors.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"bastion/audit"
)

// Metrics is the bastion's registry. The zero value is not usable; use New.
type Metrics struct {
	reg *prometheus.Registry

	targets atomic.Pointer[map[string]bool] // label values allowed for target

	logins        *prometheus.CounterVec
	enrollments   *prometheus.CounterVec
	lockouts      prometheus.Counter
	conns         *prometheus.GaugeVec
	refusals      *prometheus.CounterVec
	jumps         *prometheus.CounterVec
	sessions      *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	dialSeconds   *prometheus.HistogramVec
	loginSeconds  prometheus.Histogram
	auditFailures prometheus.Counter
	querySeconds  *prometheus.HistogramVec
}

// Label values of bastion_connections_open{state}.
const (
	stateUnauth = "unauthenticated"
	stateAuth   = "authenticated"
)

// New registers every collector, the Go runtime and process collectors and
// bastion_build_info{version,commit}.
func New(version, commit string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.SetTargets(nil)
	f := factory{m.reg}
	m.logins = f.counterVec("bastion_logins_total",
		"Completed login attempts by result, and by the factor that failed (none on success).", "result", "failed_factor")
	m.enrollments = f.counterVec("bastion_enrollments_total",
		"First-login enrollment outcomes: confirmed, refused, abandoned, wrong_code (one per wrong confirmation code).", "outcome")
	m.lockouts = f.counter("bastion_lockouts_total", "Accounts locked after too many failed logins.")
	m.conns = f.gaugeVec("bastion_connections_open", "Open SSH connections, by whether they finished authentication.", "state")
	m.refusals = f.counterVec("bastion_admission_refusals_total",
		"Connections refused before authentication: penalised, source_full, startups_full, proxy_header, other.", "reason")
	m.jumps = f.counterVec("bastion_jumps_total",
		"Jump requests by target and result: ok, refused, dial_failed, audit_failed.", "target", "result")
	m.sessions = f.counterVec("bastion_sessions_total",
		"Recorded session requests (ssh -t USER@bastion target) by target and result: ok, refused, failed.", "target", "result")
	m.bytes = f.counterVec("bastion_jump_bytes_total",
		"Bytes carried by closed jumps, by direction: up (client to target) or down.", "direction")
	m.dialSeconds = f.histogramVec("bastion_backend_dial_duration_seconds", "Time to connect to a target, successful or not.",
		prometheus.ExponentialBuckets(0.0005, 4, 9), "target")
	m.loginSeconds = f.histogram("bastion_login_duration_seconds",
		"Time from accepting a connection to the end of its successful authentication (includes typing).",
		[]float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120})
	m.auditFailures = f.counter("bastion_audit_write_failures_total", "Audit events that could not be written.")
	m.querySeconds = f.histogramVec("bastion_store_query_duration_seconds", "State store query latency on the login path, by operation.",
		prometheus.ExponentialBuckets(0.0001, 4, 9), "op")
	for _, s := range []string{stateUnauth, stateAuth} {
		m.conns.WithLabelValues(s)
	}
	build := f.gaugeVec("bastion_build_info", "Always 1; the labels say which build runs.", "version", "commit")
	build.WithLabelValues(version, commit).Set(1)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetTargets sets the target names that may appear as label values (the
// configured targets); call it again on reload.
func (m *Metrics) SetTargets(names []string) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	m.targets.Store(&set)
}

// target maps a name to a bounded label value.
func (m *Metrics) target(name string) string {
	if (*m.targets.Load())[name] {
		return name
	}
	return "other"
}

// WatchJumps registers bastion_jumps_open, read from open() at scrape time.
func (m *Metrics) WatchJumps(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bastion_jumps_open", Help: "Jumps open now (including those still dialing their target).",
	}, func() float64 { return float64(open()) }))
}

// ObserveQuery records one store query's latency under op (a fixed word).
func (m *Metrics) ObserveQuery(op string, took time.Duration) {
	m.querySeconds.WithLabelValues(op).Observe(took.Seconds())
}

// Handler serves /metrics, and /healthz with the given checks.
func (m *Metrics) Handler(checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.Handle("GET /healthz", healthHandler(checks))
	return mux
}

// factory registers what it makes.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// WatchAudit registers the audit log's own counters, read from stats() at
// scrape time: records and bytes written, sealed tails, pruned files, free
// space and the low-disk warning.
func (m *Metrics) WatchAudit(stats func() audit.Stats) {
	counter := func(name, help string, v func(audit.Stats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) }))
	}
	gauge := func(name, help string, v func(audit.Stats) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return v(stats()) }))
	}
	counter("bastion_audit_records_total", "Audit records written by this process.", func(s audit.Stats) uint64 { return s.Appends })
	counter("bastion_audit_written_bytes_total", "Bytes of audit records written by this process.", func(s audit.Stats) uint64 { return s.Bytes })
	counter("bastion_audit_sealed_total", "Damaged audit log tails sealed with audit.recovered.", func(s audit.Stats) uint64 { return s.Sealed })
	counter("bastion_audit_pruned_total", "Rotated audit files deleted by retention.", func(s audit.Stats) uint64 { return s.Pruned })
	gauge("bastion_audit_free_bytes", "Free bytes on the audit log's file system at the last append.",
		func(s audit.Stats) float64 { return float64(s.FreeBytes) })
	gauge("bastion_audit_low_disk", "1 while the audit log's file system has less free space than audit_disk_warn.",
		func(s audit.Stats) float64 {
			if s.LowDisk {
				return 1
			}
			return 0
		})
}

// WatchSyslog registers bastion_audit_syslog_dropped_total, read from dropped().
func (m *Metrics) WatchSyslog(dropped func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bastion_audit_syslog_dropped_total",
		Help: "Audit event copies not delivered to syslog (the audit file has them)."},
		func() float64 { return float64(dropped()) }))
}
