// Issue 9, finding 1: bytes from the network are not text. A non-UTF-8 user
// name, client version or jump host must not stop the audit log.
package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// xclient is an x/crypto SSH client config for c, which can send what
// OpenSSH will not: any user name, any version string.
func (c *client) xclient(user, version string) *ssh.ClientConfig {
	c.w.t.Helper()
	pem, err := os.ReadFile(c.key)
	if err != nil {
		c.w.t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		c.w.t.Fatal(err)
	}
	code := ""
	return &ssh.ClientConfig{
		User:          user,
		ClientVersion: version,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer),
			ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
				var out []string
				for _, q := range qs {
					if strings.Contains(q, "Password") {
						out = append(out, c.password)
					} else {
						if code == "" {
							code = c.nextCode()
						}
						out = append(out, code)
					}
				}
				return out, nil
			})},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the test's own bastion on loopback
		Timeout:         20 * time.Second,
	}
}

func TestHostileStringsKeepTheAuditLog(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	ann := w.newClient("ann")
	ann.add("--group", "ops")
	ann.importTOTP()

	// Unauthenticated: refused early, before anything is written about them.
	for _, tc := range []struct{ user, version string }{
		{"x\xffy", ""},
		{"ann", "SSH-2.0-evil\xff"},
		{strings.Repeat("\x01", 1000), ""},
	} {
		if c, err := ssh.Dial("tcp", w.bastionAddr, ann.xclient(tc.user, tc.version)); err == nil {
			c.Close()
			t.Fatalf("login with user %.20q version %q succeeded", tc.user, tc.version)
		}
	}

	// Authenticated: a jump to a host that is not UTF-8, and a huge one.
	c, err := ssh.Dial("tcp", w.bastionAddr, ann.xclient("ann", ""))
	if err != nil {
		t.Fatalf("x/crypto login: %v\n%s", err, w.serverLog)
	}
	for _, host := range []string{"pve\xff", strings.Repeat("h\xfe", 20<<10)} {
		if nc, err := c.Dial("tcp", host+":22"); err == nil {
			nc.Close()
			t.Fatalf("jump to %.10q opened", host)
		} else if len(err.Error()) > 2048 {
			t.Fatalf("refusal of %d bytes echoed to the client", len(err.Error()))
		}
	}
	c.Close()

	// Real logins still work, verify passes, the server restarts.
	ann.answerGood()
	if out, err := ann.jump("pve1", "true"); err != nil {
		t.Fatalf("login after hostile input: %v\n%s\n%s", err, out, w.serverLog)
	}
	mustContain(t, "verify", w.mustCLI("", "audit", "verify"), "intact")
	w.stop()
	w.start()
	ann.answerGood()
	if out, err := ann.jump("pve1", "true"); err != nil {
		t.Fatalf("login after restart: %v\n%s", err, out)
	}
	w.stop()
	mustContain(t, "verify after restart", w.mustCLI("", "audit", "verify"), "intact")

	refused := w.auditRecords("--type", "jump.refused")
	if len(refused) != 2 || refused[0].Target != `pve\xff` || !strings.Contains(refused[1].Target, "…[cut ") {
		t.Fatalf("jump.refused records: %+v", refused)
	}
	data, err := os.ReadFile(filepath.Join(w.dir, "state", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `\ufffd`) || strings.Contains(string(data), "\x01\x01") {
		t.Fatal("an unclean string reached the audit log")
	}
}
