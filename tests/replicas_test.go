// Two bastion replicas sharing one PostgreSQL (issue 10), driven with the real
// OpenSSH client: replay and lockout hold across replicas, a database outage
// refuses new logins with a message while open jumps keep running, and the
// service heals by itself when the database is back.
package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"bastion/store/pgtest"
)

// replicas turns w into replica A on PostgreSQL and returns replica B: the
// same config (host keys, state key, database), its own port and audit log.
func replicas(t *testing.T, w *world, pg *pgtest.Cluster) *world {
	t.Helper()
	raw, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	fileState := fmt.Sprintf("state = %q\n", filepath.Join(w.dir, "state", "bastion.db"))
	if !strings.Contains(cfg, fileState) {
		t.Fatalf("config has no %q line:\n%s", fileState, cfg)
	}
	cfg = strings.Replace(cfg, fileState, fmt.Sprintf("state = %q\nstate_password_file = %q\nstate_query_timeout = \"3s\"\nreplica_id = \"replica-a\"\n",
		pg.NewDatabase(t), pg.PasswordFile(t, w.dir)), 1)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	b := &world{t: t, dir: w.dir, backendAddr: w.backendAddr, backendUser: w.backendUser,
		cfgPath: filepath.Join(w.dir, "config_b.toml"), bastionAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	auditA := fmt.Sprintf("audit_log = %q\n", filepath.Join(w.dir, "state", "audit.log"))
	cfgB := strings.Replace(cfg, fmt.Sprintf("listen = %q\n", w.bastionAddr), fmt.Sprintf("listen = %q\n", b.bastionAddr), 1)
	cfgB = strings.Replace(cfgB, `replica_id = "replica-a"`, `replica_id = "replica-b"`, 1)
	cfgB = strings.Replace(cfgB, auditA, fmt.Sprintf("audit_log = %q\n", filepath.Join(w.dir, "state", "audit_b.log")), 1)
	if cfgB == cfg || !strings.Contains(cfg, auditA) {
		t.Fatalf("could not derive replica B's config from:\n%s", cfg)
	}
	if err := os.WriteFile(b.cfgPath, []byte(cfgB), 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// at points the user (one key, answer dir and TOTP step) at replica r.
func (c *client) at(r *world) *client {
	c.w = r
	return c
}

func TestReplicasSharePostgres(t *testing.T) {
	pg := pgtest.Start(t)
	a := newWorld(t, worldOpts{})
	b := replicas(t, a, pg)
	a.start() // creates the schema (migrations) and binds the state key
	b.start()
	mustContain(t, "replica A log", a.serverLog.String(), "dialect=postgres")

	// A user added through B's CLI is served by both.
	dave := a.newClient("dave")
	dave.at(b).add("--group", "ops")
	dave.importTOTP()

	// Cross-replica replay: the same code on A and B at once, exactly one gets in;
	// then again on B, refused.
	code := dave.nextCode()
	dave.answer(dave.password, code)
	var wg sync.WaitGroup
	outs, errs := make([]string, 2), make([]error, 2)
	onA, onB := *dave.at(a), *dave.at(b)
	for i, c := range []*client{&onA, &onB} {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = c.jump("pve1", "echo replica-in") }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("same code on A and B at once: A err=%v, B err=%v, want exactly one success\nA:\n%s\nB:\n%s", errs[0], errs[1], outs[0], outs[1])
	}
	dave.answer(dave.password, code)
	if out, err := dave.at(b).jump("pve1", "echo must-not-run"); err == nil {
		t.Fatalf("a code used on one replica was accepted again on B:\n%s", out)
	}

	// Lockout counted across replicas (lockout_after = 3, until an admin
	// unlocks): two failures on A, one on B; then the right code on A is
	// refused; `user unlock` through B lifts it for A.
	a.mustCLI("", "user", "unlock", "dave") // start from 0 failures (the replays counted)
	for i, r := range []*world{a, a, b} {
		if i == 2 {
			mustNotContain(t, "user list after 2 failures", b.mustCLI("", "user", "list"), "locked")
		}
		dave.answer(dave.password, "000000")
		if out, err := dave.at(r).jump("pve1", "true"); err == nil {
			t.Fatalf("failure %d: wrong code accepted:\n%s", i+1, out)
		}
	}
	mustContain(t, "user list after 3 failures on A, A, B", a.mustCLI("", "user", "list"), "locked (admin)")
	dave.answerGood()
	out, err := dave.at(a).jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("locked user got in on A:\n%s", out)
	}
	mustContain(t, "locked message on A", out, "locked", "Contact an administrator")
	b.mustCLI("", "user", "unlock", "dave")
	dave.answerGood()
	if out, err := dave.at(a).jump("pve1", "echo after-unlock"); err != nil {
		t.Fatalf("login on A after unlock on B: %v\n%s", err, out)
	}

	// Two first logins of a pending user at once, one on A and one on B:
	// exactly one binds a secret, and it is the winner's that works.
	lee := a.newClient("lee")
	lee.at(b).add("--group", "ops")
	lee.at(a)
	twin := *lee
	twin.w, twin.dir = b, filepath.Join(a.dir, "answers_lee_twin")
	os.MkdirAll(twin.dir, 0o700)
	lee.answer(lee.password, "")
	twin.answer(lee.password, "")
	for i, c := range []*client{lee, &twin} {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = c.jump("pve1", "echo enrolled") }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("first logins on A and B at once: A err=%v, B err=%v, want exactly one to enroll\nA:\n%s\nB:\n%s", errs[0], errs[1], outs[0], outs[1])
	}
	winner := lee
	if errs[1] == nil {
		winner = &twin
	}
	winner.secret = winner.file("enroll_secret")
	winner.step = stepOf(t, winner.secret, winner.file("enroll_code_used")) + 1
	winner.w = map[*world]*world{a: b, b: a}[winner.w] // the bound secret works on the other replica
	winner.answerGood()
	if out, err := winner.jump("pve1", "true"); err != nil {
		t.Fatalf("the winner's secret on the other replica: %v\n%s", err, out)
	}

	// PostgreSQL stops: an open jump through A keeps running, a new login on
	// B is refused with the message (client and log); PostgreSQL starts
	// again: B lets the user in without a restart.
	dave.answerGood()
	j := dave.at(a).startJump("pve1", "echo open-jump; i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick-$i; sleep 0.1; done")
	j.waitFor(t, "tick-2", 30*time.Second)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	dave.answerGood()
	out, err = dave.at(b).jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("login on B while PostgreSQL is down:\n%s", out)
	}
	mustContain(t, "client output with PostgreSQL down", out, "state store unavailable, try again")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.serverLog.String(), "state store unavailable, try again"); {
		if time.Now().After(deadline) { // the server logs the failure as its side of the connection ends
			t.Fatalf("replica B's log does not say the state store is unavailable:\n%s", b.serverLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ticks := strings.Count(j.out.String(), "tick-")
	j.waitFor(t, fmt.Sprintf("tick-%d", ticks+5), 30*time.Second) // still flowing after the refused login
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		dave.answerGood()
		out, err := dave.at(b).jump("pve1", "echo healed")
		if err == nil && strings.Contains(out, "healed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login on B within 60s of PostgreSQL coming back: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond) // poll: the pool reconnects on the next query
	}

	// kill -9 of replica A with the jump open: B still serves, and A's own
	// audit log verifies.
	a.kill9()
	dave.answerGood()
	if out, err := dave.at(b).jump("pve1", "echo after-kill"); err != nil {
		t.Fatalf("login on B after kill -9 of A: %v\n%s", err, out)
	}
	mustContain(t, "audit verify of A", a.mustCLI("", "audit", "verify"), "intact")
}

// usePostgres points w's config at the database url.
func (w *world) usePostgres(t *testing.T, pg *pgtest.Cluster, url string) {
	t.Helper()
	raw, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	fileState := fmt.Sprintf("state = %q\n", filepath.Join(w.dir, "state", "bastion.db"))
	cfg := strings.Replace(string(raw), fileState, fmt.Sprintf("state = %q\nstate_password_file = %q\n", url, pg.PasswordFile(t, w.dir)), 1)
	if cfg == string(raw) {
		t.Fatalf("config has no %q line", fileState)
	}
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateCopyToPostgres moves a single-node install to PostgreSQL with
// `bastion state copy`: the user logs in with their phone as before (no
// re-enrollment), a code used before the move stays used; a second copy is
// refused unless forced; a schema newer than the binary is refused.
func TestStateCopyToPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	w := coreWorld(t)
	carol := w.newClient("carol")
	carol.add("--group", "ops")
	carol.importTOTP("12345678")
	used := carol.answerGood()
	if out, err := carol.jump("pve1", "echo on-sqlite"); err != nil {
		t.Fatalf("login on SQLite: %v\n%s", err, out)
	}
	w.stop()

	file := filepath.Join(w.dir, "state", "bastion.db")
	url := pg.NewDatabase(t)
	pass := pg.PasswordFile(t, w.dir)
	out := w.mustCLI("", "state", "copy", "--from", file, "--to", url, "--to-password-file", pass)
	mustContain(t, "state copy", out, "copied 1 users and 1 recovery codes")
	mustNotContain(t, "state copy", out, pgtest.Password)
	out, err := w.cli("", "state", "copy", "--from", file, "--to", url, "--to-password-file", pass)
	if err == nil {
		t.Fatalf("a second copy over a non-empty target succeeded:\n%s", out)
	}
	mustContain(t, "second copy", out, "already has users", "--force")
	mustContain(t, "forced copy", w.mustCLI("", "state", "copy", "--from", file, "--to", url, "--to-password-file", pass, "--force"), "copied 1 users")

	w.usePostgres(t, pg, url)
	// The copy left the schema at the newest version: nothing to migrate.
	if out := w.mustCLI("", "state", "migrate"); !regexp.MustCompile(`\(postgres\): schema version (\d+) -> (\d+) \(newest this binary knows: (\d+)\)`).MatchString(out) ||
		!sameNumbers(regexp.MustCompile(`\d+`).FindAllString(out[strings.Index(out, "schema version"):], 3)) {
		t.Fatalf("state migrate after the copy: want the newest version, unchanged:\n%s", out)
	}
	w.start()
	carol.answer(carol.password, used)
	if out, err := carol.jump("pve1", "echo must-not-run"); err == nil {
		t.Fatalf("a code used before the copy was accepted after it:\n%s", out)
	}
	carol.answerGood()
	if out, err := carol.jump("pve1", "echo on-postgres"); err != nil {
		t.Fatalf("login on PostgreSQL after the copy: %v\n%s", err, out)
	} else {
		mustContain(t, "jump", out, "on-postgres")
	}
	carol.answer(carol.password, "12345678") // the scratch code came along
	if out, err := carol.jump("pve1", "echo scratch"); err != nil {
		t.Fatalf("recovery code after the copy: %v\n%s", err, out)
	}
	w.stop()

	// A newer bastion migrated the database: this one refuses to start, saying so.
	if _, err := pg.Open(t, url).Exec(`INSERT INTO goose_db_version(version_id, is_applied) VALUES(999, true)`); err != nil {
		t.Fatal(err)
	}
	out, err = runCtx(30*time.Second, os.Environ(), bastionBin, "-c", w.cfgPath, "serve")
	if err == nil {
		t.Fatalf("serve started on a newer schema:\n%s", out)
	}
	mustContain(t, "serve on a newer schema", out, "refusing to start", "newer than this bastion", "version 999", "upgrade bastion")
}

// sameNumbers reports whether ns holds 3 equal strings.
func sameNumbers(ns []string) bool { return len(ns) == 3 && ns[0] == ns[1] && ns[1] == ns[2] }
