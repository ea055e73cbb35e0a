// Issue 13: [auth] password_plus_code with the real OpenSSH client, which
// sends the password method when told to prefer it.
package tests

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPasswordPlusCodeOpenSSH(t *testing.T) {
	w := newWorld(t, worldOpts{authExtra: "password_plus_code = true\npassword_plus_code_groups = [\"ops\"]"})
	w.start()
	ned := w.newClient("ned")
	ned.add("--group", "ops")
	ned.importTOTP()
	// Only the bastion hop uses the password method (the backend takes the key).
	ned.writeConfig("Host 127.0.0.1\n  PreferredAuthentications publickey,password\n\n")
	answer := func(v string) {
		ned.answer("unused", "unused")
		if err := os.WriteFile(filepath.Join(ned.dir, "password_plus_code"), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code := ned.nextCode()
	answer(ned.password + code)
	out, err := ned.jump("pve1", "echo plus-code-in")
	if err != nil {
		t.Fatalf("ssh -J with password+code: %v\n%s\nprompts:\n%s", err, out, ned.prompts())
	}
	mustContain(t, "output", out, "plus-code-in")
	mustContain(t, "prompts", ned.prompts(), "'s password: ")
	mustNotContain(t, "prompts", ned.prompts(), "Verification code")
	// The same value again: the code is spent.
	answer(ned.password + code)
	if out, err := ned.jump("pve1", "echo must-not-run"); err == nil {
		t.Fatalf("replayed password+code accepted:\n%s", out)
	}
	recs := w.auditRecords("--type", "login.success", "--user", "ned")
	if len(recs) != 1 {
		t.Fatalf("%d login.success records for ned, want 1", len(recs))
	}
}
