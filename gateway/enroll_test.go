package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
	"bastion/enroll"
	"bastion/oath"
	"bastion/store"
)

var reShownKey = regexp.MustCompile(`enter this key by hand[^\n]*\n  ([A-Z2-7 ]+)\n`)

// addPending adds a pending user in group ops who may enroll until t0+1h.
func (ts *testServer) addPending(name string) ssh.Signer {
	ts.t.Helper()
	alice, err := ts.store.User(context.Background(), "alice")
	if err != nil {
		ts.t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	err = ts.store.AddUser(context.Background(), store.NewUser{Name: name, PasswordHash: alice.PasswordHash,
		Groups: []string{"ops"}, Keys: []string{line}, EnrollUntil: t0.Add(time.Hour)}, t0)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.keys[name] = signer
	return signer
}

// enrollingClient answers the password, then the enrollment prompt with the
// code of the secret it shows (after atQR), then the recovery codes (after
// atCodes; its error is a disconnect).
func enrollingClient(pw string, atQR func(), atCodes func() error) ssh.KeyboardInteractiveChallenge {
	return func(_, _ string, qs []string, _ []bool) ([]string, error) {
		if len(qs) != 1 {
			return nil, nil
		}
		q := qs[0]
		switch {
		case q == "Password: ":
			return []string{pw}, nil
		case strings.HasSuffix(q, enroll.PromptCodeFromApp):
			m := reShownKey.FindStringSubmatch(q)
			if m == nil {
				return nil, errors.New("no secret shown")
			}
			sec, err := oath.DecodeSecret(strings.ReplaceAll(m[1], " ", ""))
			if err != nil {
				return nil, err
			}
			atQR()
			p := oath.Params{Kind: oath.KindTOTP, Secret: sec, Digits: 6, Period: 30}
			return []string{oath.Code(p, uint64(oath.Step(p, t0)))}, nil
		case strings.Contains(q, "recovery codes"):
			if err := atCodes(); err != nil {
				return nil, err
			}
			return []string{""}, nil
		}
		return nil, errors.New("unexpected prompt " + q)
	}
}

// TestSlowEnrollmentNotCutByGrace: a first login that spends longer than
// login_grace_time at the QR code is not cut (enroll.max_time applies), and a
// connection cut while the recovery codes are shown leaves the user pending.
func TestSlowEnrollmentNotCutByGrace(t *testing.T) {
	const grace = 3 * time.Second // covers kex and the password under load; the scan takes longer
	ts := newTestServer(t, func(c *config.Config) { c.Auth.LoginGraceTime = grace })
	key := ts.addPending("penny")
	dial := func(kbd ssh.KeyboardInteractiveChallenge) (*ssh.Client, error) {
		return ts.dial(dialOpts{user: "penny", signers: []ssh.Signer{key}, kbd: kbd})
	}

	// Cut at the recovery codes: nothing stored.
	_, err := dial(enrollingClient(password, func() {}, func() error { return errors.New("connection reset") }))
	if err == nil {
		t.Fatal("login completed although the client left at the recovery codes")
	}
	if u, _ := ts.store.User(context.Background(), "penny"); u.OTP != nil {
		t.Fatal("enrolled without acknowledging the recovery codes")
	}

	// Slow: the client scans the QR for longer than the grace time.
	start := time.Now()
	slowScan := func() {
		for time.Since(start) < grace+500*time.Millisecond { // the property under test is wall time
			time.Sleep(20 * time.Millisecond)
		}
	}
	c, err := dial(enrollingClient(password, slowScan, func() error { return nil }))
	if err != nil {
		t.Fatalf("slow enrollment cut after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer c.Close()
	echoJump(t, c).Close()
	if u, _ := ts.store.User(context.Background(), "penny"); u.OTP == nil {
		t.Fatal("not enrolled")
	}
}

// TestPendingUserNoPasswordOracle: for a pending user, holding the key, a
// right and a wrong password lead to the same next prompt (the QR code), and
// the wrong one is refused only after the code, counted as a failure.
func TestPendingUserNoPasswordOracle(t *testing.T) {
	ts := newTestServer(t, nil)
	key := ts.addPending("penny")
	next := map[string]string{}
	for _, pw := range []string{"wrong password", password} {
		var prompts []string
		kbd := func(name, instr string, qs []string, echos []bool) ([]string, error) {
			prompts = append(prompts, qs...)
			if len(prompts) == 2 {
				return nil, errors.New("leave at the second prompt")
			}
			return enrollingClient(pw, func() {}, func() error { return nil })(name, instr, qs, echos)
		}
		if _, err := ts.dial(dialOpts{user: "penny", signers: []ssh.Signer{key}, kbd: kbd}); err == nil {
			t.Fatal("logged in while leaving")
		}
		if len(prompts) != 2 {
			t.Fatalf("%q: prompts %q", pw, prompts)
		}
		next[pw] = reShownKey.ReplaceAllString(prompts[1], "KEY") // the secret is fresh each time
		next[pw] = regexp.MustCompile(`(?s)\(Google Authenticator.*URI: \S+`).ReplaceAllString(next[pw], "QR")
	}
	if next["wrong password"] != next[password] || !strings.HasSuffix(next[password], enroll.PromptCodeFromApp) {
		t.Fatalf("the prompt after the password differs:\nwrong: %q\nright: %q", next["wrong password"], next[password])
	}
	if u, _ := ts.store.User(context.Background(), "penny"); u.Failures != 1 {
		t.Errorf("failures %d: the wrong password, left at the QR, must count once", u.Failures)
	}
}
