// Tests that pin down who a session belongs to and how many second-factor
// rounds one connection gets, through the real SSH protocol.
package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
	"bastion/store"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addUserWithKeys adds a TOTP user in group ops whose authorized keys are keys.
func (ts *testServer) addUserWithKeys(t *testing.T, name string, keys ...ssh.Signer) {
	t.Helper()
	alice, err := ts.store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, k := range keys {
		lines = append(lines, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))))
	}
	if err := ts.store.AddUser(context.Background(), store.NewUser{Name: name, PasswordHash: alice.PasswordHash, Groups: []string{"ops"}, Keys: lines}, t0); err != nil {
		t.Fatal(err)
	}
	if err := ts.store.SetOTP(context.Background(), name, store.OTP{Params: ts.params}, nil, false); err != nil {
		t.Fatal(err)
	}
}

// events returns a copy of the recorded events of typ.
func (r *recorder) eventsOf(typ string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e.Fields)
		}
	}
	return out
}

// queryOnly offers a public key but cannot sign with it, as OpenSSH does for
// an identity whose private half it lacks: the server sees a key query only.
type queryOnly struct{ pub ssh.PublicKey }

func (q queryOnly) PublicKey() ssh.PublicKey { return q.pub }
func (q queryOnly) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return nil, errors.New("no private key")
}

// dialQueryThenSign logs in as user, first querying the key offered (never
// signing with it), then signing with signer, then answering the second factor.
func (ts *testServer) dialQueryThenSign(user string, offered ssh.PublicKey, signer ssh.Signer, code string) (*ssh.Client, error) {
	steps := []ssh.AuthMethod{ssh.PublicKeys(queryOnly{offered}), ssh.PublicKeys(signer)}
	cc := &ssh.ClientConfig{User: user, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		Auth: []ssh.AuthMethod{ssh.KeyboardInteractive(answers([]string{password}, []string{code}))},
		AuthCallback: func(*ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			if len(steps) == 0 {
				return nil, nil // on to config.Auth: keyboard-interactive
			}
			next := steps[0]
			steps = steps[1:]
			return next, nil
		}}
	return ssh.Dial("tcp", ts.addr, cc)
}

// CVE-2024-45337 pattern: the identity and fingerprint of a session are those
// of the key that signed, never of a key that was only queried. Each client
// first offers key B without signing, then signs with carol's key A.
func TestSessionFingerprintIsTheSigningKey(t *testing.T) {
	ts := newTestServer(t, nil)
	a, b := newSigner(t), newSigner(t)
	ts.addUserWithKeys(t, "carol", a, b) // both of carol's keys are authorized
	fpA := ssh.FingerprintSHA256(a.PublicKey())
	cases := []struct {
		name    string
		offered ssh.PublicKey
	}{
		{"query carol's key B (accepted), sign with A", b.PublicKey()},
		{"query bob's key (refused), sign with A", ts.keys["bob"].PublicKey()},
	}
	// The server's clock is fixed and its window ±1: each login spends a
	// step, in increasing order (a used step is never accepted again).
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.audit.eventsOf("jump.open"))
			c, err := ts.dialQueryThenSign("carol", tc.offered, a, ts.code(int64(i)))
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer c.Close()
			if got := whoami(t, c); !strings.Contains(got, "Hello carol.") {
				t.Fatalf("session is not carol's: %q", got)
			}
			j, err := c.Dial("tcp", "pve1:22")
			if err != nil {
				t.Fatalf("jump: %v", err)
			}
			j.Close()
			opens := ts.audit.eventsOf("jump.open")
			if len(opens) != before+1 {
				t.Fatalf("%d jump.open events, want %d", len(opens), before+1)
			}
			if got := opens[len(opens)-1]["key_fp"]; got != fpA {
				t.Fatalf("jump.open key_fp = %q, want the signing key %q", got, fpA)
			}
			pk := ts.audit.eventsOf("auth.publickey")
			if got := pk[len(pk)-1]["fingerprint"]; got != fpA {
				t.Fatalf("auth.publickey fingerprint = %q, want the signing key %q", got, fpA)
			}
		})
	}
}

// kbdRounds answers keyboard-interactive attempts in turn: each attempt is a
// Password round then a Verification code round.
func kbdRounds(codes ...string) ssh.KeyboardInteractiveChallenge {
	var rounds [][]string
	for _, c := range codes {
		rounds = append(rounds, []string{password}, []string{c})
	}
	return answers(rounds...)
}

// max_2fa_attempts caps keyboard-interactive rounds per connection: a client
// that retries after a wrong code is refused before its next answer is read.
func TestMax2FAAttemptsRefusesNextRound(t *testing.T) {
	for _, max := range []int{1, 2} {
		ts := newTestServer(t, func(c *config.Config) {
			c.Auth.Max2FAAttempts = max
			c.Auth.LockoutAfter = 100 // wrong codes must not lock alice before the control login
		})
		var codes []string
		for range max {
			codes = append(codes, "000000") // wrong
		}
		codes = append(codes, ts.code(0)) // right, one round past the cap
		banner := &strings.Builder{}
		cc := &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5e9,
			BannerCallback: func(m string) error { banner.WriteString(m); return nil },
			Auth: []ssh.AuthMethod{ssh.PublicKeys(ts.keys["alice"]),
				ssh.RetryableAuthMethod(ssh.KeyboardInteractive(kbdRounds(codes...)), max+1)}}
		if c, err := ssh.Dial("tcp", ts.addr, cc); err == nil {
			c.Close()
			t.Fatalf("max_2fa_attempts = %d: round %d logged in", max, max+1)
		}
		if !strings.Contains(banner.String(), "too many attempts on this connection") {
			t.Fatalf("max_2fa_attempts = %d: banner %q", max, banner.String())
		}
		if n := ts.audit.count("login.failure", "fail"); n != max {
			t.Fatalf("max_2fa_attempts = %d: %d login.failure events, want %d (the extra round must not reach the verifier)", max, n, max)
		}
		// The same client with one more allowed round gets in: the refusal
		// above was the cap, not the client.
		more := *ts.srv.Config()
		more.Auth.Max2FAAttempts = max + 1
		ts.srv.SetConfig(&more)
		cc.Auth[1] = ssh.RetryableAuthMethod(ssh.KeyboardInteractive(kbdRounds(codes...)), max+1)
		c, err := ssh.Dial("tcp", ts.addr, cc)
		if err != nil {
			t.Fatalf("max_2fa_attempts = %d: round %d refused: %v", max+1, max+1, err)
		}
		c.Close()
	}
}
