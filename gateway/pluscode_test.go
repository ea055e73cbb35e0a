package gateway

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// plusCode logs user in with publickey, then one `password` request holding value.
func (ts *testServer) plusCode(user, value string) error {
	c, err := ts.dial(dialOpts{user: user, signers: []ssh.Signer{ts.keys[user]}, password: value})
	if err == nil {
		c.Close()
	}
	return err
}

func plusCodeOn(groups ...string) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth.PasswordPlusCode = true
		c.Auth.PasswordPlusCodeGroups = groups
	}
}

func TestPasswordPlusCode(t *testing.T) {
	ts := newTestServer(t, plusCodeOn("ops"))

	t.Run("success", func(t *testing.T) {
		if err := ts.plusCode("alice", password+ts.code(0)); err != nil {
			t.Fatalf("password+code: %v", err)
		}
		if ts.audit.count("login.success", "ok") != 1 || ts.audit.count("auth.password_plus_code", "ok") != 1 || ts.audit.count("auth.otp", "ok") != 1 {
			t.Fatalf("audit: %d login.success, %d auth.password_plus_code ok, %d auth.otp ok; want 1 each",
				ts.audit.count("login.success", "ok"), ts.audit.count("auth.password_plus_code", "ok"), ts.audit.count("auth.otp", "ok"))
		}
	})
	t.Run("replay", func(t *testing.T) {
		if err := ts.plusCode("alice", password+ts.code(0)); err == nil {
			t.Fatal("the code that just passed was accepted again")
		}
		if err := ts.plusCode("alice", password+ts.code(1)); err != nil {
			t.Fatalf("the next code after a refused replay: %v", err)
		}
	})
	t.Run("wrong code", func(t *testing.T) {
		before := ts.audit.count("login.failure", "fail")
		if err := ts.plusCode("bob", password+"000000"); err == nil {
			t.Fatal("wrong code accepted")
		}
		if err := ts.plusCode("bob", "wrong"+ts.code(0)); err == nil {
			t.Fatal("wrong password accepted")
		}
		if err := ts.plusCode("bob", ts.code(0)); err == nil {
			t.Fatal("a code alone accepted")
		}
		if got := ts.audit.count("login.failure", "fail") - before; got != 3 {
			t.Fatalf("%d login.failure records, want 3", got)
		}
		// lockout_after = 3: bob is locked now, even with the right value.
		if err := ts.plusCode("bob", password+ts.code(1)); err == nil {
			t.Fatal("locked user got in with password+code")
		}
		if ts.audit.count("lockout", "fail") != 1 {
			t.Fatalf("%d lockout records, want 1", ts.audit.count("lockout", "fail"))
		}
		if _, err := ts.login("bob", 1); err == nil {
			t.Fatal("locked user got in with the prompts")
		}
	})
}

func TestPasswordPlusCodeRefused(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		ts := newTestServer(t, nil)
		err := ts.plusCode("alice", password+ts.code(0))
		if err == nil || !strings.Contains(err.Error(), "no supported methods remain") || ts.audit.count("auth.password", "") != 0 {
			t.Fatalf("password+code with the option off: %v, %d auth.password records; want no password method offered",
				err, ts.audit.count("auth.password", ""))
		}
		c, err := ts.login("alice", 0)
		if err != nil {
			t.Fatalf("the unspent code with the prompts: %v", err)
		}
		c.Close()
	})
	t.Run("group not allowed", func(t *testing.T) {
		ts := newTestServer(t, plusCodeOn("netops"))
		if err := ts.plusCode("alice", password+ts.code(0)); err == nil {
			t.Fatal("alice (ops) got in with password_plus_code_groups = [netops]")
		}
		if ts.audit.count("auth.password_plus_code", "fail") != 1 || ts.audit.count("auth.otp", "") != 0 {
			t.Fatalf("audit: %d auth.password_plus_code fail (want 1), %d auth.otp (want 0: no code checked)",
				ts.audit.count("auth.password_plus_code", "fail"), ts.audit.count("auth.otp", ""))
		}
		c, err := ts.login("alice", 0) // the code was not consumed
		if err != nil {
			t.Fatalf("alice with the prompts after the refusal: %v", err)
		}
		c.Close()
	})
}
