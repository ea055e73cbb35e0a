// The server's life as an operator runs it: SIGTERM drains open jumps and
// exits cleanly; host keys others can read stop it from starting.
package tests

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrainsOpenJump sends SIGTERM (what systemd sends) to a real
// `bastion serve` with a jump open: new connections are refused at once, the
// open jump keeps carrying data for shutdown_grace, then it is closed with
// the reason recorded and the process exits 0.
func TestSIGTERMDrainsOpenJump(t *testing.T) {
	const grace = 3 * time.Second
	w := newWorld(t, worldOpts{})
	w.editConfig(`log_level = "debug"`, fmt.Sprintf("log_level = \"debug\"\nshutdown_grace = %q", grace.String()))
	w.start()
	sam := w.newClient("sam")
	sam.add("--group", "ops")
	sam.importTOTP()

	// The backend runs on this machine: the jump prints its second line
	// only when the test creates the gate file, after the SIGTERM.
	gate := filepath.Join(w.dir, "gate")
	sam.answerGood()
	j := sam.startJump("pve1", fmt.Sprintf("echo jump-open; while [ ! -e %s ]; do sleep 0.05; done; echo still-open; sleep 60", gate))
	j.waitFor(t, "jump-open", 30*time.Second)
	w.waitAudit("jump.open", 1, 10*time.Second)

	proc := w.bastion
	w.bastion = nil // this test reaps it
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	termAt := time.Now()
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes: new connections are refused.
	for {
		c, err := net.DialTimeout("tcp", w.bastionAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(termAt) > 10*time.Second {
			t.Fatal("the bastion still accepts connections 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The open jump still carries data after the SIGTERM.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "still-open", 20*time.Second)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("bastion exit after SIGTERM: %v\n%s", err, w.serverLog.String())
		}
	case <-time.After(grace + 20*time.Second):
		proc.Process.Kill()
		t.Fatalf("bastion still running %v after SIGTERM", time.Since(termAt))
	}
	if took := time.Since(termAt); took < grace {
		t.Fatalf("bastion exited %v after SIGTERM with a jump open, before shutdown_grace %v", took, grace)
	}
	if out, err := j.wait(t, 15*time.Second); err == nil {
		t.Fatalf("the jump cut by the shutdown exited 0:\n%s", out)
	}
	mustContain(t, "server log", w.serverLog.String(), "shutting down", "signal=terminated")
	recs := w.auditRecords()
	if !inOrder(types(recs), []string{"server.start", "jump.open", "jump.close", "server.stop"}) {
		t.Fatalf("audit after SIGTERM: %v", types(recs))
	}
	for _, r := range recs {
		if r.Type == "jump.close" && !strings.Contains(r.Fields["reason"], "server shutting down") {
			t.Fatalf("jump.close reason %q, want the shutdown", r.Fields["reason"])
		}
	}
}

// TestLooseHostKeyRefusesToStart: a host key that group or others can read
// is refused at start with the file named and the fix; at 0600 it starts.
func TestLooseHostKeyRefusesToStart(t *testing.T) {
	w := newWorld(t, worldOpts{})
	dir := filepath.Join(w.dir, "hostkeys")
	os.MkdirAll(dir, 0o700)
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
	for _, mode := range []os.FileMode{0o644, 0o640} {
		if err := os.Chmod(key, mode); err != nil {
			t.Fatal(err)
		}
		out, err := runCtx(20*time.Second, os.Environ(), bastionBin, "-c", w.cfgPath, "serve")
		if err == nil || strings.Contains(err.Error(), "timed out") {
			t.Fatalf("serve with a host key of mode %04o: %v\n%s", mode, err, out)
		}
		mustContain(t, "serve output", out, "refusing to start", key, "chmod 600")
	}
	os.Chmod(key, 0o600)
	w.start()
}
