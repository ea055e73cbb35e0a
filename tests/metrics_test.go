// Issue 11: /metrics counts exactly what happened; /healthz tells a load balancer the truth.
package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsWorld is a bastion with [metrics] on a free loopback port.
func metricsWorld(t *testing.T) (*world, string) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w := newWorld(t, worldOpts{extraConfig: fmt.Sprintf("\n[metrics]\nlisten = %q\n", addr)})
	w.start()
	return w, "http://" + addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape parses /metrics with expfmt and returns every bastion_ series:
// counters and gauges by value, histograms by their _count.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "bastion_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	var l []string
	for _, p := range m.GetLabel() {
		l = append(l, p.GetName()+"="+p.GetValue())
	}
	slices.Sort(l)
	return "{" + strings.Join(l, ",") + "}"
}

// checkMoved asserts every bastion_ series moved by exactly want (others by
// zero), except latencies and audit byte counts, which vary.
func checkMoved(t *testing.T, what string, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for k := range keys {
		if strings.HasPrefix(k, "bastion_store_query_duration_seconds") || strings.HasPrefix(k, "bastion_build_info") ||
			strings.HasPrefix(k, "bastion_audit_written_bytes_total") || strings.HasPrefix(k, "bastion_audit_free_bytes") {
			continue
		}
		if d := after[k] - before[k]; d != want[k] {
			t.Errorf("%s: %s moved by %v, want %v", what, k, d, want[k])
		}
	}
}

// settled scrapes until no connection or jump is open (the client has gone).
func settled(t *testing.T, base string) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := scrape(t, base)
		if s["bastion_connections_open{state=authenticated}"] == 0 && s["bastion_connections_open{state=unauthenticated}"] == 0 &&
			s["bastion_jumps_open{}"] == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections still open: %v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsCountWhatHappened(t *testing.T) {
	w, base := metricsWorld(t)
	alice := w.newClient("alice")
	alice.add("--group", "ops")
	alice.importTOTP()
	s0 := settled(t, base)
	n0 := len(w.auditRecords())

	alice.answerGood()
	if out, err := alice.jump("pve1", "echo metrics-ok"); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	s1 := settled(t, base)
	n1 := len(w.auditRecords())
	var up, down float64
	for _, r := range w.auditRecords("--type", "jump.close") {
		u, _ := strconv.ParseFloat(r.Fields["bytes_up"], 64)
		d, _ := strconv.ParseFloat(r.Fields["bytes_down"], 64)
		up, down = up+u, down+d
	}
	if up == 0 || down == 0 {
		t.Fatalf("no bytes in the jump.close record")
	}
	checkMoved(t, "successful login", s0, s1, map[string]float64{
		"bastion_logins_total{failed_factor=none,result=success}":  1,
		"bastion_jumps_total{result=ok,target=pve1}":               1,
		"bastion_jump_bytes_total{direction=up}":                   up,
		"bastion_jump_bytes_total{direction=down}":                 down,
		"bastion_login_duration_seconds_count{}":                   1,
		"bastion_backend_dial_duration_seconds_count{target=pve1}": 1,
		"bastion_audit_records_total{}":                            float64(n1 - n0),
	})
	if s1["bastion_store_query_duration_seconds_count{op=consume_otp}"] != s0["bastion_store_query_duration_seconds_count{op=consume_otp}"]+1 {
		t.Errorf("store latency of consume_otp not observed")
	}

	alice.answer(alice.password, "000000")
	if out, err := alice.jump("pve1", "true"); err == nil {
		t.Fatalf("wrong code accepted:\n%s", out)
	}
	s2 := settled(t, base)
	n2 := len(w.auditRecords())
	checkMoved(t, "wrong code", s1, s2, map[string]float64{
		"bastion_logins_total{failed_factor=code,result=failure}": 1,
		"bastion_audit_records_total{}":                           float64(n2 - n1),
	})

	alice.answerGood()
	if out, err := alice.jump("db", "true"); err == nil {
		t.Fatalf("jump to a target of another group succeeded:\n%s", out)
	}
	s3 := settled(t, base)
	n3 := len(w.auditRecords())
	checkMoved(t, "refused jump", s2, s3, map[string]float64{
		"bastion_logins_total{failed_factor=none,result=success}": 1,
		"bastion_login_duration_seconds_count{}":                  1,
		"bastion_jumps_total{result=refused,target=db}":           1,
		"bastion_audit_records_total{}":                           float64(n3 - n2),
	})

	// Three wrong passwords in a row lock her (lockout_after = 3; the success reset the count).
	for range 3 {
		alice.answer("wrong-password", alice.nextCode())
		if out, err := alice.jump("pve1", "true"); err == nil {
			t.Fatalf("wrong password accepted:\n%s", out)
		}
	}
	alice.answerGood()
	if out, err := alice.jump("pve1", "true"); err == nil {
		t.Fatalf("locked user got in:\n%s", out)
	}
	s4 := settled(t, base)
	n4 := len(w.auditRecords())
	checkMoved(t, "lockout", s3, s4, map[string]float64{
		"bastion_logins_total{failed_factor=password,result=failure}": 3,
		"bastion_logins_total{failed_factor=locked,result=failure}":   1,
		"bastion_lockouts_total{}":                                    1,
		"bastion_audit_records_total{}":                               float64(n4 - n3),
	})
	for k := range s4 {
		if strings.Contains(k, "alice") || strings.Contains(k, "127.0.0.1") {
			t.Errorf("a user name or address as a label value: %s", k)
		}
	}
}

func TestHealthzFollowsAuditLog(t *testing.T) {
	w, base := metricsWorld(t)
	c := w.newClient("hal")
	c.add("--group", "ops")
	c.importTOTP()
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz on a healthy bastion: %d\n%s", code, body)
	}
	// The audit log becomes unwritable: its path is now a directory (root
	// ignores permission bits, so a mode change would not do).
	log := filepath.Join(w.dir, "state", "audit.log")
	if err := os.Rename(log, log+".moved"); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(log, 0o700)
	code, body := httpGet(t, base+"/healthz")
	if code != 503 || !strings.Contains(body, "audit: fail") || !strings.Contains(body, "store: ok") {
		t.Fatalf("/healthz with an unwritable audit log: %d\n%s", code, body)
	}
	// A login now fails closed and is counted as an audit write failure.
	before := scrape(t, base)
	c.answerGood()
	if out, err := c.jump("pve1", "true"); err == nil {
		t.Fatalf("login with an unwritable audit log:\n%s", out)
	}
	if after := scrape(t, base); after["bastion_audit_write_failures_total{}"] <= before["bastion_audit_write_failures_total{}"] {
		t.Errorf("audit write failures not counted")
	}
	os.Remove(log)
	os.Rename(log+".moved", log)
	if code, body := httpGet(t, base+"/healthz"); code != 503 {
		t.Errorf("/healthz after failed appends, before one succeeded: %d\n%s", code, body)
	}
	w.stop()
	w.start()
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz after restoring the log: %d\n%s", code, body)
	}
}

func TestHealthzDuringDrain(t *testing.T) {
	w, base := metricsWorld(t)
	dora := w.newClient("dora")
	dora.add("--group", "ops")
	dora.importTOTP()
	dora.answerGood()
	done := make(chan struct{})
	go func() {
		defer close(done)
		dora.jump("pve1", "sleep 60")
	}()
	deadline := time.Now().Add(30 * time.Second)
	for scrape(t, base)["bastion_jumps_open{}"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the jump did not open; log:\n%s", w.serverLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// SIGTERM: the SSH listener closes, the open jump drains, /healthz says so.
	w.bastion.Process.Signal(syscall.SIGTERM)
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, base+"/healthz")
		if code == 503 && strings.Contains(body, "listener: fail") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz while draining: %d\n%s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := scrape(t, base); s["bastion_jumps_open{}"] != 1 {
		t.Errorf("the jump did not survive into the drain: %v", s["bastion_jumps_open{}"])
	}
	w.stop()
	<-done
}
