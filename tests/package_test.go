// Issue 11: the Debian package and its systemd unit, built with `make deb`,
// inspected with dpkg-deb and systemd-analyze, and (as root, when allowed)
// installed with dpkg and run as the bastion user.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// needTools skips (or, under BASTION_E2E_REQUIRED, fails) without the tools.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BASTION_E2E_REQUIRED") != "" {
				t.Fatalf("%s is required (apt-get install dpkg systemd)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// buildDeb runs `make deb` and returns the package path.
func buildDeb(t *testing.T) string {
	t.Helper()
	deb := filepath.Join(t.TempDir(), "bastion.deb")
	out, err := exec.Command("make", "-C", "..", "--no-print-directory", "deb", "DEB="+deb).CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	return deb
}

// unpackedRoot extracts deb and adds what systemd-analyze needs to check the
// unit offline: the host's units and /bin/kill (ExecReload).
func unpackedRoot(t *testing.T, deb string) string {
	t.Helper()
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	// -n: the unit stays the packaged one, not a host copy of the same name.
	run(t, "cp", "-an", "/lib/systemd/system/.", filepath.Join(root, "lib/systemd/system")+"/")
	kill, err := exec.LookPath("kill")
	if err != nil {
		t.Fatal(err)
	}
	run(t, "cp", kill, filepath.Join(root, "bin", "kill"))
	return root
}

var exposureRE = regexp.MustCompile(`Overall exposure level for bastion\.service: ([0-9.]+)`)

func TestDebPackage(t *testing.T) {
	needTools(t, "dpkg-deb", "systemd-analyze", "make")
	deb := buildDeb(t)
	root := unpackedRoot(t, deb)

	info := run(t, "dpkg-deb", "--info", deb)
	ver := strings.TrimSpace(run(t, filepath.Join(root, "usr/bin/bastion"), "version"))
	m := regexp.MustCompile(`^bastion (\S+) \(commit (\S+)\)$`).FindStringSubmatch(ver)
	if m == nil || m[1] == "dev" {
		t.Fatalf("packaged binary: version %q, want one from git describe", ver)
	}
	if head, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output(); err == nil && m[2] != strings.TrimSpace(string(head)) {
		t.Errorf("packaged binary: commit %s, HEAD is %s", m[2], head)
	}
	mustContain(t, "dpkg-deb --info", info, "Package: bastion", "Version: "+m[1], "Architecture: amd64",
		"Depends: libc6, passwd", " conffiles", " preinst", " postinst", " prerm", " postrm")
	if got := run(t, "dpkg-deb", "-f", deb, "Version"); strings.TrimSpace(got) != m[1] {
		t.Errorf("package version %q != binary version %q", got, m[1])
	}
	conffiles := run(t, "sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xOf - ./conffiles")
	if strings.TrimSpace(conffiles) != "/etc/bastion/config.toml" {
		t.Errorf("conffiles = %q", conffiles)
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		`-rwxr-xr-x root/root .* \./usr/bin/bastion\n`,
		`-rw-r----- root/bastion .* \./etc/bastion/config\.toml\n`,
		`-rw-r--r-- root/root .* \./lib/systemd/system/bastion\.service\n`,
	} {
		if !regexp.MustCompile(want).MatchString(contents) {
			t.Errorf("dpkg-deb --contents: no line matching %s in:\n%s", want, contents)
		}
	}
	if strings.Contains(contents, "/var/lib/bastion") {
		t.Errorf("the package ships /var/lib/bastion: dpkg would delete the state on remove")
	}

	// The packaged config is valid and puts everything under /var/lib/bastion.
	check := run(t, filepath.Join(root, "usr/bin/bastion"), "-c", filepath.Join(root, "etc/bastion/config.toml"), "config", "check")
	mustContain(t, "config check of the packaged config", check, `state = "/var/lib/bastion/bastion.db"`,
		`state_key = "/var/lib/bastion/state.key"`, `audit_log = "/var/lib/bastion/audit.log"`,
		`host_key_dir = "/var/lib/bastion/hostkeys"`, `listen = "127.0.0.1:9122"`)

	// The unit: verify passes silently; the exposure score is 2.0 or lower.
	if out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "bastion.service").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command("systemd-analyze", "security", "--offline=yes", "--root="+root, "bastion.service").CombinedOutput()
	sm := exposureRE.FindSubmatch(out)
	if sm == nil {
		t.Fatalf("systemd-analyze security gave no score:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(sm[1]), 64)
	t.Logf("systemd-analyze security bastion.service: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f > 2.0:\n%s", score, out)
	}
}

// TestDebInstall installs the package on this machine. It changes the system
// (a package, a system user, /etc/bastion, /var/lib/bastion), so it runs only
// as root and when BASTION_E2E_REQUIRED (CI) or BASTION_TEST_DPKG=1 allows it,
// and purges everything it added.
func TestDebInstall(t *testing.T) {
	if os.Getenv("BASTION_E2E_REQUIRED") == "" && os.Getenv("BASTION_TEST_DPKG") == "" {
		t.Skip("installs a package system-wide: set BASTION_TEST_DPKG=1 (CI sets BASTION_E2E_REQUIRED)")
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg -i needs root")
	}
	needTools(t, "dpkg", "dpkg-deb", "systemd-analyze", "setpriv", "make")
	if exec.Command("dpkg", "-s", "bastion").Run() == nil {
		t.Fatal("a bastion package is already installed; refusing to touch it (dpkg -P bastion first)")
	}
	_, userErr := user.Lookup("bastion")
	hadUser := userErr == nil
	deb := buildDeb(t)
	w := newWorld(t, worldOpts{})
	t.Cleanup(func() {
		exec.Command("dpkg", "-P", "bastion").Run()
		if !hadUser {
			exec.Command("userdel", "bastion").Run()
		}
	})

	run(t, "dpkg", "-i", deb)
	u, err := user.Lookup("bastion")
	if err != nil {
		t.Fatalf("no bastion user after dpkg -i: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	checkFile := func(path string, mode os.FileMode, uid, gid int) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("after dpkg -i: %v", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	checkFile("/usr/bin/bastion", 0o755, 0, 0)
	checkFile("/etc/bastion/config.toml", 0o640, 0, gid)
	checkFile("/lib/systemd/system/bastion.service", 0o644, 0, 0)
	checkFile("/var/lib/bastion", 0o700, uid, gid)
	if out, err := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/bastion.service").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify of the installed unit: %v\n%s", err, out)
	}

	// The packaged config, with only the listen addresses changed for the test
	// and one target added; everything else (paths, user) as installed.
	shared, err := os.MkdirTemp("", "bastion-pkg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	os.Chmod(shared, 0o755)
	packaged, err := os.ReadFile("/etc/bastion/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := regexp.MustCompile(`(?m)^listen = ":2222"$`).ReplaceAllString(string(packaged), fmt.Sprintf("listen = %q", w.bastionAddr))
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:9122"`, fmt.Sprintf("listen = %q", metricsAddr), 1)
	cfg += fmt.Sprintf("\n[[target]]\nname = \"pve1\"\naddress = %q\ngroups = [\"ops\"]\n", w.backendAddr)
	if !strings.Contains(cfg, w.bastionAddr) || !strings.Contains(cfg, metricsAddr) {
		t.Fatalf("listen override not applied to:\n%s", cfg)
	}
	cfgPath := filepath.Join(shared, "config.toml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	asBastion := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid=bastion", "--regid=bastion", "--init-groups", "--", "/usr/bin/bastion", "-c", cfgPath}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bastion %v as user bastion: %v\n%s", args, err, out)
		}
		return string(out)
	}
	asBastion("", "config", "check")

	pk := w.newClient("pkg")
	run(t, "cp", pk.key+".pub", filepath.Join(shared, "pkg.pub"))
	asBastion(pk.password+"\n", "user", "add", "pkg", "--key", filepath.Join(shared, "pkg.pub"), "--group", "ops")
	pk.secret = randomSecret(t)
	ga := filepath.Join(shared, "ga")
	os.WriteFile(ga, []byte(pk.secret+"\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"), 0o644)
	asBastion("", "user", "import-otp", "pkg", ga)
	// root is refused where the state belongs to bastion (its files would lock the service out).
	if out, err := exec.Command("/usr/bin/bastion", "-c", cfgPath, "user", "list").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "/var/lib/bastion belongs to user bastion") {
		t.Errorf("root ran a state verb on the bastion user's state: %v\n%s", err, out)
	}

	w.serverLog = &logBuffer{}
	srv := exec.Command("setpriv", "--reuid=bastion", "--regid=bastion", "--init-groups", "--", "/usr/bin/bastion", "-c", cfgPath, "serve")
	srv.Stdout, srv.Stderr = w.serverLog, w.serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	w.bastion = srv
	t.Cleanup(w.stop)
	waitListening(t, w.bastionAddr, func() string { return w.serverLog.String() })
	pk.answerGood()
	if out, err := pk.jump("pve1", "echo installed-ok"); err != nil || !strings.Contains(out, "installed-ok") {
		t.Fatalf("OpenSSH login through the installed bastion: %v\n%s\nserver log:\n%s", err, out, w.serverLog.String())
	}
	if code, body := httpGet(t, "http://"+metricsAddr+"/healthz"); code != 200 {
		t.Errorf("/healthz of the installed bastion: %d\n%s", code, body)
	}
	checkFile("/var/lib/bastion/bastion.db", 0o600, uid, gid)
	checkFile("/var/lib/bastion/audit.log", 0o600, uid, gid)
	w.stop()

	// Without -c, an admin anywhere gets the installed config.
	cc := exec.Command("setpriv", "--reuid=bastion", "--regid=bastion", "--init-groups", "--", "/usr/bin/bastion", "config", "check")
	cc.Dir = "/"
	if out, err := cc.CombinedOutput(); err != nil || !strings.Contains(string(out), "# /etc/bastion/config.toml: OK") {
		t.Errorf("config check without -c from /: %v\n%s", err, out)
	}

	// An upgrade keeps the admin's config edits and the state.
	f, _ := os.OpenFile("/etc/bastion/config.toml", os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited by the admin\n")
	f.Close()
	oldVer := strings.TrimSpace(run(t, "dpkg-query", "-W", "-f=${Version}", "bastion"))
	deb2 := filepath.Join(filepath.Dir(deb), "bastion-upgrade.deb")
	nf := exec.Command("go", "tool", "nfpm", "pkg", "-f", "packaging/nfpm.yaml", "-p", "deb", "-t", deb2)
	nf.Dir, nf.Env = "..", append(os.Environ(), "VERSION="+oldVer+"+upgrade")
	if out, err := nf.CombinedOutput(); err != nil {
		t.Fatalf("nfpm: %v\n%s", err, out)
	}
	run(t, "dpkg", "-i", deb2)
	if v := run(t, "dpkg-query", "-W", "-f=${Version}", "bastion"); v != oldVer+"+upgrade" {
		t.Errorf("after the upgrade: version %q", v)
	}
	if b, _ := os.ReadFile("/etc/bastion/config.toml"); !strings.HasSuffix(string(b), "# edited by the admin\n") {
		t.Errorf("the upgrade replaced the edited config:\n%s", b)
	}
	mustContain(t, "users after the upgrade", asBastion("", "user", "list"), "pkg")

	// remove keeps the state and the conffile; purge deletes them and says so.
	out := run(t, "dpkg", "-r", "bastion")
	mustContain(t, "dpkg -r", out, "/var/lib/bastion (state, state key, audit log) is kept")
	for _, p := range []string{"/var/lib/bastion/bastion.db", "/var/lib/bastion/state.key", "/var/lib/bastion/audit.log", "/etc/bastion/config.toml"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg -r removed %s: %v", p, err)
		}
	}
	if _, err := os.Stat("/usr/bin/bastion"); err == nil {
		t.Errorf("dpkg -r left /usr/bin/bastion")
	}
	out = run(t, "dpkg", "-P", "bastion")
	mustContain(t, "dpkg -P", out, "purge deletes /var/lib/bastion")
	for _, p := range []string{"/var/lib/bastion", "/etc/bastion"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("dpkg -P left %s", p)
		}
	}
}
