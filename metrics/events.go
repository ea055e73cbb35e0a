// Counters derived from audit events, and the gateway's hooks.
package metrics

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bastion/audit"
	"bastion/limits"
)

// Appender is the audit log as the gateway sees it.
type Appender interface {
	Append(audit.Event) error
}

// Auditor appends to the wrapped log and counts what each event says.
type Auditor struct {
	next    Appender
	m       *Metrics
	failing atomic.Bool // the last append failed
}

// NewAuditor wraps next.
func NewAuditor(next Appender, m *Metrics) *Auditor { return &Auditor{next: next, m: m} }

// Append writes e, then counts it (also when the write failed).
func (a *Auditor) Append(e audit.Event) error {
	err := a.next.Append(e)
	a.failing.Store(err != nil)
	a.m.Observe(e, err)
	return err
}

// Failing reports whether the last append failed.
func (a *Auditor) Failing() bool { return a.failing.Load() }

// Observe counts one audit event; err is the result of writing it.
func (m *Metrics) Observe(e audit.Event, err error) {
	if err != nil {
		m.auditFailures.Inc()
	}
	switch e.Type {
	case "login.success":
		m.logins.WithLabelValues("success", "none").Inc()
	case "login.failure":
		m.logins.WithLabelValues("failure", failedFactor(e.Fields["reason"])).Inc()
	case "conn.denied":
		// A login that never got past the key; later failures were counted as login.failure.
		if strings.HasPrefix(e.Fields["reason"], "publickey ") {
			m.logins.WithLabelValues("failure", "publickey").Inc()
		}
	case "lockout":
		m.lockouts.Inc()
	case "enroll.confirmed", "enroll.refused", "enroll.abandoned":
		m.enrollments.WithLabelValues(strings.TrimPrefix(e.Type, "enroll.")).Inc()
	case "enroll.failed":
		m.enrollments.WithLabelValues("wrong_code").Inc()
	case "jump.open":
		result := "ok"
		if err != nil {
			result = "audit_failed"
		}
		m.jumps.WithLabelValues(m.target(e.Target), result).Inc()
	case "jump.refused":
		m.jumps.WithLabelValues(m.target(e.Target), "refused").Inc()
	case "jump.failed":
		m.jumps.WithLabelValues(m.target(e.Target), "dial_failed").Inc()
	case "session.open":
		m.sessions.WithLabelValues(m.target(e.Target), "ok").Inc()
	case "session.refused":
		m.sessions.WithLabelValues(m.target(e.Target), "refused").Inc()
	case "session.failed":
		m.sessions.WithLabelValues(m.target(e.Target), "failed").Inc()
	case "jump.close":
		for _, dir := range []string{"up", "down"} {
			if n := e.Num["bytes_"+dir]; n > 0 {
				m.bytes.WithLabelValues(dir).Add(float64(n))
			}
		}
	}
}

// failedFactor names the factor a kbdint login.failure reason points at.
func failedFactor(reason string) string {
	switch {
	case reason == "locked":
		return "locked"
	case strings.HasPrefix(reason, "wrong password"):
		return "password"
	}
	return "code" // the password was right: the code (OTP or recovery) failed
}

// ConnOpened counts a new connection as unauthenticated. Call authenticated
// once the auth chain passed (it records the login duration) and closed
// when the connection ends.
func (m *Metrics) ConnOpened() (authenticated, closed func()) {
	start := time.Now()
	var mu sync.Mutex
	state := stateUnauth
	m.conns.WithLabelValues(state).Inc()
	authenticated = func() {
		mu.Lock()
		defer mu.Unlock()
		if state == stateUnauth {
			m.conns.WithLabelValues(stateUnauth).Dec()
			m.conns.WithLabelValues(stateAuth).Inc()
			state = stateAuth
			m.loginSeconds.Observe(time.Since(start).Seconds())
		}
	}
	closed = func() {
		mu.Lock()
		defer mu.Unlock()
		if state != "" {
			m.conns.WithLabelValues(state).Dec()
			state = ""
		}
	}
	return authenticated, closed
}

// Refused counts a connection refused before authentication.
func (m *Metrics) Refused(err error) {
	reason := "other"
	switch {
	case errors.Is(err, limits.ErrPenalised):
		reason = "penalised"
	case errors.Is(err, limits.ErrSourceFull):
		reason = "source_full"
	case errors.Is(err, limits.ErrStartupsFull):
		reason = "startups_full"
	case errors.Is(err, limits.ErrProxyHeader):
		reason = "proxy_header"
	}
	m.refusals.WithLabelValues(reason).Inc()
}

// Dialing starts timing a dial to target; done records it.
func (m *Metrics) Dialing(target string) (done func(error)) {
	start := time.Now()
	return func(error) {
		m.dialSeconds.WithLabelValues(m.target(target)).Observe(time.Since(start).Seconds())
	}
}
