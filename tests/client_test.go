// A test user: an SSH key, an askpass answer directory, and an ssh config.
package tests

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const askpassScript = `#!/bin/sh
# Answers OpenSSH prompts for the end-to-end tests. $1 is the prompt text.
d="$ANSWERS_DIR"
printf '%s\n--END PROMPT--\n' "$1" >> "$d/prompts"
case "$1" in
  *"Verification code from the app"*)
    printf '%s' "$1" > "$d/enroll_prompt"
    secret=$(printf '%s\n' "$1" | sed -n 's/^  \([A-Z2-7]\{4\}\( [A-Z2-7]\{1,4\}\)*\)$/\1/p' | head -n 1 | tr -d ' ')
    echo "$secret" > "$d/enroll_secret"
    if [ -f "$d/enroll_code" ]; then code=$(cat "$d/enroll_code"); else code=$(oathtool --totp -b "$secret"); fi
    if [ "$code" = abandon ]; then kill -TERM "$PPID"; exit 1; fi
    echo "$code" > "$d/enroll_code_used"
    echo "$code" ;;
  *"Enrollment token"*) cat "$d/token" ;;
  *"Press Enter"*) printf '%s' "$1" > "$d/recovery_prompt"; echo ;;
  *Password*) cat "$d/password" ;;
  *"Verification code"*) cat "$d/code" ;;
  *"'s password: ") cat "$d/password_plus_code" ;;
  *) echo ;;
esac
`

func (w *world) writeAskpass() {
	if err := os.WriteFile(filepath.Join(w.dir, "askpass"), []byte(askpassScript), 0o755); err != nil {
		w.t.Fatal(err)
	}
}

type client struct {
	w        *world
	name     string
	key      string
	dir      string // askpass answers
	config   string // ssh -F file
	secret   string // base32 TOTP/HOTP secret, when imported
	step     int64  // next TOTP step to use
	password string
}

// newClient makes a key pair and answer dir for name; the key may log in to the backend.
func (w *world) newClient(name string) *client {
	c := &client{w: w, name: name, key: w.newKey(name), dir: filepath.Join(w.dir, "answers_"+name), password: "pw-" + name + "-Secret!"}
	os.MkdirAll(c.dir, 0o700)
	w.authorizeOnBackend(c.key + ".pub")
	c.config = filepath.Join(w.dir, "ssh_config_"+name)
	c.writeConfig("")
	c.step = nowStep() - 7
	return c
}

func (c *client) writeConfig(prefix string) {
	cfg := prefix + fmt.Sprintf(`Host *
  IdentityFile %s
  IdentitiesOnly yes
  IdentityAgent none
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  NumberOfPasswordPrompts 1
  ConnectTimeout 10
  ControlMaster no
  ControlPath none
  BatchMode no
  LogLevel INFO
`, c.key)
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		c.w.t.Fatal(err)
	}
}

// add creates the user with the CLI (pending 2FA).
func (c *client) add(extra ...string) string {
	args := append([]string{"user", "add", c.name, "--key", c.key + ".pub"}, extra...)
	return c.w.mustCLI(c.password+"\n", args...)
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// importTOTP gives the user a TOTP secret through a google-authenticator file
// with WINDOW_SIZE 17 (8 steps either side), so tests never wait for the clock.
func (c *client) importTOTP(scratch ...string) {
	c.secret = randomSecret(c.w.t)
	file := c.secret + "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n" + strings.Join(scratch, "\n")
	p := filepath.Join(c.w.dir, "ga_"+c.name)
	os.WriteFile(p, []byte(file), 0o600)
	c.w.mustCLI("", "user", "import-otp", c.name, p, "--ignore-rate-limit")
}

// nextCode returns a code for the next unused step, computed by oathtool.
func (c *client) nextCode() string {
	code := totp(c.w.t, c.secret, c.step)
	c.step++
	return code
}

// answer sets what askpass answers to Password: and Verification code:.
func (c *client) answer(password, code string) {
	os.WriteFile(filepath.Join(c.dir, "password"), []byte(password+"\n"), 0o600)
	os.WriteFile(filepath.Join(c.dir, "code"), []byte(code+"\n"), 0o600)
	os.Remove(filepath.Join(c.dir, "prompts"))
}

// answerGood answers with the right password and a fresh code.
func (c *client) answerGood() string {
	code := c.nextCode()
	c.answer(c.password, code)
	return code
}

func (c *client) prompts() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "prompts"))
	return string(b)
}

func (c *client) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") && !strings.HasPrefix(kv, "DISPLAY=") {
			env = append(env, kv)
		}
	}
	return append(env, "SSH_ASKPASS="+filepath.Join(c.w.dir, "askpass"), "SSH_ASKPASS_REQUIRE=force",
		"DISPLAY=:0", "ANSWERS_DIR="+c.dir)
}

// jumpSpec is the -J argument for this user.
func (c *client) jumpSpec() string { return c.name + "@" + c.w.bastionAddr }

// ssh runs the OpenSSH client with this user's config.
func (c *client) ssh(args ...string) (string, error) {
	return runCtx(60*time.Second, c.env(), "ssh", append([]string{"-F", c.config}, args...)...)
}

// jump runs a command on target through the bastion: ssh -J user@bastion backenduser@target cmd.
func (c *client) jump(target, command string) (string, error) {
	return c.ssh("-J", c.jumpSpec(), c.w.backendUser+"@"+target, command)
}
