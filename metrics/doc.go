// Package metrics owns bastion's Prometheus registry: the typed collectors
// (logins, enrollments, lockouts, connections, admission, jumps, bytes,
// latencies, audit failures), the /metrics and /healthz endpoints, and the
// mapping from audit events to counters.
//
// Most counters are derived from the audit event stream (Auditor wraps the
// audit log), so every counted outcome is also an audited one and the
// gateway carries only a few hooks for what the log does not say (open
// connections, admission refusals, dial and login latency).
//
// It must never use a user name, a client address or any other outside
// string as a label value: labels are fixed words or target names from the
// config (anything else is counted as "other").
package metrics
