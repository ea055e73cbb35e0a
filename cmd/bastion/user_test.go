package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// cliWorld is a config with its state in a temp dir, for running verbs in-process.
type cliWorld struct {
	t   *testing.T
	dir string
	cfg string
}

func newCLIWorld(t *testing.T) *cliWorld {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	toml := fmt.Sprintf("state = %q\nstate_key = %q\naudit_log = %q\nhost_key_dir = %q\n[argon2]\nmemory_kib = 8\ntime = 1\n",
		dir+"/state/bastion.db", dir+"/state/state.key", dir+"/state/audit.log", dir+"/hostkeys")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliWorld{t: t, dir: dir, cfg: cfg}
}

func (w *cliWorld) run(stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(append([]string{"-c", w.cfg}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

// keyFile writes an authorized_keys file of one fresh key with the given options.
func (w *cliWorld) keyFile(name, options string) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + name + "@laptop\n"
	if options != "" {
		line = options + " " + line
	}
	path := filepath.Join(w.dir, name+".pub")
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func TestUserAddKeyOptions(t *testing.T) {
	w := newCLIWorld(t)
	// Kept: from= and expiry-time= are enforced at login, no-pty & co. are what the bastion does anyway.
	keep := `from="10.9.9.9,10.1.0.0/16",expiry-time="20991231Z",no-pty`
	if out, err := w.run("pw\n", "user", "add", "frank", "--key", w.keyFile("frank", keep), "--group", "ops"); err != nil {
		t.Fatalf("add with supported options: %v\n%s", err, out)
	}
	out, err := w.run("", "user", "show", "frank")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, keep) {
		t.Fatalf("options not kept: %s", out)
	}
	// Refused, never silently dropped: a bare key would be usable from anywhere.
	for opt, msg := range map[string]string{
		`from="10.9.9.9",restrict`: "forbid the jumps",
		`no-port-forwarding`:       "forbid the jumps",
		`command="/bin/false"`:     "not supported",
		`from="*.example.org"`:     "reverse DNS",
	} {
		out, err := w.run("pw\n", "user", "add", "gina", "--key", w.keyFile("gina", opt))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err=%v out=%s, want %q", opt, err, out, msg)
		}
		if _, err := w.run("", "user", "show", "gina"); err == nil {
			t.Errorf("%s: gina was added", opt)
		}
	}
}

func TestUserAddRefusesCommaGroups(t *testing.T) {
	w := newCLIWorld(t)
	for _, g := range []string{"ops,admins", "ops admins", "", "ops\n"} {
		_, err := w.run("pw\n", "user", "add", "hank", "--key", w.keyFile("hank", ""), "--group", g)
		if err == nil || !strings.Contains(err.Error(), "group") {
			t.Errorf("--group %q: err=%v", g, err)
		}
	}
	if _, err := w.run("", "user", "show", "hank"); err == nil {
		t.Fatal("hank was added")
	}
	if out, err := w.run("pw\n", "user", "add", "hank", "--key", w.keyFile("hank", ""), "--group", "ops", "--group", "admins"); err != nil {
		t.Fatalf("two groups: %v %s", err, out)
	}
	out, _ := w.run("", "user", "show", "hank")
	if !strings.Contains(out, "groups:      ops,admins\n") {
		t.Fatalf("groups: %s", out)
	}
}

// TestImportOTPBounds: an imported WINDOW_SIZE is bounded like
// auth.totp_window, and RATE_LIMIT, which the bastion does not enforce, is
// refused with a message unless --ignore-rate-limit says to import anyway.
func TestImportOTPBounds(t *testing.T) {
	w := newCLIWorld(t)
	if out, err := w.run("pw\n", "user", "add", "ivy", "--key", w.keyFile("ivy", "")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ga := func(opts string) string {
		p := filepath.Join(w.dir, "ga")
		os.WriteFile(p, []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"+opts+"\" TOTP_AUTH\n12345678\n"), 0o600)
		return p
	}
	for opts, msg := range map[string]string{
		"\" WINDOW_SIZE 100\n": "accepts at most 21",
		"\" WINDOW_SIZE 22\n":  "accepts at most 21",
		"\" RATE_LIMIT 3 30\n": "RATE_LIMIT 3 30 is not enforced",
	} {
		out, err := w.run("", "user", "import-otp", "ivy", ga(opts))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: err=%v out=%s, want %q", opts, err, out, msg)
		}
		if show, _ := w.run("", "user", "show", "ivy"); !strings.Contains(show, "2fa:         pending") {
			t.Fatalf("%q imported anyway:\n%s", opts, show)
		}
	}
	if out, err := w.run("", "user", "import-otp", "ivy", ga("\" WINDOW_SIZE 21\n\" RATE_LIMIT 3 30\n"), "--ignore-rate-limit"); err != nil {
		t.Fatalf("WINDOW_SIZE 21 with --ignore-rate-limit: %v %s", err, out)
	}
	show, _ := w.run("", "user", "show", "ivy")
	if !strings.Contains(show, "2fa:         TOTP") || !strings.Contains(show, "window:      10\n") {
		t.Fatalf("after import:\n%s", show)
	}
}
