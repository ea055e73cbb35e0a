// The audit across replicas (issue 10 item 5): each replica's records also
// go to PostgreSQL as its own chain; `bastion audit` on either host shows
// both merged in time order (also --follow), `audit verify` checks every
// chain and finds an altered row, and a record PostgreSQL will not take
// fails the login closed, as an unwritable local log does.
package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"bastion/store/pgtest"
)

// sharedRecord is one line of `bastion audit --json` on a shared state.
type sharedRecord struct {
	Replica string `json:"replica"`
	Record  struct {
		Seq  uint64    `json:"seq"`
		Time time.Time `json:"time"`
		Type string    `json:"type"`
		User string    `json:"user"`
	} `json:"record"`
}

func parseShared(t *testing.T, out string) []sharedRecord {
	t.Helper()
	var recs []sharedRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r sharedRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit --json line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestReplicasAuditShared(t *testing.T) {
	pg := pgtest.Start(t)
	a := newWorld(t, worldOpts{})
	b := replicas(t, a, pg)
	a.start()
	b.start()
	raw, _ := os.ReadFile(a.cfgPath)
	db := pg.Open(t, regexp.MustCompile(`state = "(postgres://[^"]+)"`).FindStringSubmatch(string(raw))[1])

	// Someone watches from B while ann is added on B and logs in on A, then B.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow := exec.CommandContext(ctx, bastionBin, "-c", b.cfgPath, "audit", "--follow", "--json", "--type", "login")
	watched := &logBuffer{}
	follow.Stdout, follow.Stderr = watched, watched
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Wait()
	defer follow.Process.Kill()

	ann := a.newClient("ann")
	ann.at(b).add("--group", "ops")
	ann.importTOTP()
	for _, r := range []*world{a, b} {
		ann.answerGood()
		if out, err := ann.at(r).jump("pve1", "echo in"); err != nil {
			t.Fatalf("login on %s: %v\n%s", r.cfgPath, err, out)
		}
	}

	recs := parseShared(t, a.mustCLI("", "audit", "--json"))
	var logins []string
	for i, r := range recs {
		if i > 0 && r.Record.Time.Before(recs[i-1].Record.Time) {
			t.Fatalf("record %d (%s seq %d) is older than the one before: not merged in time order", i, r.Replica, r.Record.Seq)
		}
		if r.Record.Type == "login.success" && r.Record.User == "ann" {
			logins = append(logins, r.Replica)
		}
	}
	if strings.Join(logins, ",") != "replica-a,replica-b" {
		t.Fatalf("ann's logins in the shared audit: %v, want replica-a then replica-b", logins)
	}
	mustContain(t, "audit table on A", a.mustCLI("", "audit", "--user", "ann"), "REPLICA", "replica-a", "replica-b", "user.add")
	mustNotContain(t, "A's local file", a.mustCLI("", "audit", "--local", "--user", "ann"), "REPLICA")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := watched.String()
		if strings.Count(got, `"type":"login.success"`) >= 2 && strings.Contains(got, `"replica":"replica-a"`) && strings.Contains(got, `"replica":"replica-b"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit --follow on B never showed both logins:\n%s", got)
		}
	}
	mustContain(t, "audit verify on B", b.mustCLI("", "audit", "verify"),
		"replica replica-a: intact", "replica replica-b: intact", "audit chains intact: 2 replicas")

	// PostgreSQL refuses audit records (the table is gone) while the users
	// still load: the login on A fails closed, and A's local file does not
	// keep the record either, so the chains stay one when the table is back.
	if _, err := db.Exec(`ALTER TABLE audit_records RENAME TO audit_records_away`); err != nil {
		t.Fatal(err)
	}
	ann.answerGood()
	if out, err := ann.at(a).jump("pve1", "echo must-not-run"); err == nil || strings.Contains(out, "must-not-run") {
		t.Fatalf("login on A with PostgreSQL refusing its audit records:\n%s", out)
	}
	mustContain(t, "A's log", a.serverLog.String(), "audit append failed")
	if _, err := db.Exec(`ALTER TABLE audit_records_away RENAME TO audit_records`); err != nil {
		t.Fatal(err)
	}
	ann.answerGood()
	if out, err := ann.at(a).jump("pve1", "echo back"); err != nil {
		t.Fatalf("login on A once PostgreSQL takes records again: %v\n%s", err, out)
	}
	mustContain(t, "audit verify after the refused records", a.mustCLI("", "audit", "verify"), "audit chains intact: 2 replicas")
	mustContain(t, "A's local file", a.mustCLI("", "audit", "verify", "--local"), "intact")

	// An altered row breaks its replica's chain, wherever verify runs.
	if _, err := db.Exec(`UPDATE audit_records SET line = REPLACE(line, '"user":"ann"', '"user":"eve"') WHERE replica = 'replica-b' AND line LIKE '%login.success%'`); err != nil {
		t.Fatal(err)
	}
	out, err := a.cli("", "audit", "verify")
	if err == nil {
		t.Fatalf("audit verify passed with an altered row:\n%s", out)
	}
	mustContain(t, "audit verify with an altered row", out, "replica replica-a: intact", "replica replica-b: BROKEN", "hash mismatch")
}
