package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bastion/store/pgtest"
)

// TestDeletedUserLosesOpenJump: `bastion user del` on a running server (no
// signal) ends the user's open `ssh -J` session within recheck_interval,
// with the reason in the audit log, and the user cannot come back.
func TestDeletedUserLosesOpenJump(t *testing.T) {
	w, ida := sessionWorld(t, `recheck_interval = "300ms"`)
	ida.answerGood()
	j := ida.startJump("pve1", "echo revoke-open; sleep 30; echo must-not-print")
	j.waitFor(t, "revoke-open", 20*time.Second)
	out := w.mustCLI("", "user", "del", "ida")
	mustContain(t, "user del", out, "deleted ida; their open connections end within 300ms")
	deleted := time.Now()
	out, err := j.wait(t, 15*time.Second)
	if err == nil {
		t.Fatalf("the deleted user's session exited 0:\n%s", out)
	}
	mustNotContain(t, "revoked session", out, "must-not-print")
	t.Logf("open jump ended %v after user del", time.Since(deleted).Round(time.Millisecond))
	reasons := w.waitAudit("conn.close", 1, 10*time.Second)
	if !slices.ContainsFunc(reasons, func(r auditRec) bool { return r.Fields["reason"] == "access revoked: user deleted" }) {
		t.Fatalf("no conn.close with the revocation reason: %+v", reasons)
	}
	ida.answerGood()
	if out, err := ida.jump("pve1", "echo back"); err == nil || strings.Contains(out, "back") {
		t.Fatalf("a deleted user logged in again:\n%s", out)
	}
}

// TestLockOnOneReplicaEndsConnectionOnOther: with two replicas sharing one
// PostgreSQL, `bastion user lock` run against replica B ends the user's open
// jump through replica A: A polls the shared state, no signal reaches it.
func TestLockOnOneReplicaEndsConnectionOnOther(t *testing.T) {
	pg := pgtest.Start(t)
	a := newWorld(t, worldOpts{extraConfig: "\n[session]\nrecheck_interval = \"300ms\"\n"})
	b := replicas(t, a, pg)
	a.start()
	b.start()
	ida := a.newClient("ida")
	ida.at(b).add("--group", "ops")
	ida.importTOTP()
	ida.answerGood()
	j := ida.at(a).startJump("pve1", "echo revoke-open; sleep 30; echo must-not-print")
	j.waitFor(t, "revoke-open", 30*time.Second)
	mustContain(t, "user lock on B", b.mustCLI("", "user", "lock", "ida"), "locked ida")
	locked := time.Now()
	if out, err := j.wait(t, 15*time.Second); err == nil {
		t.Fatalf("the locked user's session on A exited 0:\n%s", out)
	}
	t.Logf("jump on A ended %v after user lock on B", time.Since(locked).Round(time.Millisecond))
	recs := a.waitAudit("conn.close", 1, 10*time.Second)
	if !slices.ContainsFunc(recs, func(r auditRec) bool { return r.Fields["reason"] == "access revoked: account locked" }) {
		t.Fatalf("A's conn.close records: %+v", recs)
	}
}

// TestDeletedUserLosesControlMaster: an OpenSSH ControlMaster connection
// (one login, reused for days) opens jumps without new prompts until `bastion
// user del`; then the master itself is ended within recheck_interval.
func TestDeletedUserLosesControlMaster(t *testing.T) {
	w, ida := sessionWorld(t, `recheck_interval = "300ms"`)
	host, port := w.bastionAddr[:strings.LastIndex(w.bastionAddr, ":")], w.bastionAddr[strings.LastIndex(w.bastionAddr, ":")+1:]
	sock := filepath.Join(w.dir, "cm")
	mux := []string{"-F", ida.config, "-o", "ControlPath=" + sock, "-p", port, "ida@" + host}
	ida.answerGood()
	master := exec.Command("ssh", append([]string{"-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-f", "-N"}, mux...)...)
	master.Env = ida.env()
	logf, err := os.Create(filepath.Join(w.dir, "master.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	master.Stdout, master.Stderr = logf, logf // not pipes: the backgrounded master keeps them
	if err := master.Run(); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("ControlMaster: %v\n%s", err, log)
	}
	check := func() error {
		_, err := runCtx(20*time.Second, ida.env(), "ssh", append([]string{"-O", "check"}, mux...)...)
		return err
	}
	t.Cleanup(func() { runCtx(10*time.Second, ida.env(), "ssh", append([]string{"-O", "exit"}, mux...)...) })
	if err := check(); err != nil {
		t.Fatalf("master not running: %v", err)
	}
	// A jump through the master: no prompt at all (the askpass has no answers left).
	proxy := "ssh " + strings.Join(append([]string{"-o", "ControlMaster=no", "-W", "%h:%p"}, mux...), " ")
	out, err := ida.ssh("-o", "ProxyCommand="+proxy, w.backendUser+"@pve1", "echo via-master")
	if err != nil || !strings.Contains(out, "via-master") {
		t.Fatalf("jump through the master: %v\n%s", err, out)
	}
	w.mustCLI("", "user", "del", "ida")
	deleted := time.Now()
	for check() == nil {
		if time.Since(deleted) > 15*time.Second {
			t.Fatal("the master of a deleted user is still up after 15s")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("master ended %v after user del", time.Since(deleted).Round(time.Millisecond))
	if out, err := ida.ssh("-o", "ProxyCommand="+proxy, w.backendUser+"@pve1", "echo must-not-run"); err == nil {
		t.Fatalf("a jump through the deleted user's master:\n%s", out)
	}
}
