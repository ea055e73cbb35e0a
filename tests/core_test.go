// Issue 2: the core jump behind publickey + Password + Verification code.
package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// coreWorld starts one bastion shared by the core tests' distinct users.
func coreWorld(t *testing.T) *world {
	w := newWorld(t, worldOpts{})
	w.start()
	return w
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Fatalf("%s: want %q in:\n%s", what, want, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Fatalf("%s: did not want %q in:\n%s", what, b, got)
		}
	}
}

func TestCoreLogins(t *testing.T) {
	w := coreWorld(t)
	alice := w.newClient("alice")
	alice.add("--group", "ops")
	alice.importTOTP("12345678", "23456789")

	t.Run("success", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.jump("pve1", "echo hello-from-backend")
		if err != nil {
			t.Fatalf("jump failed: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "hello-from-backend")
		p := alice.prompts()
		// Two rounds in this order, exactly as sshd + PAM ask.
		iPw, iCode := strings.Index(p, "Password: "), strings.Index(p, "Verification code: ")
		if iPw < 0 || iCode < iPw {
			t.Fatalf("prompts not Password then Verification code:\n%s", p)
		}
	})

	t.Run("wrong password still asks for the code", func(t *testing.T) {
		code := alice.nextCode()
		alice.answer("not-the-password", code)
		out, err := alice.jump("pve1", "echo must-not-run")
		if err == nil {
			t.Fatalf("login with a wrong password succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "Permission denied")
		mustNotContain(t, "client output", out, "must-not-run", "wrong password")
		mustContain(t, "prompts", alice.prompts(), "Password: ", "Verification code: ")
		// The code was not consumed by the failed login: it still works.
		alice.answer(alice.password, code)
		if out, err := alice.jump("pve1", "true"); err != nil {
			t.Fatalf("the unspent code was refused after a wrong-password login: %v\n%s", err, out)
		}
	})

	t.Run("wrong code", func(t *testing.T) {
		alice.answer(alice.password, "000000")
		out, err := alice.jump("pve1", "echo must-not-run")
		if err == nil {
			t.Fatalf("wrong code accepted:\n%s", out)
		}
		mustContain(t, "client output", out, "Permission denied")
	})

	t.Run("replayed code", func(t *testing.T) {
		code := alice.answerGood()
		if out, err := alice.jump("pve1", "true"); err != nil {
			t.Fatalf("first use: %v\n%s", err, out)
		}
		alice.answer(alice.password, code)
		out, err := alice.jump("pve1", "echo must-not-run")
		if err == nil {
			t.Fatalf("replayed code accepted:\n%s", out)
		}
		mustContain(t, "client output", out, "Permission denied")
	})

	t.Run("recovery code once", func(t *testing.T) {
		alice.answer(alice.password, "12345678")
		if out, err := alice.jump("pve1", "true"); err != nil {
			t.Fatalf("recovery code refused: %v\n%s", err, out)
		}
		out, err := alice.jump("pve1", "echo must-not-run")
		if err == nil {
			t.Fatalf("recovery code accepted twice:\n%s", out)
		}
		list := w.mustCLI("", "user", "show", "alice")
		mustContain(t, "user show", list, "recovery:    1 unused")
	})

	// Three failures above (wrong password, wrong code, replay) would lock
	// alice; successes in between reset the count, so she is not locked.
	t.Run("not locked by interleaved failures", func(t *testing.T) {
		alice.answerGood()
		if out, err := alice.jump("pve1", "true"); err != nil {
			t.Fatalf("login: %v\n%s", err, out)
		}
	})

	t.Run("target not allowed", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.jump("db", "echo must-not-run")
		if err == nil {
			t.Fatalf("jump to a target of another group succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "administratively prohibited")
	})

	t.Run("unknown target is no open proxy", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.ssh("-J", alice.jumpSpec(), "-p", "9", w.backendUser+"@127.0.0.2", "true")
		if err == nil {
			t.Fatalf("jump to an unconfigured address succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "administratively prohibited")
	})

	t.Run("target down", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.jump("down", "true")
		if err == nil {
			t.Fatalf("jump to a down target succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "connection refused", "target down")
	})

	t.Run("no jump prints targets", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.ssh(alice.name+"@127.0.0.1", "-p", port(w.bastionAddr))
		if err != nil {
			t.Fatalf("ssh to the bastion: %v\n%s", err, out)
		}
		mustContain(t, "menu", out, "Targets you may reach", "pve1", "down")
		mustNotContain(t, "menu", out, "  db ")
	})

	t.Run("exec is refused", func(t *testing.T) {
		alice.answerGood()
		out, err := alice.ssh(alice.name+"@127.0.0.1", "-p", port(w.bastionAddr), "id")
		if err == nil {
			t.Fatalf("exec on the bastion exited 0:\n%s", out)
		}
		mustContain(t, "exec", out, "runs no commands")
		mustNotContain(t, "exec", out, "uid=")
	})
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func TestKeyRequired(t *testing.T) {
	w := coreWorld(t)
	carol := w.newClient("carol")
	carol.add("--group", "ops")
	carol.importTOTP()
	stranger := w.newClient("stranger") // a key the bastion does not know

	t.Run("unknown key", func(t *testing.T) {
		carol.answerGood()
		// carol's name, stranger's key
		out, err := stranger.ssh("-J", carol.jumpSpec(), w.backendUser+"@pve1", "true")
		if err == nil {
			t.Fatalf("login with an unknown key succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "Permission denied (publickey)")
		if p := stranger.prompts(); strings.Contains(p, "Password") {
			t.Fatalf("password asked before the key was accepted:\n%s", p)
		}
	})

	t.Run("no key", func(t *testing.T) {
		cfg := filepath.Join(w.dir, "ssh_config_nokey")
		os.WriteFile(cfg, []byte("Host *\n  IdentityFile none\n  IdentitiesOnly yes\n  IdentityAgent none\n  PubkeyAuthentication no\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  NumberOfPasswordPrompts 1\n"), 0o600)
		carol.answerGood()
		out, err := runCtx(30e9, carol.env(), "ssh", "-F", cfg, "-J", carol.jumpSpec(), w.backendUser+"@pve1", "true")
		if err == nil {
			t.Fatalf("login without a key succeeded:\n%s", out)
		}
		mustContain(t, "client output", out, "Permission denied (publickey)")
		if p := carol.prompts(); strings.Contains(p, "Password") {
			t.Fatalf("password asked without a key:\n%s", p)
		}
	})
}

func TestLockoutAndUnlock(t *testing.T) {
	w := coreWorld(t)
	dave := w.newClient("dave")
	dave.add("--group", "ops")
	dave.importTOTP()
	for i := 1; i <= 3; i++ {
		dave.answer(dave.password, "000000")
		if out, err := dave.jump("pve1", "true"); err == nil {
			t.Fatalf("failure %d: wrong code accepted:\n%s", i, out)
		}
	}
	// Locked now: even the right password and a fresh code are refused, with a message.
	dave.answerGood()
	out, err := dave.jump("pve1", "echo must-not-run")
	if err == nil {
		t.Fatalf("locked user got in:\n%s", out)
	}
	mustContain(t, "locked message", out, "locked", "Contact an administrator")
	mustContain(t, "user list", w.mustCLI("", "user", "list"), "locked (admin)")

	w.mustCLI("", "user", "unlock", "dave")
	dave.answerGood()
	if out, err := dave.jump("pve1", "echo after-unlock"); err != nil {
		t.Fatalf("login after unlock: %v\n%s", err, out)
	} else {
		mustContain(t, "output", out, "after-unlock")
	}
}

func TestHOTPUser(t *testing.T) {
	w := coreWorld(t)
	erin := w.newClient("erin")
	erin.add("--group", "ops")
	secret := randomSecret(t)
	ga := filepath.Join(w.dir, "ga_erin")
	os.WriteFile(ga, []byte(secret+"\n\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n"), 0o600)
	w.mustCLI("", "user", "import-otp", "erin", ga)
	mustContain(t, "user list", w.mustCLI("", "user", "list"), "HOTP")

	// Counter 1 is next; counter 2 is within the look-ahead window.
	erin.answer(erin.password, hotp(t, secret, 2))
	if out, err := erin.jump("pve1", "true"); err != nil {
		t.Fatalf("HOTP code within look-ahead refused: %v\n%s", err, out)
	}
	// The counter moved past 2: counter 1 and 2 are now refused, 3 works.
	for _, ctr := range []uint64{1, 2} {
		erin.answer(erin.password, hotp(t, secret, ctr))
		if out, err := erin.jump("pve1", "true"); err == nil {
			t.Fatalf("HOTP counter %d accepted after the counter moved past it:\n%s", ctr, out)
		}
	}
	w.mustCLI("", "user", "unlock", "erin")
	erin.answer(erin.password, hotp(t, secret, 3))
	if out, err := erin.jump("pve1", "true"); err != nil {
		t.Fatalf("next HOTP code refused: %v\n%s", err, out)
	}
}

func TestFileCopyThroughJump(t *testing.T) {
	w := coreWorld(t)
	fred := w.newClient("fred")
	fred.add("--group", "ops")
	fred.importTOTP()
	src := filepath.Join(w.dir, "payload.bin")
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	os.WriteFile(src, data, 0o600)
	want := sha256.Sum256(data)

	t.Run("scp -J", func(t *testing.T) {
		dst := filepath.Join(w.dir, "scp-copy.bin")
		fred.answerGood()
		out, err := runCtx(60e9, fred.env(), "scp", "-F", fred.config, "-J", fred.jumpSpec(), src, w.backendUser+"@pve1:"+dst)
		if err != nil {
			t.Fatalf("scp: %v\n%s", err, out)
		}
		got, _ := os.ReadFile(dst)
		if sha256.Sum256(got) != want {
			t.Fatalf("scp copy differs: %d bytes", len(got))
		}
	})
	t.Run("sftp -J", func(t *testing.T) {
		dst := filepath.Join(w.dir, "sftp-copy.bin")
		batch := filepath.Join(w.dir, "sftp-batch")
		os.WriteFile(batch, []byte(fmt.Sprintf("put %s %s\nget %s %s.back\n", src, dst, dst, dst)), 0o600)
		fred.answerGood()
		out, err := runCtx(60e9, fred.env(), "sftp", "-F", fred.config, "-J", fred.jumpSpec(), "-b", batch, w.backendUser+"@pve1")
		if err != nil {
			t.Fatalf("sftp: %v\n%s", err, out)
		}
		for _, p := range []string{dst, dst + ".back"} {
			got, _ := os.ReadFile(p)
			if sha256.Sum256(got) != want {
				t.Fatalf("sftp copy %s differs: %d bytes", p, len(got))
			}
		}
	})
}

func TestSSHConfigOutput(t *testing.T) {
	w := coreWorld(t)
	gina := w.newClient("gina")
	gina.add("--group", "ops")
	gina.importTOTP()
	out := w.mustCLI("", "ssh-config", "gina", "--host", "127.0.0.1", "--port", port(w.bastionAddr))
	mustContain(t, "ssh-config", out, "Host bastion", "Host pve1", "ProxyJump bastion", "Host down")
	mustNotContain(t, "ssh-config", out, "Host db")
	// Use it as the client config, with the test's key settings after it.
	gina.writeConfig(out + "\n")
	gina.answerGood()
	res, err := gina.ssh(w.backendUser+"@pve1", "echo via-generated-config")
	if err != nil {
		t.Fatalf("ssh -F with the generated config: %v\n%s\nconfig:\n%s", err, res, out)
	}
	mustContain(t, "output", res, "via-generated-config")
}
