// Issue 5: robustness end to end — kill -9 mid-session and mid-enrollment,
// SIGHUP reload, slowloris, the per-source cap and per-source penalties.
package tests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// bgJump is an ssh -J session running in the background.
type bgJump struct {
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
	err  error
}

// startJump starts `ssh -J user@bastion backenduser@target command` without
// waiting for it; the test's cleanup kills it (and its ProxyJump child).
func (c *client) startJump(target, command string) *bgJump {
	t := c.w.t
	t.Helper()
	cmd := exec.Command("ssh", "-F", c.config, "-J", c.jumpSpec(), c.w.backendUser+"@"+target, command)
	cmd.Env = c.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second // the ProxyJump child may hold the pipe
	j := &bgJump{cmd: cmd, out: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = j.out, j.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { j.err = cmd.Wait(); close(j.done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-j.done
	})
	return j
}

// waitFor waits until the session printed want.
func (j *bgJump) waitFor(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(j.out.String(), want) {
		select {
		case <-j.done:
			if strings.Contains(j.out.String(), want) {
				return
			}
			t.Fatalf("ssh exited (%v) before printing %q:\n%s", j.err, want, j.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh did not print %q within %v:\n%s", want, d, j.out.String())
		}
	}
}

// wait waits for the session to end and returns its output and exit error.
func (j *bgJump) wait(t *testing.T, d time.Duration) (string, error) {
	t.Helper()
	select {
	case <-j.done:
		return j.out.String(), j.err
	case <-time.After(d):
		t.Fatalf("ssh still running after %v:\n%s", d, j.out.String())
		return "", nil
	}
}

// kill9 kills the bastion with SIGKILL, reaps it, and forgets it, so that
// w.start can run a new one. It returns when the process is gone.
func (w *world) kill9() {
	w.t.Helper()
	if w.bastion == nil {
		w.t.Fatal("kill9: no bastion running")
	}
	if err := w.bastion.Process.Kill(); err != nil {
		w.t.Fatalf("kill -9 bastion: %v", err)
	}
	w.bastion.Wait()
	w.bastion = nil
}

// signal sends sig to the running bastion.
func (w *world) signal(sig os.Signal) {
	w.t.Helper()
	if w.bastion == nil {
		w.t.Fatal("signal: no bastion running")
	}
	if err := w.bastion.Process.Signal(sig); err != nil {
		w.t.Fatalf("signal %v: %v", sig, err)
	}
}

// editConfig replaces old with new in the config file; old must occur.
func (w *world) editConfig(old, new string) {
	w.t.Helper()
	b, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		w.t.Fatalf("config has no %q:\n%s", old, b)
	}
	if err := os.WriteFile(w.cfgPath, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// waitAudit polls the audit log until it holds at least n records of typ.
func (w *world) waitAudit(typ string, n int, d time.Duration) []auditRec {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for {
		recs := w.auditRecords("--type", typ)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("want %d %s audit records within %v, have %d: %+v", n, typ, d, len(recs), recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fromSource returns a copy of c whose ssh connects to the bastion from the
// loopback address ip (BindAddress on the jump hop; -J passes -F on).
func (c *client) fromSource(ip string) *client {
	cc := *c
	cc.config = c.config + "_" + ip
	cc.writeConfig(fmt.Sprintf("Host 127.0.0.1\n  BindAddress %s\n\n", ip))
	return &cc
}

// dialFrom opens a raw TCP connection to addr from the local address src
// ("" for any); the test's cleanup closes it.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 3 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readLine reads what the server sends up to the first newline, within d.
// The error is nil when a whole line arrived.
func readLine(c net.Conn, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b []byte
	one := make([]byte, 1)
	for len(b) < 512 {
		n, err := c.Read(one)
		b = append(b, one[:n]...)
		if err != nil {
			return string(b), err
		}
		if n == 1 && one[0] == '\n' {
			break
		}
	}
	return string(b), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// mustGetBanner asserts the server speaks SSH on c: its version line arrives.
func mustGetBanner(t *testing.T, what string, c net.Conn) {
	t.Helper()
	line, err := readLine(c, 3*time.Second)
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-bastion") {
		t.Fatalf("%s: want the SSH-2.0-bastion banner, got %q (%v)", what, line, err)
	}
}

// mustBeRefused asserts the server closes c within d without sending its
// SSH banner: a refusal before the version exchange.
func mustBeRefused(t *testing.T, what string, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	got, err := readLine(c, d)
	took := time.Since(start)
	if err == nil || isTimeout(err) {
		t.Fatalf("%s: want the server to close the connection within %v, got %q (%v)", what, d, got, err)
	}
	if strings.Contains(got, "SSH-") {
		t.Fatalf("%s: refused connection still got a banner %q", what, got)
	}
	return took
}

// openFDs counts the open file descriptors of pid (Linux), or -1.
func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// userRow returns the `user list` row of name, split in fields.
func (w *world) userRow(name string) []string {
	w.t.Helper()
	list := w.mustCLI("", "user", "list")
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	w.t.Fatalf("user list has no %s:\n%s", name, list)
	return nil
}

func mustContainAny(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if strings.Contains(got, want) {
			return
		}
	}
	t.Fatalf("%s: want one of %q in:\n%s", what, wants, got)
}

func TestKill9MidSession(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	ann := w.newClient("ann")
	ann.add("--group", "ops")
	ann.importTOTP()

	usedCode := ann.answerGood()
	s := ann.startJump("pve1", "echo jump-is-open; sleep 30")
	s.waitFor(t, "jump-is-open", 20*time.Second)
	w.waitAudit("jump.open", 1, 5*time.Second)

	killed := time.Now()
	w.kill9()
	w.start()
	recovery := time.Since(killed)
	t.Logf("recovery after kill -9: %v (kill to listening)", recovery)

	// The client's session ends with the server; it does not hang.
	out, err := s.wait(t, 15*time.Second)
	if err == nil {
		t.Fatalf("the jump through a killed bastion exited 0:\n%s", out)
	}

	// The audit log ends without jump.close for the killed session, but
	// its chain is intact and it recorded the session up to the kill.
	mustContain(t, "audit verify", w.mustCLI("", "audit", "verify"), "intact")
	got := types(w.auditRecords())
	if !inOrder(got, []string{"server.start", "login.success", "jump.open", "server.start"}) {
		t.Fatalf("audit log after kill -9 lacks the session or the restart: %v", got)
	}
	if f := w.userRow("ann"); len(f) < 3 || f[2] != "TOTP" {
		t.Fatalf("after kill -9 ann is no longer TOTP: %v", f)
	}
	// Replay state survived: the code used before the crash is still spent.
	ann.answer(ann.password, usedCode)
	if out, err := ann.jump("pve1", "echo must-not-run"); err == nil {
		t.Fatalf("the code used before kill -9 was accepted again after the restart:\n%s", out)
	}
	ann.answerGood()
	out, err = ann.jump("pve1", "echo after-restart")
	if err != nil {
		t.Fatalf("login after kill -9 and restart: %v\n%s", err, out)
	}
	mustContain(t, "output", out, "after-restart")
}

// TestKill9MidEnrollment kills the server twice while first logins are in
// flight: when the first enrollment code is on its way to the server, and
// when the first recovery codes are shown (before the secret is bound: it is
// bound when the user presses Enter under them).
func TestKill9MidEnrollment(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	tom := w.newClient("tom") // an enrolled user logging in at the kill
	tom.add("--group", "ops")
	tom.importTOTP()
	for _, trigger := range []string{"enroll_code_used", "recovery_prompt"} {
		var pending []*client
		for i := range 4 {
			c := w.newClient(fmt.Sprintf("%s%d", trigger[:3], i))
			c.add("--group", "ops")
			c.answer(c.password, "") // askpass computes the enrollment code itself
			pending = append(pending, c)
		}
		tom.answerGood()
		var wg sync.WaitGroup
		for _, c := range append([]*client{tom}, pending...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.jump("pve1", "echo in")
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for !anyHasFile(pending, trigger) {
			if time.Now().After(deadline) {
				wg.Wait()
				t.Fatalf("no first login wrote %s within 30s", trigger)
			}
			time.Sleep(2 * time.Millisecond)
		}
		killed := time.Now()
		w.kill9()
		w.start()
		t.Logf("recovery after kill -9 at the first %s: %v (kill to listening)", trigger, time.Since(killed))
		wg.Wait()

		mustContain(t, "audit verify", w.mustCLI("", "audit", "verify"), "intact")
		enrolled := 0
		for _, c := range pending {
			if checkEnrollmentSurvived(t, w, c) {
				enrolled++
			}
		}
		// Each user is either enrolled, having been shown the recovery codes
		// (checkEnrollmentSurvived fails otherwise), or still pending and able
		// to enroll again; a kill between the codes and the Enter that binds
		// the secret leaves the user pending, so no count of enrolled users
		// can be required here.
		t.Logf("kill -9 at the first %s: %d of %d pending users had completed enrollment", trigger, enrolled, len(pending))

		if f := w.userRow("tom"); len(f) < 3 || f[2] != "TOTP" {
			t.Fatalf("after kill -9 tom is no longer TOTP: %v", f)
		}
		tom.answerGood()
		if out, err := tom.jump("pve1", "echo tom-after-kill"); err != nil {
			t.Fatalf("tom cannot log in after kill -9: %v\n%s", err, out)
		}
	}
	mustContain(t, "audit verify at the end", w.mustCLI("", "audit", "verify"), "intact")
}

func anyHasFile(cs []*client, name string) bool {
	for _, c := range cs {
		if _, err := os.Stat(filepath.Join(c.dir, name)); err == nil {
			return true
		}
	}
	return false
}

// checkEnrollmentSurvived asserts that c, whose first login was cut by a
// kill -9, is either still pending with nothing stored (and can enroll
// now), or enrolled with the secret it was shown and all its recovery
// codes (and can log in with it): never half-stored. It reports whether c
// had completed enrollment before the kill.
func checkEnrollmentSurvived(t *testing.T, w *world, c *client) bool {
	t.Helper()
	show := w.mustCLI("", "user", "show", c.name)
	shownRecovery := c.file("recovery_prompt") != ""
	switch {
	case strings.Contains(show, "2fa:         TOTP"):
		mustContain(t, c.name+" enrolled before the kill", show, "recovery:    10 unused")
		if !shownRecovery {
			t.Fatalf("%s was enrolled without being shown the recovery codes\n%s", c.name, show)
		}
		secret, used := c.file("enroll_secret"), c.file("enroll_code_used")
		if secret == "" || used == "" {
			t.Fatalf("%s is TOTP but never saw a secret or sent a code:\n%s", c.name, show)
		}
		c.secret = secret
		c.step = stepOf(t, secret, used) + 1
		c.answerGood()
		if out, err := c.jump("pve1", "echo enrolled-before-kill"); err != nil {
			t.Fatalf("%s was stored as enrolled but its secret does not work: %v\n%s", c.name, err, out)
		}
		return true
	case strings.Contains(show, "2fa:         pending"):
		// Shown recovery codes are void until Enter; a kill before the
		// commit leaves the user pending, which is what we check here.
		mustContain(t, c.name+" pending after the kill", show, "recovery:    0 unused")
		for _, f := range []string{"enroll_secret", "enroll_code_used", "enroll_prompt"} {
			os.Remove(filepath.Join(c.dir, f))
		}
		c.answer(c.password, "")
		if out, err := c.jump("pve1", "echo enrolled-after-kill"); err != nil {
			t.Fatalf("%s cannot enroll after the kill: %v\n%s\nprompts:\n%s", c.name, err, out, c.prompts())
		}
		mustContain(t, c.name+" user show", w.mustCLI("", "user", "show", c.name), "2fa:         TOTP", "recovery:    10 unused")
		return false
	default:
		t.Fatalf("%s is neither pending nor TOTP after kill -9:\n%s", c.name, show)
	}
	return false
}

func TestSIGHUPReload(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	bea := w.newClient("bea")
	bea.add("--group", "ops")
	bea.importTOTP()

	release := filepath.Join(w.dir, "release-open-session")
	bea.answerGood()
	open := bea.startJump("pve1", fmt.Sprintf("echo session-open; while [ ! -e %s ]; do sleep 0.1; done; echo still-alive-after-reload", release))
	open.waitFor(t, "session-open", 20*time.Second)

	// Good config: pve1 is gone, the same backend is now called pve2.
	w.editConfig(`name = "pve1"`, `name = "pve2"`)
	w.signal(syscall.SIGHUP)
	w.waitAudit("config.reload", 1, 5*time.Second)

	bea.answerGood()
	out, err := bea.jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("jump to a target removed by the reload succeeded:\n%s", out)
	}
	mustContain(t, "removed target", out, "administratively prohibited")
	mustNotContain(t, "removed target", out, "must-not-run")
	bea.answerGood()
	out, err = bea.jump("pve2", "echo via-new-target")
	if err != nil {
		t.Fatalf("jump to a target added by the reload: %v\n%s", err, out)
	}
	mustContain(t, "added target", out, "via-new-target")

	// Broken config: rejected, the config of the first reload stays. The
	// CLI reads the config file too, so from here on it uses a good copy.
	good, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	listenLine := fmt.Sprintf("listen = %q", w.bastionAddr)
	w.editConfig(listenLine, "listen = 5")
	w.signal(syscall.SIGHUP)
	w.cfgPath = filepath.Join(w.dir, "config-for-cli.toml")
	if err := os.WriteFile(w.cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	w.waitAudit("config.reload", 2, 5*time.Second)
	bea.answerGood()
	out, err = bea.jump("pve2", "echo old-config-stays")
	if err != nil {
		t.Fatalf("jump after a rejected reload (the old config should stay): %v\n%s", err, out)
	}
	mustContain(t, "after a bad reload", out, "old-config-stays")
	bea.answerGood()
	if out, err := bea.jump("pve1", "echo must-not-run"); err == nil {
		t.Fatalf("a rejected reload brought back the removed target:\n%s", out)
	}

	// The session opened before both reloads is still up and finishes normally.
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = open.wait(t, 15*time.Second)
	if err != nil {
		t.Fatalf("the session open across the reloads failed: %v\n%s", err, out)
	}
	mustContain(t, "open session", out, "still-alive-after-reload")

	recs := w.auditRecords("--type", "config.reload")
	if len(recs) != 2 || recs[0].Result != "ok" || recs[1].Result != "fail" {
		t.Fatalf("want config.reload ok then fail, got %+v", recs)
	}
	if !strings.Contains(recs[1].Fields["reason"], "listen") {
		t.Errorf("the failed reload's audit record does not name the key: %+v", recs[1])
	}
	refused := w.auditRecords("--type", "jump.refused")
	if len(refused) != 2 || refused[0].Target != "pve1" {
		t.Errorf("want two jump.refused records for pve1, got %+v", refused)
	}
	mustContain(t, "audit verify", w.mustCLI("", "audit", "verify"), "intact")

	w.stop()
	logged := false
	for _, line := range strings.Split(w.serverLog.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "listen") {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("the rejected reload was not logged at error level with the key name:\n%s", w.serverLog.String())
	}
}

// floodConn is one slowloris connection and what became of it.
type floodConn struct {
	kind     string
	c        net.Conn
	opened   time.Time
	closedAt atomic.Int64 // unix nanoseconds; 0 while open
	bytes    atomic.Int64 // bytes the server sent
	err      error
}

func TestSlowloris(t *testing.T) {
	const grace = 3 * time.Second
	w := newWorld(t, worldOpts{
		authExtra: `login_grace_time = "3s"`,
		// Limits high enough that the flood is held open, not refused:
		// this test is about the grace deadline.
		extraConfig: "\n[limits]\nper_source_max = 1000\nmax_startups = \"1000:30:1000\"\npenalty_free_fails = 100\n",
	})
	w.start()
	sam := w.newClient("sam")
	sam.add("--group", "ops")
	sam.importTOTP()
	sam.answerGood()
	if out, err := sam.jump("pve1", "true"); err != nil { // warm up before the baseline
		t.Fatalf("login before the flood: %v\n%s", err, out)
	}
	pid := w.bastion.Process.Pid
	w.waitAudit("conn.close", 1, 10*time.Second) // the warm-up connection is gone
	fdBase := openFDs(pid)
	if fdBase == 0 {
		t.Fatalf("cannot count the open files of pid %d in /proc", pid)
	}

	groups := []struct {
		kind string
		n    int
		send string
	}{
		{"silent", 200, ""},
		{"mid-kex", 50, "SSH-2.0-x\r\n"},      // version sent, then no KEXINIT
		{"mid-banner", 25, "SSH-2.0-partial"}, // version line never ends
	}
	var flood []*floodConn
	var wg sync.WaitGroup
	for _, g := range groups {
		for range g.n {
			fc := &floodConn{kind: g.kind, c: dialFrom(t, "", w.bastionAddr), opened: time.Now()}
			if g.send != "" {
				if _, err := io.WriteString(fc.c, g.send); err != nil {
					t.Fatalf("%s: write: %v", g.kind, err)
				}
			}
			flood = append(flood, fc)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Our own deadline is a backstop far past the grace time:
				// hitting it means the server never closed the connection.
				fc.c.SetReadDeadline(fc.opened.Add(grace + 6*time.Second))
				buf := make([]byte, 4096)
				for {
					n, err := fc.c.Read(buf)
					fc.bytes.Add(int64(n))
					if err != nil {
						fc.err = err
						fc.closedAt.Store(time.Now().UnixNano())
						return
					}
				}
			}()
		}
	}
	floodOpened := time.Now()
	held := func() int {
		n := 0
		for _, fc := range flood {
			if fc.closedAt.Load() == 0 {
				n++
			}
		}
		return n
	}
	if h := held(); h != len(flood) {
		t.Fatalf("only %d of %d flood connections are open before the login", h, len(flood))
	}

	// A real OpenSSH login and jump while the flood is held open.
	sam.answerGood()
	start := time.Now()
	out, err := sam.jump("pve1", "echo in-despite-flood")
	loginTime := time.Since(start)
	heldDuring := held()
	if err != nil {
		t.Fatalf("login during the flood (%v): %v\n%s", loginTime, err, out)
	}
	mustContain(t, "output", out, "in-despite-flood")
	t.Logf("slowloris: %d of %d connections held open during a real login+jump that took %v", heldDuring, len(flood), loginTime)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace + 8*time.Second):
		t.Fatalf("flood connections still open %v after the grace time: %d", 8*time.Second, held())
	}
	var minLife, maxLife time.Duration
	for i, fc := range flood {
		if isTimeout(fc.err) {
			t.Fatalf("%s connection %d was never closed by the server (our deadline hit)", fc.kind, i)
		}
		if fc.bytes.Load() == 0 {
			t.Fatalf("%s connection %d got no byte: refused, not held (err %v)", fc.kind, i, fc.err)
		}
		life := time.Unix(0, fc.closedAt.Load()).Sub(fc.opened)
		if i == 0 || life < minLife {
			minLife = life
		}
		maxLife = max(maxLife, life)
		if life < grace-500*time.Millisecond || life > grace+3*time.Second {
			t.Fatalf("%s connection %d closed after %v, want about the grace time %v", fc.kind, i, life, grace)
		}
	}
	t.Logf("slowloris: all %d flood connections closed by the server %v..%v after opening (grace %v); last at +%v",
		len(flood), minLife.Round(time.Millisecond), maxLife.Round(time.Millisecond), grace, time.Since(floodOpened).Round(time.Millisecond))

	// The server's file descriptors return to the baseline.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(pid) > fdBase+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := openFDs(pid); n > fdBase+2 {
		t.Fatalf("server holds %d fds after the flood, %d before", n, fdBase)
	}
	t.Logf("slowloris: server fds %d before the flood, %d after", fdBase, openFDs(pid))
	// Every flood connection exceeded the grace time, which counts as an
	// abandoned authentication (OpenSSH's "grace-exceeded" penalty): the
	// flooding source is now refused before the banner, another gets in.
	mustBeRefused(t, "new connection from the flooding source", dialFrom(t, "127.0.0.1", w.bastionAddr), 2*time.Second)
	sam2 := sam.fromSource("127.0.0.2")
	sam2.answerGood()
	if out, err := sam2.jump("pve1", "echo after-flood"); err != nil {
		t.Fatalf("login from 127.0.0.2 after the flood: %v\n%s", err, out)
	}
}

func TestPerSourceCap(t *testing.T) {
	w := newWorld(t, worldOpts{
		// Penalties out of the way: the held connections are abandoned.
		extraConfig: "\n[limits]\nper_source_max = 5\npenalty_free_fails = 100\n",
	})
	w.start()
	uma := w.newClient("uma")
	uma.add("--group", "ops")
	uma.importTOTP()

	var held []net.Conn
	for i := range 5 {
		c := dialFrom(t, "127.0.0.1", w.bastionAddr)
		mustGetBanner(t, fmt.Sprintf("connection %d of 5 from 127.0.0.1", i+1), c)
		held = append(held, c)
	}
	sixth := dialFrom(t, "127.0.0.1", w.bastionAddr)
	took := mustBeRefused(t, "6th connection from 127.0.0.1", sixth, 2*time.Second)
	t.Logf("per-source cap: 6th connection closed after %v", took)

	other := dialFrom(t, "127.0.0.2", w.bastionAddr)
	mustGetBanner(t, "connection from 127.0.0.2 while 127.0.0.1 is at its cap", other)
	other.Close()

	// The real client: refused from 127.0.0.1, in from 127.0.0.2.
	uma.answerGood()
	out, err := uma.jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("ssh from a source at its cap got in:\n%s", out)
	}
	mustContainAny(t, "refused ssh", out, "kex_exchange_identification", "Connection closed", "Connection reset")
	mustNotContain(t, "refused ssh", out, "must-not-run")
	if strings.Contains(uma.prompts(), "Password") {
		t.Fatalf("a refused connection was asked for a password:\n%s", uma.prompts())
	}
	uma2 := uma.fromSource("127.0.0.2")
	uma2.answerGood()
	out, err = uma2.jump("pve1", "echo from-second-source")
	if err != nil {
		t.Fatalf("ssh from 127.0.0.2 while 127.0.0.1 is at its cap: %v\n%s", err, out)
	}
	mustContain(t, "second source", out, "from-second-source")
	ok := false
	for _, r := range w.auditRecords("--type", "login.success", "--user", "uma") {
		if strings.HasPrefix(r.Source, "127.0.0.2:") {
			ok = true
		}
	}
	if !ok {
		t.Fatal("no login.success from 127.0.0.2 in the audit log")
	}

	// Closing the held connections frees the slots: nothing leaks.
	for _, c := range held {
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", w.bastionAddr)
		line, err := readLine(c, 2*time.Second)
		c.Close()
		if err == nil && strings.HasPrefix(line, "SSH-2.0-bastion") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1 still refused 3s after its held connections closed: %q (%v)", line, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSourcePenalty(t *testing.T) {
	w := newWorld(t, worldOpts{extraConfig: "\n[limits]\npenalty_free_fails = 2\npenalty_base = \"30s\"\n"})
	w.start()
	// Two users, so that the per-user lockout (lockout_after = 3) cannot
	// be what refuses the fourth connection.
	xav, yin := w.newClient("xav"), w.newClient("yin")
	for _, c := range []*client{xav, yin} {
		c.add("--group", "ops")
		c.importTOTP()
	}
	for i, c := range []*client{xav, yin, xav} {
		c.answer(c.password, "000000")
		out, err := c.jump("pve1", "echo must-not-run")
		if err == nil {
			t.Fatalf("failure %d: wrong code accepted:\n%s", i+1, out)
		}
		mustContain(t, fmt.Sprintf("failure %d", i+1), out, "Permission denied")
		// The free failures are free: each of the three got to authenticate.
		mustContain(t, fmt.Sprintf("failure %d prompts", i+1), c.prompts(), "Password", "Verification code")
	}
	// The connection end is what counts the failure; it is then audited.
	w.waitAudit("conn.denied", 3, 10*time.Second)

	// Now the source is penalised: even the right password and code are
	// refused before authentication.
	yin.answerGood()
	out, err := yin.jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("a penalised source got in:\n%s", out)
	}
	mustContainAny(t, "penalised ssh", out, "kex_exchange_identification", "Connection closed", "Connection reset")
	mustNotContain(t, "penalised ssh", out, "must-not-run", "Permission denied")
	if p := yin.prompts(); strings.Contains(p, "Password") {
		t.Fatalf("a penalised source was asked for a password:\n%s", p)
	}
	mustBeRefused(t, "raw connection from the penalised source", dialFrom(t, "127.0.0.1", w.bastionAddr), 2*time.Second)
	// The refused attempt never reached the user's failure count.
	mustContain(t, "xav", w.mustCLI("", "user", "show", "xav"), "failures:    2")

	// Another source is not penalised.
	mustGetBanner(t, "connection from 127.0.0.2", dialFrom(t, "127.0.0.2", w.bastionAddr))
	yin2 := yin.fromSource("127.0.0.2")
	yin2.answerGood()
	if out, err := yin2.jump("pve1", "echo other-source-ok"); err != nil {
		t.Fatalf("login from 127.0.0.2 while 127.0.0.1 is penalised: %v\n%s", err, out)
	}

	failed := w.auditRecords("--failed")
	n := 0
	var seen []string
	for _, r := range failed {
		seen = append(seen, r.Type)
		if r.Type == "login.failure" && strings.HasPrefix(r.Source, "127.0.0.1:") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("want 3 login.failure records from 127.0.0.1 in audit --failed, got %d: %v", n, seen)
	}
	t.Logf("source penalty: audit --failed types %v", seen)
	mustContain(t, "audit --failed table", w.mustCLI("", "audit", "--failed"), "login.failure", "xav", "yin")
}

// sessionWorld starts a bastion with a [session] section and one TOTP user.
func sessionWorld(t *testing.T, session string) (*world, *client) {
	w := newWorld(t, worldOpts{extraConfig: "\n[session]\n" + session + "\n"})
	w.start()
	c := w.newClient("ida")
	c.add("--group", "ops")
	c.importTOTP()
	return w, c
}

// closeReasons returns the reason fields of typ records for user, in order,
// once there is at least one (the server writes them as the connection ends,
// which may be after the client saw it end); none after 10s.
func (w *world) closeReasons(typ, user string) []string {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var out []string
		for _, r := range w.auditRecords("--type", typ, "--user", user) {
			out = append(out, r.Fields["reason"])
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
	}
}

// Idle and maximum session time run in separate worlds: with both on one
// server a slow login makes the maximum fire first. The reason is in the
// audit log; a plain jump (ssh -W) has no channel to print it on, and
// x/crypto/ssh cannot send a disconnect message with a reason.
func TestSessionTimeouts(t *testing.T) {
	t.Run("idle_timeout", func(t *testing.T) {
		w, ida := sessionWorld(t, `idle_timeout = "3s"`)
		// No byte moves after the first line, so the jump ends about 3s later
		// (3s, not less: under load the backend handshake can pause 2s).
		ida.answerGood()
		idle := ida.startJump("pve1", "echo idle-open; sleep 15; echo must-not-print")
		idle.waitFor(t, "idle-open", 20*time.Second)
		opened := time.Now()
		out, err := idle.wait(t, 10*time.Second)
		took := time.Since(opened)
		if err == nil {
			t.Fatalf("an idle session outlived idle_timeout and exited 0:\n%s", out)
		}
		mustNotContain(t, "idle session", out, "must-not-print")
		if took < 2500*time.Millisecond || took > 6*time.Second {
			t.Fatalf("idle session closed %v after its last byte, want about idle_timeout 3s", took)
		}
		t.Logf("session timeouts: idle session closed %v after its last byte (idle_timeout 3s)", took.Round(time.Millisecond))
		if r := w.closeReasons("conn.close", "ida"); len(r) != 1 || r[0] != "idle timeout" {
			t.Fatalf("conn.close reasons %q, want [idle timeout]", r)
		}
		if r := w.closeReasons("jump.close", "ida"); len(r) != 1 || !strings.Contains(r[0], "idle timeout") {
			t.Fatalf("jump.close reasons %q, want the server's cause", r)
		}
	})

	t.Run("max_session_time", func(t *testing.T) {
		w, ida := sessionWorld(t, `max_session_time = "4s"`)
		// Output every 200ms: never idle. max_session_time counts from the
		// login, so time from the ssh start.
		ida.answerGood()
		opened := time.Now()
		busy := ida.startJump("pve1", "echo busy-open; i=0; while [ $i -lt 75 ]; do echo tick; sleep 0.2; i=$((i+1)); done; echo must-not-print")
		out, err := busy.wait(t, 15*time.Second)
		took := time.Since(opened)
		if err == nil {
			t.Fatalf("a session outlived max_session_time and exited 0:\n%s", out)
		}
		mustContain(t, "busy session", out, "busy-open", "tick")
		mustNotContain(t, "busy session", out, "must-not-print")
		if took < 3500*time.Millisecond || took > 8*time.Second {
			t.Fatalf("busy session closed %v after the ssh started, want about max_session_time 4s:\n%s", took, out)
		}
		t.Logf("session timeouts: busy session closed %v after the ssh started (max_session_time 4s)", took.Round(time.Millisecond))
		if r := w.closeReasons("conn.close", "ida"); len(r) != 1 || r[0] != "maximum session time reached" {
			t.Fatalf("conn.close reasons %q, want [maximum session time reached]", r)
		}
		if r := w.closeReasons("jump.close", "ida"); len(r) != 1 || !strings.Contains(r[0], "maximum session time") {
			t.Fatalf("jump.close reasons %q, want the server's cause", r)
		}
	})

}
