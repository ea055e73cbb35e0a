// Issue 13: the client matrix. Every client jumps through the bastion to the
// real sshd backend with its stock settings; OpenSSH lands on AES-GCM.
package tests

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// python3 is Debian's interpreter, where python3-paramiko and python3-asyncssh live.
const python3 = "/usr/bin/python3"

const paramikoScript = `# paramiko: publickey, then its keyboard-interactive handler, then direct-tcpip.
import base64, socket, sys, threading, paramiko
host, port, user, key, password, code, target, backend_user, command, bastion_keys, backend_key = sys.argv[1:12]
pkey = paramiko.Ed25519Key.from_private_key_file(key)
t = paramiko.Transport(socket.create_connection((host, int(port)), timeout=30))
t.start_client(timeout=30)
if t.get_remote_server_key().get_base64() not in bastion_keys.split(","):
    sys.exit("bastion host key mismatch")
print("bastion cipher:", t.remote_cipher, file=sys.stderr)
t.auth_publickey(user, pkey)
def handler(title, instructions, prompts):
    return [password if "Password" in p else code if "Verification code" in p else "" for p, echo in prompts]
# paramiko's Transport.auth_interactive starts each method with a new
# ssh-userauth service request (paramiko #23, #1687), which x/crypto's server
# (like asyncssh's since 2.14.1) rejects after the first: send the
# keyboard-interactive request in the running service instead.
h, done = t.auth_handler, threading.Event()
h.auth_event, h.auth_method, h.username, h.interactive_handler, h.submethods = done, "keyboard-interactive", user, handler, ""
m = paramiko.Message()
m.add_byte(paramiko.common.cMSG_USERAUTH_REQUEST)
for s in (user, "ssh-connection", "keyboard-interactive", "", ""):
    m.add_string(s)
t._send_message(m)
h.wait_for_response(done)
chan = t.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0))
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.RejectPolicy())
c.get_host_keys().add(target, "ssh-ed25519", paramiko.Ed25519Key(data=base64.b64decode(backend_key)))
c.connect(target, sock=chan, username=backend_user, pkey=pkey, look_for_keys=False, allow_agent=False, timeout=30)
_, out, _ = c.exec_command(command)
sys.stdout.write(out.read().decode())
rc = out.channel.recv_exit_status()
c.close()
t.close()
sys.exit(rc)
`

const asyncsshScript = `# asyncssh: publickey, then its keyboard-interactive handler, then a tunnel.
import asyncio, sys, asyncssh
host, port, user, key, password, code, target, backend_user, command, bastion_kh, backend_kh = sys.argv[1:12]
class Client(asyncssh.SSHClient):
    def kbdint_auth_requested(self):
        return ""
    def kbdint_challenge_received(self, name, instructions, lang, prompts):
        return [password if "Password" in p else code if "Verification code" in p else "" for p, echo in prompts]
async def main():
    async with asyncssh.connect(host, int(port), username=user, client_keys=[key], known_hosts=bastion_kh,
                                client_factory=Client, agent_path=None, connect_timeout=30) as bastion:
        print("bastion cipher:", bastion.get_extra_info("send_cipher"), file=sys.stderr)
        async with asyncssh.connect(target, tunnel=bastion, username=backend_user, client_keys=[key],
                                    known_hosts=backend_kh, agent_path=None, connect_timeout=30) as conn:
            r = await conn.run(command)
            sys.stdout.write(r.stdout)
            return r.exit_status
sys.exit(asyncio.run(main()))
`

// ttyScript gives a command a controlling terminal of its own while its
// stdin and stdout stay what they were (for plink -nc: the tunnel), and
// answers the bastion's prompts on that terminal, as a user would type them.
const ttyScript = `import fcntl, os, pty, select, sys, termios, time
answers = [(b"Password:", sys.argv[1]), (b"Verification code:", sys.argv[2]), (b"Press Return", "")]
master, slave = pty.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    os.close(master)
    os.close(slave)
    os.execvp(sys.argv[3], sys.argv[3:])
# The slave stays open here: the child opens and closes /dev/tty for each
# prompt, and the last close would discard what is still unread.
os.close(0)
os.close(1)
buf, status, deadline = b"", None, time.monotonic() + 60
while status is None and time.monotonic() < deadline:
    if select.select([master], [], [], 0.1)[0]:
        data = os.read(master, 4096)
        sys.stderr.buffer.write(data)
        buf += data
        while True:
            hits = [(buf.find(p), p, a) for p, a in answers if p in buf]
            if not hits:
                break
            i, p, a = min(hits)
            os.write(master, a.encode() + b"\n")
            buf = buf[i + len(p):]
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
if status is None:
    os.kill(pid, 9)
    sys.exit("timed out")
sys.exit(os.waitstatus_to_exitcode(status))
`

// requireTool fails (under BASTION_E2E_REQUIRED) or skips when a client is missing.
func requireTool(t *testing.T, path string, pyModules ...string) {
	t.Helper()
	_, err := exec.LookPath(path)
	if err == nil && len(pyModules) > 0 {
		err = exec.Command(path, "-c", "import "+strings.Join(pyModules, ",")).Run()
	}
	if err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			t.Fatalf("%s %v not usable: %v (apt-get install putty-tools python3-paramiko python3-asyncssh)", path, pyModules, err)
		}
		t.Skipf("%s %v not usable: %v", path, pyModules, err)
	}
}

// bastionCipher returns the cipher OpenSSH's -v output shows for the hop to
// the bastion: the first "server->client cipher" after its version line.
func bastionCipher(out string) string {
	seen := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "remote software version bastion") {
			seen = true
		}
		if _, after, ok := strings.Cut(line, "server->client cipher: "); ok && seen {
			return strings.Fields(after)[0]
		}
	}
	return ""
}

// pubKeyB64 is the base64 blob of an OpenSSH public key file (or of a
// private key's public half).
func pubKeyB64(t *testing.T, path string) string {
	t.Helper()
	if b, err := os.ReadFile(path + ".pub"); err == nil {
		return strings.Fields(string(b))[1]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(ssh.MarshalAuthorizedKey(k.PublicKey())))[1]
}

// bastionHostKeys are the bastion's host keys as ssh.PublicKeys.
func (w *world) bastionHostKeys(t *testing.T) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for _, kind := range []string{"ed25519", "ecdsa"} {
		b, err := os.ReadFile(filepath.Join(w.dir, "hostkeys", "ssh_host_"+kind+"_key"))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ssh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.PublicKey())
	}
	return keys
}

func TestClientMatrix(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	mia := w.newClient("mia")
	mia.add("--group", "ops")
	mia.importTOTP()
	host, port, _ := strings.Cut(w.bastionAddr, ":")
	backendB64 := pubKeyB64(t, filepath.Join(w.dir, "backend_host_key"))
	var bastionB64 []string
	for _, k := range w.bastionHostKeys(t) {
		bastionB64 = append(bastionB64, strings.Fields(string(ssh.MarshalAuthorizedKey(k)))[1])
	}
	pyEnv := append(os.Environ(), "HOME="+w.dir) // no ~/.ssh of the machine
	write := func(name, text string) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("openssh -J", func(t *testing.T) {
		mia.answerGood()
		out, err := mia.ssh("-v", "-J", mia.jumpSpec(), w.backendUser+"@pve1", "echo matrix-ssh-J")
		if err != nil {
			t.Fatalf("ssh -J: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "matrix-ssh-J")
		if c := bastionCipher(out); c != ssh.CipherAES128GCM {
			t.Fatalf("bastion hop negotiated %q, want %s:\n%s", c, ssh.CipherAES128GCM, out)
		}
	})

	t.Run("openssh ProxyCommand ssh -W", func(t *testing.T) {
		mia.answerGood()
		proxy := "ProxyCommand=ssh -F " + mia.config + " -v -p " + port + " -W %h:%p " + mia.name + "@" + host
		out, err := mia.ssh("-o", proxy, w.backendUser+"@pve1", "echo matrix-ssh-W")
		if err != nil {
			t.Fatalf("ssh -W: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "matrix-ssh-W")
		if c := bastionCipher(out); c != ssh.CipherAES128GCM {
			t.Fatalf("bastion hop negotiated %q, want %s:\n%s", c, ssh.CipherAES128GCM, out)
		}
	})

	t.Run("plink -proxycmd plink -nc", func(t *testing.T) {
		requireTool(t, "plink")
		requireTool(t, "puttygen")
		requireTool(t, python3)
		ppk := mia.key + ".ppk"
		run(t, "puttygen", mia.key, "-O", "private", "-o", ppk)
		fp := func(path string) string {
			return strings.Fields(run(t, "ssh-keygen", "-l", "-E", "sha256", "-f", path))[1]
		}
		tty := write("answer_on_tty.py", ttyScript)
		inner := []string{python3, tty, mia.password, mia.nextCode(),
			"plink", "-ssh", "-noagent", "-i", ppk, "-P", port, "-l", mia.name,
			"-hostkey", fp(filepath.Join(w.dir, "hostkeys", "ssh_host_ed25519_key")),
			"-hostkey", fp(filepath.Join(w.dir, "hostkeys", "ssh_host_ecdsa_key")),
			"-nc", "%host:%port", host}
		out, err := runCtx(60*time.Second, pyEnv, "plink", "-v", "-ssh", "-batch", "-noagent", "-i", ppk,
			"-hostkey", fp(filepath.Join(w.dir, "backend_host_key.pub")),
			"-proxycmd", strings.Join(inner, " "), "-l", w.backendUser, "pve1", "echo matrix-plink")
		if err != nil {
			t.Fatalf("plink: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "matrix-plink")
	})

	t.Run("paramiko", func(t *testing.T) {
		requireTool(t, python3, "paramiko")
		script := write("paramiko_jump.py", paramikoScript)
		out, err := runCtx(60*time.Second, pyEnv, python3, script, host, port, mia.name, mia.key, mia.password, mia.nextCode(),
			"pve1", w.backendUser, "echo matrix-paramiko", strings.Join(bastionB64, ","), backendB64)
		if err != nil {
			t.Fatalf("paramiko: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "matrix-paramiko")
	})

	t.Run("asyncssh", func(t *testing.T) {
		requireTool(t, python3, "asyncssh")
		var kh bytes.Buffer
		for _, b := range bastionB64 {
			algo := "ssh-ed25519"
			if !strings.HasPrefix(b, "AAAAC3NzaC1lZDI1NTE5") {
				algo = "ecdsa-sha2-nistp256"
			}
			kh.WriteString("[" + host + "]:" + port + " " + algo + " " + b + "\n")
		}
		bastionKH := write("known_hosts_bastion", kh.String())
		backendKH := write("known_hosts_backend", "pve1 ssh-ed25519 "+backendB64+"\n")
		script := write("asyncssh_jump.py", asyncsshScript)
		out, err := runCtx(60*time.Second, pyEnv, python3, "-W", "ignore", script, host, port, mia.name, mia.key, mia.password, mia.nextCode(),
			"pve1", w.backendUser, "echo matrix-asyncssh", bastionKH, backendKH)
		if err != nil {
			t.Fatalf("asyncssh: %v\n%s", err, out)
		}
		mustContain(t, "output", out, "matrix-asyncssh")
	})

	t.Run("x/crypto", func(t *testing.T) {
		b, err := os.ReadFile(mia.key)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		backendKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte("ssh-ed25519 " + backendB64))
		if err != nil {
			t.Fatal(err)
		}
		password, code := mia.password, mia.nextCode()
		kbd := answerPrompts(password, code)
		bastionKeys := w.bastionHostKeys(t)
		hostKeyOK := func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, k := range bastionKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return errors.New("unknown bastion host key")
		}
		bc, err := ssh.Dial("tcp", w.bastionAddr, &ssh.ClientConfig{User: mia.name, Timeout: 30 * time.Second, HostKeyCallback: hostKeyOK,
			Auth: []ssh.AuthMethod{ssh.PublicKeys(signer), ssh.KeyboardInteractive(kbd)}})
		if err != nil {
			t.Fatalf("x/crypto to the bastion: %v", err)
		}
		defer bc.Close()
		tunnel, err := bc.Dial("tcp", "pve1:22")
		if err != nil {
			t.Fatalf("direct-tcpip to pve1: %v", err)
		}
		cc, chans, reqs, err := ssh.NewClientConn(tunnel, "pve1:22", &ssh.ClientConfig{User: w.backendUser, Timeout: 30 * time.Second,
			HostKeyCallback: ssh.FixedHostKey(backendKey), Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}})
		if err != nil {
			t.Fatalf("x/crypto to the backend: %v", err)
		}
		backend := ssh.NewClient(cc, chans, reqs)
		defer backend.Close()
		s, err := backend.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("echo matrix-xcrypto")
		if err != nil {
			t.Fatalf("command on the backend: %v\n%s", err, out)
		}
		mustContain(t, "output", string(out), "matrix-xcrypto")
	})
	w.stop() // the log is complete: one login line per client, with its cipher
	var ciphers []string
	for _, line := range strings.Split(w.serverLog.String(), "\n") {
		if _, c, ok := strings.Cut(line, " cipher="); ok && strings.Contains(line, "msg=login") {
			ciphers = append(ciphers, c)
		}
	}
	t.Logf("ciphers negotiated in order (ssh -J, ssh -W, plink, paramiko, asyncssh, x/crypto): %v", ciphers)
}
