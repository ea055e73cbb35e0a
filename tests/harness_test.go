// The world the end-to-end tests run in: binaries, a backend sshd, a bastion.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var bastionBin string

func TestMain(m *testing.M) {
	missing := []string{}
	for _, tool := range []string{"ssh", "scp", "sftp", "ssh-keygen", "oathtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(sshdPath()); err != nil {
		missing = append(missing, "sshd")
	}
	if len(missing) > 0 {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			fmt.Fprintf(os.Stderr, "end-to-end tests need %v (apt-get install openssh-server openssh-client oathtool)\n", missing)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "skipping end-to-end tests: missing %v\n", missing)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "bastion-e2e-bin")
	if err != nil {
		panic(err)
	}
	bastionBin = filepath.Join(dir, "bastion")
	out, err := exec.Command("go", "build", "-o", bastionBin, "../cmd/bastion").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build bastion: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func sshdPath() string {
	if p, err := exec.LookPath("sshd"); err == nil {
		return p
	}
	return "/usr/sbin/sshd"
}

// world is one bastion with one backend sshd, in a temp dir.
type world struct {
	t           *testing.T
	dir         string
	cfgPath     string
	bastionAddr string
	backendAddr string
	backendUser string
	bastion     *exec.Cmd
	serverLog   *logBuffer
}

// worldOpts adjust the bastion config.
type worldOpts struct {
	extraConfig string // TOML appended to [enroll] etc. via full sections
	enrollExtra string // lines inside [enroll]
	authExtra   string // lines inside [auth]
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir()}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	w.backendUser = u.Username
	w.startBackend()
	downPort := freePort(t) // nothing listens there: the "down" target
	port := freePort(t)
	w.bastionAddr = fmt.Sprintf("127.0.0.1:%d", port)
	w.cfgPath = filepath.Join(w.dir, "config.toml")
	cfg := fmt.Sprintf(`listen = %q
host_key_dir = %q
state = %q
state_key = %q
audit_log = %q
log_level = "debug"

[auth]
lockout_after = 3
lockout_time = "0s"
max_2fa_attempts = 3
%s

[argon2]
memory_kib = 64
time = 1
threads = 1

[enroll]
host = "bastion.example.org"
%s

[upstream]
dial_timeout = "3s"

[[target]]
name = "pve1"
address = %q
groups = ["ops"]

[[target]]
name = "db"
address = %q
groups = ["dba"]

[[target]]
name = "down"
address = "127.0.0.1:%d"
groups = ["ops"]
%s
`, w.bastionAddr, filepath.Join(w.dir, "hostkeys"), filepath.Join(w.dir, "state", "bastion.db"),
		filepath.Join(w.dir, "state", "state.key"), filepath.Join(w.dir, "state", "audit.log"),
		o.authExtra, o.enrollExtra, w.backendAddr, w.backendAddr, downPort, o.extraConfig)
	if !strings.Contains(o.extraConfig, "[limits]") {
		// Most tests fail logins on purpose from 127.0.0.1; source penalties
		// have their own tests, which set [limits] themselves.
		cfg += "\n[limits]\npenalty_free_fails = 1000\n"
	}
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.writeAskpass()
	return w
}

// backendConfig writes an sshd_config for a backend on addr:port that
// accepts the test keys (backend_authorized_keys) and returns its path.
func (w *world) backendConfig(name, addr string, port int) string {
	conf := filepath.Join(w.dir, name+"_sshd_config")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
`, port, addr, filepath.Join(w.dir, "backend_host_key"), filepath.Join(w.dir, "backend_authorized_keys"),
		filepath.Join(w.dir, name+".pid"))), 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	return conf
}

// startBackend runs a real OpenSSH sshd on 127.0.0.1 that accepts the test keys.
func (w *world) startBackend() {
	t := w.t
	hostKey := filepath.Join(w.dir, "backend_host_key")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	port := freePort(t)
	w.backendAddr = fmt.Sprintf("127.0.0.1:%d", port)
	os.WriteFile(filepath.Join(w.dir, "backend_authorized_keys"), nil, 0o600)
	conf := w.backendConfig("backend", "127.0.0.1", port)
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	cmd := exec.Command(sshdPath(), "-D", "-e", "-f", conf)
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start backend sshd: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, w.backendAddr, func() string { return logBuf.String() })
}

// authorizeOnBackend lets key log in to the backend.
func (w *world) authorizeOnBackend(pubKeyFile string) {
	pub, err := os.ReadFile(pubKeyFile)
	if err != nil {
		w.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(w.dir, "backend_authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	f.Write(pub)
}

func waitListening(t *testing.T, addr string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s; logs:\n%s", addr, logs())
}

// start runs `bastion serve` and waits until it listens.
func (w *world) start() {
	w.t.Helper()
	w.serverLog = &logBuffer{}
	cmd := exec.Command(bastionBin, "-c", w.cfgPath, "serve")
	cmd.Stdout, cmd.Stderr = w.serverLog, w.serverLog
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.bastion = cmd
	w.t.Cleanup(w.stop)
	waitListening(w.t, w.bastionAddr, func() string { return w.serverLog.String() })
}

func (w *world) stop() {
	if w.bastion == nil {
		return
	}
	w.bastion.Process.Signal(syscall.SIGTERM) // what systemd sends
	done := make(chan struct{})
	go func() { w.bastion.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		w.bastion.Process.Kill()
		<-done
	}
	w.bastion = nil
	if w.t.Failed() {
		w.t.Logf("bastion log:\n%s", w.serverLog.String())
	}
}

// cli runs the bastion CLI with stdin and returns stdout+stderr.
func (w *world) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(bastionBin, append([]string{"-c", w.cfgPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *world) mustCLI(stdin string, args ...string) string {
	w.t.Helper()
	out, err := w.cli(stdin, args...)
	if err != nil {
		w.t.Fatalf("bastion %v: %v\n%s", args, err, out)
	}
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// newKey makes an ed25519 key pair and returns the private key path.
func (w *world) newKey(name string) string {
	p := filepath.Join(w.dir, "key_"+name)
	run(w.t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p)
	return p
}

// nowStep is the current TOTP step (30 s).
func nowStep() int64 { return time.Now().Unix() / 30 }

// totp computes the code for a step with oathtool, independently of our code.
func totp(t *testing.T, secret string, step int64) string {
	t.Helper()
	return strings.TrimSpace(run(t, "oathtool", "--totp", "-b", secret, "-N", "@"+strconv.FormatInt(step*30, 10)))
}

// hotp computes an HOTP code with oathtool.
func hotp(t *testing.T, secret string, counter uint64) string {
	t.Helper()
	return strings.TrimSpace(run(t, "oathtool", "-b", secret, "-c", strconv.FormatUint(counter, 10)))
}

// runCtx runs a command with a deadline and returns combined output.
func runCtx(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s timed out after %s", name, timeout)
	}
	return string(out), err
}

// logBuffer collects a server's output while tests read it: the process's
// output is copied in by os/exec's goroutine, so every access is locked.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// answerPrompts answers the bastion's keyboard-interactive prompts for an
// x/crypto client: password at "Password:", code at "Verification code:".
func answerPrompts(password, code string) ssh.KeyboardInteractiveChallenge {
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		var a []string
		for _, q := range questions {
			switch {
			case strings.Contains(q, "Password"):
				a = append(a, password)
			case strings.Contains(q, "Verification code"):
				a = append(a, code)
			default:
				a = append(a, "")
			}
		}
		return a, nil
	}
}
