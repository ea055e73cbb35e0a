// Issue 14: recorded sessions through the bastion and short-lived
// certificates, against a real sshd that trusts only the bastion's user CA.
package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"bastion/ca"
	"bastion/recording"
)

// caBackend is an sshd with TrustedUserCAKeys and no authorized_keys at all.
type caBackend struct {
	addr, port, log, hostKey string
}

// recordedWorld starts a bastion whose targets rec (both), prod (session
// only, host_key in the config) and moved (a wrong host_key) are one sshd
// that trusts the bastion's CA; rec's key is pinned with `target trust`.
func recordedWorld(t *testing.T) (*world, *caBackend) {
	keyDir := t.TempDir()
	b := &caBackend{hostKey: filepath.Join(keyDir, "host_key")}
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", b.hostKey)
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(keyDir, "other"))
	hostPub, _ := os.ReadFile(b.hostKey + ".pub")
	otherPub, _ := os.ReadFile(filepath.Join(keyDir, "other.pub"))
	b.port = fmt.Sprint(freePort(t))
	b.addr = "127.0.0.1:" + b.port
	u := "root"
	if cur := os.Getenv("USER"); cur != "" && os.Geteuid() != 0 {
		u = cur
	}
	target := func(name, extra string) string {
		return fmt.Sprintf("\n[[target]]\nname = %q\naddress = %q\ngroups = [\"ops\"]\nlogins = [%q]\n%s", name, b.addr, u, extra)
	}
	w := newWorld(t, worldOpts{extraConfig: target("rec", "") +
		target("prod", fmt.Sprintf("mode = \"session\"\nhost_key = %q\n", strings.TrimSpace(string(hostPub)))) +
		target("moved", fmt.Sprintf("host_key = %q\n", strings.TrimSpace(string(otherPub))))})
	if w.backendUser != u {
		t.Fatalf("backend user %s, logins %s", w.backendUser, u)
	}
	// The exact backend setup `bastion ca show` prints.
	show := w.mustCLI("", "ca", "show")
	var caLine string
	for _, l := range strings.Split(show, "\n") {
		if strings.HasPrefix(l, "ssh-ed25519 ") {
			caLine = l
		}
	}
	mustContain(t, "ca show", show, "\nTrustedUserCAKeys /etc/ssh/bastion_user_ca.pub\n", "/etc/ssh/sshd_config.d/bastion.conf")
	caFile := filepath.Join(w.dir, "bastion_user_ca.pub")
	os.WriteFile(caFile, []byte(caLine+"\n"), 0o644)
	conf := w.backendConfig("cabackend", "127.0.0.1", freePortFrom(t, b.port))
	raw, _ := os.ReadFile(conf)
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "HostKey "):
			l = "HostKey " + b.hostKey
		case strings.HasPrefix(l, "AuthorizedKeysFile "):
			l = "AuthorizedKeysFile none"
		}
		lines = append(lines, l)
	}
	lines = append(lines, "TrustedUserCAKeys "+caFile, "LogLevel VERBOSE")
	os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o600)
	b.log = filepath.Join(w.dir, "cabackend.log")
	sshd := exec.Command(sshdPath(), "-D", "-E", b.log, "-f", conf)
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sshd.Process.Kill(); sshd.Wait() })
	waitListening(t, b.addr, func() string { l, _ := os.ReadFile(b.log); return string(l) })

	// Pinning rec's key: a wrong fingerprint stores nothing, the right one does.
	fp := strings.Fields(run(t, "ssh-keygen", "-lf", b.hostKey+".pub"))[1]
	if out, err := w.cli("", "target", "trust", "rec", "--fingerprint", "SHA256:wrong"); err == nil {
		t.Fatalf("trust with a wrong fingerprint succeeded:\n%s", out)
	}
	if out, err := w.cli("no\n", "target", "trust", "rec"); err == nil || !strings.Contains(out, fp) {
		t.Fatalf("trust without confirmation: %v\n%s", err, out)
	}
	mustContain(t, "trust", w.mustCLI("", "target", "trust", "rec", "--fingerprint", fp), fp, "stored")
	if recs := w.auditRecords("--type", "target.trust"); len(recs) != 1 || recs[0].Target != "rec" || recs[0].Fields["fingerprint"] != fp {
		t.Fatalf("target.trust audit: %+v", recs)
	}
	w.start()
	return w, b
}

// freePortFrom returns port (already chosen) as an int.
func freePortFrom(t *testing.T, port string) int {
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *caBackend) logText() string {
	raw, _ := os.ReadFile(b.log)
	return string(raw)
}

// sshSplit runs ssh with stdin and returns stdout, stderr and the exit code.
func (c *client) sshSplit(stdin string, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", c.config}, args...)...)
	cmd.Env = c.env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.w.t.Fatalf("ssh: %v", err)
	}
	return out.String(), errb.String(), code
}

// bastionArgs are the args to reach the bastion itself as c.
func (c *client) bastionArgs() []string {
	return []string{"-p", port(c.w.bastionAddr), c.name + "@127.0.0.1"}
}

func (w *world) recordingPath(name string) string {
	return filepath.Join(w.dir, "state", "recordings", name)
}

// sessionRecs returns the session.open and session.close records of the
// session whose open record satisfies match.
func (w *world) lastSession(t *testing.T) (open, close auditRec) {
	t.Helper()
	recs := w.auditRecords("--type", "session")
	for _, r := range recs {
		if r.Type == "session.open" {
			open = r
		}
	}
	for _, r := range recs {
		if r.Type == "session.close" && r.Fields["session_id"] == open.Fields["session_id"] {
			close = r
		}
	}
	if open.Type == "" {
		t.Fatalf("no session.open in %v", types(recs))
	}
	return open, close
}

func TestRecordedSessions(t *testing.T) {
	w, b := recordedWorld(t)
	alice := w.newClient("alice")
	alice.add("--group", "ops")
	alice.importTOTP()

	t.Run("exec passes stdout, stderr and the exit status exactly", func(t *testing.T) {
		alice.answerGood()
		out, errOut, code := alice.sshSplit("", append(alice.bastionArgs(), "root@rec", "echo to-out; echo to-err >&2; exit 7")...)
		if out != "to-out\n" || code != 7 || !strings.Contains(errOut, "to-err\n") {
			t.Fatalf("stdout %q stderr %q code %d", out, errOut, code)
		}
		open, close := w.lastSession(t)
		if open.User != "alice" || open.Target != "rec" || open.Fields["login"] != w.backendUser || open.Fields["command"] != "echo to-out; echo to-err >&2; exit 7" {
			t.Errorf("session.open = %+v", open)
		}
		if close.Fields["exit_status"] != "7" {
			t.Errorf("session.close = %+v", close)
		}
		// The backend's own log names the person and the session.
		want := fmt.Sprintf("ID alice session=%s (serial %s)", open.Fields["session_id"], open.Fields["serial"])
		mustContain(t, "backend log", b.logText(), want)
		// Recorded: the command in the header, both streams, the exit status.
		_, evs, err := readCast(w.recordingPath(close.Fields["recording"]))
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "recording", outputOf(evs), "to-out\n", "to-err\n")
		if last := evs[len(evs)-1]; last.Kind != "m" || last.Data != "exit-status 7" {
			t.Errorf("last event %+v, want the exit status marker", last)
		}
	})

	var interactive string // what the client saw of the pty session
	t.Run("interactive pty session is recorded exactly", func(t *testing.T) {
		alice.answerGood()
		input := "echo hello-$((6*7))\nexit 5\n"
		out, errOut, code := alice.sshSplit(input, append([]string{"-tt"}, append(alice.bastionArgs(), "rec")...)...)
		interactive = out
		if code != 5 || !strings.Contains(out, "hello-42") {
			t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
		}
		_, close := w.lastSession(t)
		path := w.recordingPath(close.Fields["recording"])
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if close.Fields["recording_sha256"] != hex.EncodeToString(sum[:]) || close.Fields["recording_size"] != fmt.Sprint(len(raw)) {
			t.Fatalf("audit says sha %s size %s; file has %x, %d bytes", close.Fields["recording_sha256"], close.Fields["recording_size"], sum, len(raw))
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("recording mode %04o", st.Mode().Perm())
		}
		h, evs, err := readCast(path)
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 2 || h.Width < 1 {
			t.Errorf("header %+v", h)
		}
		if got := outputOf(evs); got != out {
			t.Fatalf("recording output differs from what the client saw:\nrecorded %q\nclient   %q", got, out)
		}
		var typed strings.Builder
		for _, e := range evs {
			if e.Kind == "i" {
				typed.WriteString(e.Data)
			}
		}
		if typed.String() != input {
			t.Errorf("recorded input %q, want %q", typed.String(), input)
		}
		// Debian's asciinema reads it and shows the same output.
		asciinemaCat(t, path, out)
	})

	t.Run("sessions lists and replay plays, refusing an altered recording", func(t *testing.T) {
		if interactive == "" {
			t.Skip("needs the interactive session")
		}
		open, _ := w.lastSession(t)
		id := open.Fields["session_id"]
		list := w.mustCLI("", "sessions", "--user", "alice")
		mustContain(t, "sessions", list, "ID  ", id, "alice", w.backendUser+"@rec", "5")
		if got := w.mustCLI("", "sessions", "--grep", "HELLO-42"); !strings.Contains(got, id) || strings.Count(got, "\n") != 2 {
			t.Fatalf("sessions --grep: want only %s:\n%s", id, got)
		}
		if got := w.mustCLI("", "sessions", "--target", "nope"); strings.Count(got, "\n") != 1 {
			t.Fatalf("sessions --target nope listed sessions:\n%s", got)
		}
		text := w.mustCLI("", "replay", id, "--text")
		mustContain(t, "replay --text", text, "hello-42\n")
		mustNotContain(t, "replay --text", text, "\x1b", "\r")
		if got := w.mustCLI("", "replay", id, "--speed", "1000", "--idle-limit", "1ms"); got != interactive {
			t.Fatalf("replay differs from what the client saw:\n%q\n%q", got, interactive)
		}
		// Change one byte of the recording: replay names it altered.
		path := w.recordingPath(open.Fields["recording"])
		raw, _ := os.ReadFile(path)
		os.WriteFile(path, bytes.Replace(raw, []byte("hello-42"), []byte("hello-43"), 1), 0o600)
		if out, err := w.cli("", "replay", id, "--text"); err == nil || !strings.Contains(out, "altered") {
			t.Fatalf("replay of an altered recording: %v\n%s", err, out)
		}
		os.WriteFile(path, raw, 0o600)
		alice.answerGood()
		menu, _, _ := alice.sshSplit("", alice.bastionArgs()...)
		mustContain(t, "menu", menu, "Recorded session: ssh -t alice@<this host> rec")
		cfg := w.mustCLI("", "ssh-config", "alice", "--host", "127.0.0.1")
		mustContain(t, "ssh-config", cfg, "CertificateFile ~/.ssh/id_ed25519-cert.pub", "ssh bastion cert", "recorded sessions only:  ssh -t bastion prod")
	})

	t.Run("a changed host key refuses the session and is audited", func(t *testing.T) {
		alice.answerGood()
		_, errOut, code := alice.sshSplit("", append(alice.bastionArgs(), "moved", "echo must-not-run")...)
		if code == 0 || !strings.Contains(errOut, "does not match the pinned key") {
			t.Fatalf("code %d stderr %q", code, errOut)
		}
		recs := w.auditRecords("--type", "target.hostkey.mismatch")
		if len(recs) != 1 || recs[0].Target != "moved" || recs[0].User != "alice" || !strings.HasPrefix(recs[0].Fields["presented"], "SHA256:") {
			t.Fatalf("mismatch audit %+v", recs)
		}
	})

	t.Run("mode session refuses ssh -J and allows recorded sessions", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.jump("prod", "echo must-not-run")
		if err == nil || !strings.Contains(out, "allows only recorded sessions") || strings.Contains(out, "must-not-run") {
			t.Fatalf("jump to a session-only target: %v\n%s", err, out)
		}
		alice.answerGood()
		out, _, code := alice.sshSplit("", append(alice.bastionArgs(), "prod", "echo on-prod")...)
		if out != "on-prod\n" || code != 0 {
			t.Fatalf("session on prod: %q %d", out, code)
		}
	})

	t.Run("agent and port forwarding are refused on a session", func(t *testing.T) {
		// An agent for the client to offer.
		sock := filepath.Join(w.dir, "agent.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() { // an empty but real agent (x/crypto's keyring)
			keyring := agent.NewKeyring()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { agent.ServeAgent(keyring, c); c.Close() }()
			}
		}()
		alice.answerGood()
		out, errOut, _ := alice.sshSplit("echo agent=${SSH_AUTH_SOCK:-none}\nexit\n",
			append([]string{"-v", "-tt", "-o", "ForwardAgent=yes", "-o", "IdentityAgent=" + sock}, append(alice.bastionArgs(), "rec")...)...)
		if !strings.Contains(out, "agent=none") {
			t.Fatalf("agent forwarded to the backend?\n%s\n%s", out, errOut)
		}
		// The client did ask (before its exec, so the gateway refused it).
		mustContain(t, "client", errOut, "Requesting authentication agent forwarding")
		alice.answerGood()
		_, errOut, code := alice.sshSplit("", append([]string{"-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"}, append(alice.bastionArgs(), "rec", "echo must-not-run")...)...)
		if code == 0 || !strings.Contains(errOut, "forwarding failed") {
			t.Fatalf("remote forward: code %d stderr %q", code, errOut)
		}
	})

	t.Run("cert: ssh -J with only the certificate, refused once expired", func(t *testing.T) {
		// Without a certificate the backend knows no key of alice's.
		alice.answerGood()
		if out, err := alice.jump("rec", "echo must-not-run"); err == nil {
			t.Fatalf("jump without a certificate worked:\n%s", out)
		}
		alice.answerGood()
		out, errOut, code := alice.sshSplit("", append(alice.bastionArgs(), "cert")...)
		if code != 0 || !strings.HasPrefix(out, "ssh-ed25519-cert-v01@openssh.com ") {
			t.Fatalf("cert: code %d stdout %q stderr %q", code, out, errOut)
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		cert := pk.(*ssh.Certificate)
		pub, _ := os.ReadFile(alice.key + ".pub")
		mine, _, _, _, _ := ssh.ParseAuthorizedKey(pub)
		if !bytes.Equal(cert.Key.Marshal(), mine.Marshal()) || cert.KeyId != "alice" || strings.Join(cert.ValidPrincipals, ",") != w.backendUser {
			t.Fatalf("cert key id %q principals %q", cert.KeyId, cert.ValidPrincipals)
		}
		if d := time.Until(time.Unix(int64(cert.ValidBefore), 0)); d < 7*time.Hour || d > 8*time.Hour+time.Minute {
			t.Errorf("cert valid for %v, want 8h", d)
		}
		issued := w.auditRecords("--type", "cert.issued")
		if len(issued) != 1 || issued[0].Fields["serial"] != fmt.Sprint(cert.Serial) {
			t.Fatalf("cert.issued %+v", issued)
		}
		os.WriteFile(alice.key+"-cert.pub", []byte(out), 0o600)
		alice.answerGood()
		jout, err := alice.jump("rec", "echo via-cert")
		if err != nil || !strings.Contains(jout, "via-cert") {
			t.Fatalf("jump with the certificate: %v\n%s", err, jout)
		}
		mustContain(t, "backend log", b.logText(), fmt.Sprintf("ID alice (serial %d)", cert.Serial))

		// The same key certified by the same CA, but expired (injected clock).
		expired := signWithBastionCA(t, w, func(c *ca.CA) (*ssh.Certificate, error) {
			return c.JumpCert(ca.JumpRequest{Key: mine, User: "alice", Principals: []string{w.backendUser}, TTL: 8 * time.Hour})
		}, -9*time.Hour)
		os.WriteFile(alice.key+"-cert.pub", ssh.MarshalAuthorizedKey(expired), 0o600)
		alice.answerGood()
		if jout, err := alice.jump("rec", "echo must-not-run"); err == nil {
			t.Fatalf("an expired certificate worked:\n%s", jout)
		}
		os.Remove(alice.key + "-cert.pub")
	})

	t.Run("a session certificate is refused by sshd after ValidBefore", func(t *testing.T) {
		key := w.newKey("sessioncert")
		pub, _ := os.ReadFile(key + ".pub")
		k, _, _, _, _ := ssh.ParseAuthorizedKey(pub)
		try := func(offset time.Duration) (string, error) {
			cert := signWithBastionCA(t, w, func(c *ca.CA) (*ssh.Certificate, error) {
				return c.SessionCert(ca.SessionRequest{Key: k, User: "alice", SessionID: "test", Login: w.backendUser, Sources: []string{"127.0.0.1"}})
			}, offset)
			os.WriteFile(key+"-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o600)
			return runCtx(30*time.Second, nil, "ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
				"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-p", b.port, w.backendUser+"@127.0.0.1", "echo cert-ok")
		}
		if out, err := try(0); err != nil || !strings.Contains(out, "cert-ok") {
			t.Fatalf("a fresh session certificate was refused: %v\n%s", err, out)
		}
		if out, err := try(-SessionAge); err == nil {
			t.Fatalf("a session certificate past ValidBefore was accepted:\n%s", out)
		}
	})

	t.Run("window changes and signals pass through and are recorded", func(t *testing.T) {
		bc := alice.xcryptoDial(t)
		defer bc.Close()
		sess, err := bc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
		stdin, _ := sess.StdinPipe()
		out := &logBuffer{}
		sess.Stdout = out
		if err := sess.Start("rec"); err != nil {
			t.Fatal(err)
		}
		if err := sess.WindowChange(50, 132); err != nil {
			t.Fatal(err)
		}
		io.WriteString(stdin, "stty size; echo stty-\"done\"\n")
		waitFor(t, func() bool { return strings.Contains(out.String(), "stty-done") }, func() string { return out.String() })
		mustContain(t, "stty size after window-change", out.String(), "50 132")
		// The signal reaches the backend's sshd (which, unprivileged here,
		// declines to deliver it: it logs that it got it).
		if err := sess.Signal(ssh.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return strings.Contains(b.logText(), "session_signal_req") }, b.logText)
		io.WriteString(stdin, "exit 3\n")
		var ee *ssh.ExitError
		if err := sess.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 3 {
			t.Fatalf("exit: %v", err)
		}
		_, close := w.lastSession(t)
		// A command killed by a signal: the client gets exit-signal.
		killed, err := bc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := killed.Run("rec kill -KILL $$"); !errors.As(err, &ee) || ee.Signal() != "KILL" {
			t.Fatalf("killed command: %v", err)
		}
		if _, kc := w.lastSession(t); kc.Fields["exit_signal"] != "KILL" {
			t.Errorf("session.close %+v", kc.Fields)
		}
		_, evs, err := readCast(w.recordingPath(close.Fields["recording"]))
		if err != nil {
			t.Fatal(err)
		}
		resized := false
		for _, e := range evs {
			resized = resized || (e.Kind == "r" && e.Data == "132x50")
		}
		if !resized {
			t.Errorf("no resize event 132x50 in %+v", evs)
		}
	})

	t.Run("the size cap ends the session when on_max_size is end", func(t *testing.T) {
		orig, _ := os.ReadFile(w.cfgPath)
		w.reloadConfig(t, string(orig)+"\n[recording]\nmax_size = 4000\non_max_size = \"end\"\n")
		defer w.reloadConfig(t, string(orig))
		alice.answerGood()
		out, errOut, code := alice.sshSplit("", append(alice.bastionArgs(), "rec", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo not-reached")...)
		if code == 0 || strings.Contains(out, "not-reached") || !strings.Contains(errOut, "size cap") {
			t.Fatalf("code %d, %d bytes out, stderr %q", code, len(out), errOut)
		}
		_, close := w.lastSession(t)
		recs := w.auditRecords("--type", "session.recording")
		if len(recs) != 1 || recs[0].Fields["action"] != "end session" || close.Fields["recording_capped"] != "true" {
			t.Fatalf("session.recording %+v, close %+v", recs, close.Fields)
		}
		raw, _ := os.ReadFile(w.recordingPath(close.Fields["recording"]))
		if len(raw) > 4000 || fmt.Sprint(len(raw)) != close.Fields["recording_size"] {
			t.Fatalf("recording is %d bytes, audit says %s", len(raw), close.Fields["recording_size"])
		}
		if _, _, err := readCast(w.recordingPath(close.Fields["recording"])); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("kill -9 mid-session leaves a playable recording and a verifying audit chain", func(t *testing.T) {
		alice.answerGood()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", alice.config, "-tt"}, append(alice.bastionArgs(), "rec")...)...)
		cmd.Env = alice.env()
		stdin, _ := cmd.StdinPipe()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		io.WriteString(stdin, "echo before-$((40+2))\n")
		var path string
		deadline := time.Now().Add(30 * time.Second)
		for {
			open, _ := w.lastSession(t)
			if open.Fields["command"] == "" && open.Fields["recording"] != "" {
				path = w.recordingPath(open.Fields["recording"])
				if raw, _ := os.ReadFile(path); bytes.Contains(raw, []byte("before-42")) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the output never reached the recording; client saw %q", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Someone watches it live.
		open, _ := w.lastSession(t)
		follow := exec.CommandContext(ctx, bastionBin, "-c", w.cfgPath, "replay", open.Fields["session_id"], "--follow")
		watched := &logBuffer{}
		follow.Stdout = watched
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		defer follow.Wait()
		defer follow.Process.Kill()
		io.WriteString(stdin, "echo live-$((40+3))\n")
		for !strings.Contains(watched.String(), "live-43") {
			if time.Now().After(deadline) {
				t.Fatalf("replay --follow never showed the live output; it shows %q", watched.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		w.bastion.Process.Kill()
		w.bastion.Wait()
		w.bastion = nil
		_, evs, err := readCast(path)
		if err != nil {
			t.Fatalf("recording after kill -9: %v", err)
		}
		mustContain(t, "recording after kill -9", outputOf(evs), "before-42")
		asciinemaCat(t, path, "")
		mustContain(t, "audit verify", w.mustCLI("", "audit", "verify"), "intact")
	})

	t.Run("a recording that cannot be written refuses the session", func(t *testing.T) {
		if w.bastion == nil {
			w.start() // after the kill -9 above
		}
		// The server holds the directory open (os.Root); once it is gone no
		// file can be created in it.
		if err := os.RemoveAll(filepath.Join(w.dir, "state", "recordings")); err != nil {
			t.Fatal(err)
		}
		alice.answerGood()
		out, errOut, code := alice.sshSplit("", append(alice.bastionArgs(), "rec", "echo must-not-run")...)
		if code == 0 || strings.Contains(out, "must-not-run") || !strings.Contains(errOut, "cannot be recorded") {
			t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
		}
		recs := w.auditRecords("--type", "session.failed")
		if len(recs) == 0 || !strings.Contains(recs[len(recs)-1].Fields["reason"], "recording") {
			t.Fatalf("session.failed %+v", recs)
		}
	})
}

// xcryptoDial logs c in to the bastion with x/crypto's client.
func (c *client) xcryptoDial(t *testing.T) *ssh.Client {
	t.Helper()
	raw, err := os.ReadFile(c.key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	password, code := c.password, c.nextCode()
	kbd := answerPrompts(password, code)
	keys := c.w.bastionHostKeys(t)
	bc, err := ssh.Dial("tcp", c.w.bastionAddr, &ssh.ClientConfig{User: c.name, Timeout: 30 * time.Second,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer), ssh.KeyboardInteractive(kbd)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, k := range keys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return errors.New("unknown bastion host key")
		}})
	if err != nil {
		t.Fatalf("x/crypto login: %v", err)
	}
	return bc
}

// reloadConfig writes cfg and SIGHUPs the bastion, waiting for its config.reload record.
func (w *world) reloadConfig(t *testing.T, cfg string) {
	t.Helper()
	before := len(w.auditRecords("--type", "config.reload"))
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.bastion.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return len(w.auditRecords("--type", "config.reload")) > before }, func() string { return w.serverLog.String() })
}

// waitFor polls cond for up to 30s.
func waitFor(t *testing.T, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in 30s:\n%s", show())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SessionAge moves the clock back far enough that a session certificate
// (valid for two minutes) has expired now.
const SessionAge = 5 * time.Minute

// signWithBastionCA signs with the bastion's own CA key file at a clock moved by offset.
func signWithBastionCA(t *testing.T, w *world, sign func(*ca.CA) (*ssh.Certificate, error), offset time.Duration) *ssh.Certificate {
	t.Helper()
	signer, err := ca.LoadKey(filepath.Join(w.dir, "state", "user_ca_key"))
	if err != nil {
		t.Fatal(err)
	}
	c := ca.New(signer, ca.SerialsFunc(func() (uint64, error) { return 1 << 40, nil })) // far from the bastion's own
	c.Now = func() time.Time { return time.Now().Add(offset) }
	cert, err := sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func readCast(path string) (recording.Header, []recording.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return recording.Header{}, nil, err
	}
	defer f.Close()
	return recording.ReadAll(f)
}

func outputOf(evs []recording.Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == "o" {
			b.WriteString(e.Data)
		}
	}
	return b.String()
}

// asciinemaCat checks the recording with Debian's asciinema; want, if set,
// is the exact output it must print.
func asciinemaCat(t *testing.T, path, want string) {
	t.Helper()
	if _, err := exec.LookPath("asciinema"); err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			t.Fatal("asciinema is not installed (apt-get install asciinema)")
		}
		t.Log("asciinema not installed; checked with our parser only")
		return
	}
	// asciinema cat opens /dev/tty: run it on a raw pty, which passes
	// its output through unchanged.
	cmd := exec.Command("script", "-qec", "stty raw -echo; asciinema cat '"+path+"'", "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("asciinema cat: %v", err)
	}
	if want != "" && string(got) != want {
		t.Fatalf("asciinema cat differs from the client's output:\n%q\n%q", got, want)
	}
}
