// The dashboard and alert rules in contrib/ name only metrics that exist.
package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"bastion/audit"
)

func TestContribNamesExistingMetrics(t *testing.T) {
	m := New("v", "c")
	m.WatchJumps(func() int { return 0 })
	m.WatchAudit(func() audit.Stats { return audit.Stats{} })
	m.WatchSyslog(func() uint64 { return 0 })
	// Vectors appear only once a series exists: touch one of each.
	m.logins.WithLabelValues("success", "none")
	m.enrollments.WithLabelValues("confirmed")
	m.refusals.WithLabelValues("other")
	m.jumps.WithLabelValues("other", "ok")
	m.sessions.WithLabelValues("other", "ok")
	m.bytes.WithLabelValues("up")
	m.dialSeconds.WithLabelValues("other")
	m.querySeconds.WithLabelValues("user")
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	dash, err := os.ReadFile("../contrib/grafana/bastion.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	rules, err := os.ReadFile("../contrib/prometheus/bastion.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &r); err != nil || len(r.Groups) == 0 || len(r.Groups[0].Rules) < 4 {
		t.Fatalf("rules file: %v, %+v", err, r)
	}
	names := regexp.MustCompile(`bastion_[a-z_]+`)
	used := 0
	for _, text := range []string{string(dash), string(rules)} {
		for _, n := range names.FindAllString(text, -1) {
			base := n
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suf)
			}
			if !known[base] {
				t.Errorf("contrib/ uses %s, which bastion does not export", n)
			}
			used++
		}
	}
	if used < 10 {
		t.Errorf("only %d metric references found", used)
	}
}
