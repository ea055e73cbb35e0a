// Issue 13: `bastion ssh-config --multiplex`: one 2FA login serves a burst
// of ssh runs and an Ansible ping of two targets.
package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSSHConfigMultiplex(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	oli := w.newClient("oli")
	oli.add("--group", "ops", "--group", "dba") // pve1 and db both reach the backend sshd
	oli.importTOTP()
	gen := w.mustCLI("", "ssh-config", "oli", "--host", "127.0.0.1", "--port", port(w.bastionAddr), "--multiplex",
		"--control-path", filepath.Join(w.dir, "cm-%C"))
	mustContain(t, "ssh-config", gen, "ControlMaster auto", "ControlPath "+filepath.Join(w.dir, "cm-%C"), "ControlPersist 10m",
		"Host pve1", "Host db", "ProxyJump bastion", "ssh -fN bastion")
	// The generated entries first (first match wins), then the test client's defaults.
	oli.writeConfig(gen + "\n")
	t.Cleanup(func() { runCtx(10*time.Second, oli.env(), "ssh", "-F", oli.config, "-O", "exit", "bastion") })

	oli.answerGood()
	start := time.Now()
	for i := range 5 {
		out, err := oli.ssh(w.backendUser+"@pve1", "echo run-"+string(rune('1'+i)))
		if err != nil {
			t.Fatalf("ssh run %d of 5: %v\n%s", i+1, err, out)
		}
		mustContain(t, "output", out, "run-"+string(rune('1'+i)))
	}
	askedOnce := func(after string) {
		t.Helper()
		if n := strings.Count(oli.prompts(), "Password: "); n != 1 {
			t.Fatalf("after %s the askpass program was asked for a password %d times, want 1:\n%s", after, n, oli.prompts())
		}
		if n := len(w.auditRecords("--type", "login.success", "--user", "oli")); n != 1 {
			t.Fatalf("after %s: %d logins to the bastion, want 1", after, n)
		}
	}
	t.Logf("five ssh runs: %v", time.Since(start).Round(time.Millisecond))
	askedOnce("five ssh runs")

	if _, err := exec.LookPath("ansible"); err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			t.Fatalf("ansible: %v (apt-get install ansible-core)", err)
		}
		t.Skipf("ansible: %v", err)
	}
	inv := filepath.Join(w.dir, "inventory")
	os.WriteFile(inv, []byte("[backends]\npve1\ndb\n\n[backends:vars]\nansible_user="+w.backendUser+
		"\nansible_python_interpreter=/usr/bin/python3\n"), 0o600)
	cfg := filepath.Join(w.dir, "ansible.cfg")
	os.WriteFile(cfg, []byte("[defaults]\nhost_key_checking = False\nnocolor = True\n\n[ssh_connection]\nssh_args = -F "+oli.config+"\n"), 0o600)
	env := append(oli.env(), "HOME="+w.dir, "ANSIBLE_CONFIG="+cfg)
	start = time.Now()
	out, err := runCtx(120*time.Second, env, "ansible", "-i", inv, "backends", "-m", "ping")
	t.Logf("ansible ping of two targets: %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("ansible ping through the generated config: %v\n%s", err, out)
	}
	mustContain(t, "ansible", out, "pve1 | SUCCESS", "db | SUCCESS", `"ping": "pong"`)
	askedOnce("five ssh runs and an Ansible ping of two targets")
}
