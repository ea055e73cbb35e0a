// Tests for the event-to-counter mapping, label bounds and /healthz.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"bastion/audit"
	"bastion/limits"
)

func TestObserve(t *testing.T) {
	m := New("v", "c")
	m.SetTargets([]string{"pve1"})
	ev := func(typ, target string, f map[string]string) audit.Event {
		return audit.Event{Type: typ, User: "mallory\x00", Source: "203.0.113.9:4711", Target: target, Fields: f}
	}
	for _, e := range []audit.Event{
		ev("login.success", "", nil),
		ev("login.failure", "", map[string]string{"reason": "wrong password"}),
		ev("login.failure", "", map[string]string{"reason": "wrong password, then left"}),
		ev("login.failure", "", map[string]string{"reason": "locked"}),
		ev("login.failure", "", map[string]string{"reason": "invalid code"}),
		ev("conn.denied", "", map[string]string{"reason": "publickey SHA256:x: unknown user or key"}),
		ev("conn.denied", "", map[string]string{"reason": "permission denied: wrong password"}),
		ev("lockout", "", nil),
		ev("enroll.confirmed", "", nil),
		ev("enroll.failed", "", nil),
		ev("jump.open", "pve1", nil),
		ev("jump.refused", "evil.example.org", nil),
		ev("jump.failed", "pve1", nil),
		{Type: "jump.close", Target: "pve1", Num: map[string]int64{"bytes_up": 10, "bytes_down": 32}},
		{Type: "jump.close", Target: "pve1", Num: map[string]int64{"bytes_up": -1}},
		ev("session.open", "pve1", nil),
		ev("session.refused", "nope", nil),
	} {
		m.Observe(e, nil)
	}
	m.Observe(ev("jump.open", "pve1", nil), errors.New("disk full"))
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.logins.WithLabelValues("success", "none")), 1, "success"},
		{testutil.ToFloat64(m.logins.WithLabelValues("failure", "password")), 2, "password"},
		{testutil.ToFloat64(m.logins.WithLabelValues("failure", "locked")), 1, "locked"},
		{testutil.ToFloat64(m.logins.WithLabelValues("failure", "code")), 1, "code"},
		{testutil.ToFloat64(m.logins.WithLabelValues("failure", "publickey")), 1, "publickey"},
		{testutil.ToFloat64(m.lockouts), 1, "lockouts"},
		{testutil.ToFloat64(m.enrollments.WithLabelValues("confirmed")), 1, "confirmed"},
		{testutil.ToFloat64(m.enrollments.WithLabelValues("wrong_code")), 1, "wrong_code"},
		{testutil.ToFloat64(m.jumps.WithLabelValues("pve1", "ok")), 1, "jump ok"},
		{testutil.ToFloat64(m.jumps.WithLabelValues("pve1", "audit_failed")), 1, "jump audit_failed"},
		{testutil.ToFloat64(m.jumps.WithLabelValues("other", "refused")), 1, "refused, unknown target"},
		{testutil.ToFloat64(m.jumps.WithLabelValues("pve1", "dial_failed")), 1, "dial_failed"},
		{testutil.ToFloat64(m.bytes.WithLabelValues("up")), 10, "bytes up"},
		{testutil.ToFloat64(m.bytes.WithLabelValues("down")), 32, "bytes down"},
		{testutil.ToFloat64(m.auditFailures), 1, "audit failures"},
		{testutil.ToFloat64(m.sessions.WithLabelValues("pve1", "ok")), 1, "session ok"},
		{testutil.ToFloat64(m.sessions.WithLabelValues("other", "refused")), 1, "session refused, unknown target"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	body := scrapeBody(t, m)
	for _, bad := range []string{"mallory", "203.0.113.9", "evil", "nope"} {
		if strings.Contains(body, bad) {
			t.Errorf("outside string %q in the exposition", bad)
		}
	}
}

func scrapeBody(t *testing.T, m *Metrics, checks ...Check) string {
	rec := httptest.NewRecorder()
	m.Handler(checks...).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestConnAndRefusals(t *testing.T) {
	m := New("v", "c")
	auth1, close1 := m.ConnOpened()
	_, close2 := m.ConnOpened()
	if g := testutil.ToFloat64(m.conns.WithLabelValues(stateUnauth)); g != 2 {
		t.Fatalf("unauthenticated = %v", g)
	}
	auth1()
	auth1() // idempotent
	close1()
	close1()
	close2()
	for _, s := range []string{stateUnauth, stateAuth} {
		if g := testutil.ToFloat64(m.conns.WithLabelValues(s)); g != 0 {
			t.Errorf("%s = %v after all closed", s, g)
		}
	}
	if n := testutil.CollectAndCount(m.loginSeconds); n != 1 {
		t.Errorf("login duration series = %d", n)
	}
	for err, reason := range map[error]string{
		limits.ErrPenalised: "penalised", limits.ErrSourceFull: "source_full", limits.ErrStartupsFull: "startups_full",
		fmt.Errorf("x: %w", limits.ErrProxyHeader): "proxy_header", errors.New("?"): "other",
	} {
		m.Refused(err)
		if v := testutil.ToFloat64(m.refusals.WithLabelValues(reason)); v != 1 {
			t.Errorf("refusal %s = %v", reason, v)
		}
	}
}

type failingLog struct{ err error }

func (f *failingLog) Append(audit.Event) error { return f.err }

func TestHealthz(t *testing.T) {
	m := New("v", "c")
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	next := &failingLog{}
	a := NewAuditor(next, m)
	storeErr := error(nil)
	h := m.Handler(AuditWritable(path, a), Check{Name: "store", Fn: func(context.Context) error { return storeErr }})
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("no log yet, writable dir: %d %s", code, body)
	}
	os.WriteFile(path, nil, 0o600)
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("writable log: %d %s", code, body)
	}
	next.err = errors.New("disk full")
	a.Append(audit.Event{Type: "x"})
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit: fail") {
		t.Fatalf("after a failed append: %d %s", code, body)
	}
	next.err = nil
	a.Append(audit.Event{Type: "x"})
	storeErr = errors.New("database is locked")
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "store: fail") || !strings.Contains(body, "audit: ok") {
		t.Fatalf("store down: %d %s", code, body)
	}
	storeErr = nil
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("log path is a directory: %d", code)
	}
}
