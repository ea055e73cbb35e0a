// Issue 11: running it like sshd: paths against the config file, config check, sd_notify.
package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relativeConfig rewrites the world's config with paths relative to its
// directory and no state_key (so the key goes beside the state).
func (w *world) relativeConfig() {
	b, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "state_key") {
			lines = append(lines, strings.ReplaceAll(l, w.dir+"/", ""))
		}
	}
	os.WriteFile(w.cfgPath, []byte(strings.Join(lines, "\n")), 0o600)
}

// startIn runs `bastion serve` from dir with extra environment.
func (w *world) startIn(dir string, env ...string) {
	w.t.Helper()
	w.serverLog = &logBuffer{}
	cmd := exec.Command(bastionBin, "-c", w.cfgPath, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w.serverLog, w.serverLog
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.bastion = cmd
	w.t.Cleanup(w.stop)
}

func TestConfigFromTwoWorkingDirs(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.relativeConfig()
	dirA, dirB := t.TempDir(), t.TempDir()
	// user add from A, with the config named relative to A.
	rel, _ := filepath.Rel(dirA, w.cfgPath)
	ua := w.newClient("ua")
	cmd := exec.Command(bastionBin, "-c", rel, "user", "add", "ua", "--key", ua.key+".pub", "--group", "ops")
	cmd.Dir, cmd.Stdin = dirA, strings.NewReader(ua.password+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add from %s: %v\n%s", dirA, err, out)
	}
	ua.importTOTP()
	for _, f := range []string{"state/bastion.db", "state/state.key"} {
		if _, err := os.Stat(filepath.Join(w.dir, f)); err != nil {
			t.Errorf("%s not beside the config: %v", f, err)
		}
	}
	// serve from B finds the same state and key.
	w.startIn(dirB)
	waitListening(t, w.bastionAddr, func() string { return w.serverLog.String() })
	ua.answerGood()
	if out, err := ua.jump("pve1", "echo two-dirs-ok"); err != nil || !strings.Contains(out, "two-dirs-ok") {
		t.Fatalf("login with the user added from another directory: %v\n%s", err, out)
	}
	for _, d := range []string{dirA, dirB} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("bastion wrote into its working directory %s: %v", d, ents)
		}
	}
	out := w.mustCLI("", "config", "check")
	mustContain(t, "config check", out, "OK", `state = "`+filepath.Join(w.dir, "state", "bastion.db")+`"`,
		`state_key = "`+filepath.Join(w.dir, "state", "state.key")+`"`, `host_key_dir = "`+filepath.Join(w.dir, "hostkeys")+`"`)
}

func TestConfigCheckNamesKey(t *testing.T) {
	w := newWorld(t, worldOpts{authExtra: "max_auth_tries = 0"})
	out, err := w.cli("", "config", "check")
	if err == nil {
		t.Fatalf("config check passed a bad config:\n%s", out)
	}
	mustContain(t, "config check", out, "auth.max_auth_tries", w.cfgPath)
}

// listenUnixgram listens on a unix datagram socket (where a service manager
// or syslog would) and returns its path and the messages.
func listenUnixgram(t *testing.T) (string, <-chan string) {
	path := filepath.Join(t.TempDir(), "sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return path, msgs
}

func nextNotify(t *testing.T, msgs <-chan string, w *world) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("no sd_notify message; log:\n%s", w.serverLog.String())
	}
	return ""
}

func TestSdNotify(t *testing.T) {
	w := newWorld(t, worldOpts{})
	sock, msgs := listenUnixgram(t)
	w.startIn(w.dir, "NOTIFY_SOCKET="+sock)
	if m := nextNotify(t, msgs, w); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	// READY means the port accepts now: one dial, no retry.
	c, err := net.DialTimeout("tcp", w.bastionAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but the port does not accept: %v", err)
	}
	c.Close()
	recs := types(w.auditRecords())
	if len(recs) == 0 || recs[len(recs)-1] != "server.start" {
		t.Errorf("READY=1 before the audit log was written: %v", recs)
	}

	w.bastion.Process.Signal(syscall.SIGHUP)
	if m := nextNotify(t, msgs, w); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("on SIGHUP got %q, want RELOADING=1", m)
	}
	if m := nextNotify(t, msgs, w); m != "READY=1" {
		t.Fatalf("after reload got %q, want READY=1", m)
	}
	if !inOrder(types(w.auditRecords()), []string{"server.start", "config.reload"}) {
		t.Errorf("READY=1 after reload but no config.reload record")
	}

	w.bastion.Process.Signal(syscall.SIGTERM)
	if m := nextNotify(t, msgs, w); m != "STOPPING=1" {
		t.Fatalf("on SIGTERM got %q, want STOPPING=1", m)
	}
	if err := w.bastion.Wait(); err != nil {
		t.Errorf("serve exited with %v after SIGTERM", err)
	}
	w.bastion = nil
}

func TestAuditSyslog(t *testing.T) {
	w := newWorld(t, worldOpts{})
	sock, msgs := listenUnixgram(t)
	cfg, _ := os.ReadFile(w.cfgPath)
	os.WriteFile(w.cfgPath, append([]byte(fmt.Sprintf("audit_syslog = true\naudit_syslog_socket = %q\n", sock)), cfg...), 0o600)
	sam := w.newClient("sam")
	sam.add("--group", "ops")
	sam.importTOTP()
	w.start()
	sam.answerGood()
	if out, err := sam.jump("pve1", "echo syslog-ok"); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	w.stop()

	// Every event of the file arrived with its fields (order across goroutines may
	// differ). Chain upkeep the audit package writes itself (signed checkpoints,
	// pruned files) is not an event and stays in the file only.
	var recs []auditRec
	for _, r := range w.auditRecords() {
		if r.Type != "audit.checkpoint" && r.Type != "audit.pruned" {
			recs = append(recs, r)
		}
	}
	var got []string
	deadline := time.After(30 * time.Second)
	for len(got) < len(recs) {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("%d of %d records reached syslog:\n%s", len(got), len(recs), strings.Join(got, "\n"))
		}
	}
	for _, m := range got {
		if !strings.HasPrefix(m, "<8") || !strings.Contains(m, " bastion-audit[") {
			t.Errorf("not a local syslog datagram from bastion-audit: %q", m)
		}
	}
	used := make([]bool, len(got))
	for _, r := range recs {
		want := []string{" type=" + r.Type + " "}
		if r.User != "" {
			want = append(want, " user="+r.User)
		}
		if r.ConnID != "" {
			want = append(want, " conn_id="+r.ConnID)
		}
		for k, v := range r.Fields {
			if !strings.ContainsAny(v, " \"=") {
				want = append(want, " "+k+"="+v)
			}
		}
		found := false
		for i, m := range got {
			if !used[i] && containsAll(m+" ", want) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no syslog message with %q; got:\n%s", want, strings.Join(got, "\n"))
		}
	}
	mustContain(t, "record types", strings.Join(got, "\n"), "type=admin.user.add", "type=login.success", "type=jump.open", "type=jump.close", "bytes_up=")
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
