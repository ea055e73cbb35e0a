// Tests for the enrollment dialog against a real state file, with scripted
// keyboard-interactive clients that read the prompt like a user would.
package enroll

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bastion/audit"
	"bastion/config"
	"bastion/kbdint"
	"bastion/oath"
	"bastion/store"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type senv struct {
	t   *testing.T
	st  *store.Store
	now time.Time
	pol config.Enroll
	e   *Enroller
}

func newSenv(t *testing.T) *senv {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "bastion.db"), filepath.Join(dir, "state.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &senv{t: t, st: st, now: t0, pol: config.Default().Enroll}
	s.e = &Enroller{
		Store:  st,
		Policy: func() (config.Enroll, int) { return s.pol, 1 },
		Label:  "bastion.example.org",
		Now:    func() time.Time { return s.now },
	}
	return s
}

// addPending adds a pending user who may enroll until t0+1h.
func (s *senv) addPending(name, token string) *store.User {
	s.t.Helper()
	err := s.st.AddUser(context.Background(), store.NewUser{Name: name, PasswordHash: "x", EnrollUntil: t0.Add(time.Hour), EnrollToken: token}, t0)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.user(name)
}

func (s *senv) user(name string) *store.User {
	s.t.Helper()
	u, err := s.st.User(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// recorder is an Attempt that keeps what the user and the audit log saw.
type recorder struct {
	mu       sync.Mutex
	events   []audit.Event
	notes    []string
	extended []time.Duration // ExtendDeadline calls
}

func (r *recorder) attempt(user string) kbdint.Attempt {
	return kbdint.Attempt{
		User: user,
		Notify: func(m string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.notes = append(r.notes, m)
		},
		Audit: func(e audit.Event) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, e)
			return nil
		},
		ExtendDeadline: func(d time.Duration) { r.extended = append(r.extended, d) },
	}
}

func (r *recorder) types() []string {
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

var (
	reKey      = regexp.MustCompile(`enter this key by hand[^\n]*\n  ([A-Z2-7 ]+)\n`)
	reGrouped  = regexp.MustCompile(`^([A-Z2-7]{4} )*[A-Z2-7]{1,4}$`)
	reURI      = regexp.MustCompile(`\n  URI: (otpauth://\S+)\n`)
	reRecovery = regexp.MustCompile(`(?m)^ +\d+\. (\S+)$`)
)

// user is a scripted client. It answers the token prompt with token, each
// enrollment prompt with answer(secret, try) and the recovery prompt with "".
// Any prompt it does not expect, or a nil answer, is a disconnect.
type user struct {
	token   string
	answer  func(secret []byte, try int) (string, error)
	barrier func() // called after reading the enrollment prompt, before answering
	// atRecovery, if set, runs when the recovery codes are shown; its error
	// is the client's answer (a disconnect).
	atRecovery func() error

	prompts  []string
	echos    []bool
	secret   []byte
	uri      string
	shownKey string
	recovery []string
	tries    int
}

func (c *user) challenge(name, instruction string, qs []string, echos []bool) ([]string, error) {
	if len(qs) != 1 {
		return nil, fmt.Errorf("want one question, got %d", len(qs))
	}
	if name != "" || instruction != "" {
		// OpenSSH prints a non-empty name as a stray line before the prompt.
		return nil, fmt.Errorf("want empty name and instruction, got %q, %q", name, instruction)
	}
	q := qs[0]
	c.prompts = append(c.prompts, q)
	c.echos = append(c.echos, echos...)
	switch {
	case q == PromptToken:
		return []string{c.token}, nil
	case strings.HasSuffix(q, PromptCodeFromApp):
		c.tries++
		if c.secret == nil {
			m := reKey.FindStringSubmatch(q)
			if m == nil {
				return nil, fmt.Errorf("no secret in prompt %q", q)
			}
			c.shownKey = strings.TrimSpace(m[1])
			sec, err := oath.DecodeSecret(strings.ReplaceAll(m[1], " ", ""))
			if err != nil {
				return nil, err
			}
			c.secret = sec
			if u := reURI.FindStringSubmatch(q); u != nil {
				c.uri = u[1]
			}
		}
		if c.barrier != nil {
			c.barrier()
		}
		return singleAnswer(c.answer(c.secret, c.tries))
	case strings.Contains(q, "recovery codes"):
		for _, m := range reRecovery.FindAllStringSubmatch(q, -1) {
			c.recovery = append(c.recovery, m[1])
		}
		if c.atRecovery != nil {
			if err := c.atRecovery(); err != nil {
				return nil, err
			}
		}
		return []string{""}, nil
	}
	return nil, fmt.Errorf("unexpected prompt %q", q)
}

func singleAnswer(a string, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return []string{a}, nil
}

// rightCode answers with the code for now, as a phone in sync would.
func rightCode(now time.Time) func([]byte, int) (string, error) {
	return func(sec []byte, _ int) (string, error) {
		p := oath.Params{Kind: oath.KindTOTP, Secret: sec, Digits: 6, Period: 30}
		return oath.Code(p, uint64(oath.Step(p, now))), nil
	}
}

func wrongCode(now time.Time) func([]byte, int) (string, error) {
	right := rightCode(now)
	return func(sec []byte, try int) (string, error) {
		c, _ := right(sec, try)
		var n int
		fmt.Sscan(c, &n)
		return fmt.Sprintf("%06d", (n+try)%1000000), nil
	}
}

func (s *senv) enroll(u *store.User, c *user) (*recorder, error) {
	r := &recorder{}
	err := s.e.Enroll(context.Background(), u, r.attempt(u.Name), c.challenge, true)
	return r, err
}

func TestEnrollFirstLogin(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	c := &user{answer: rightCode(s.now)}
	r, err := s.enroll(u, c)
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if len(c.prompts) != 2 {
		t.Fatalf("prompts: %q, want the enrollment then the recovery codes", c.prompts)
	}
	prompt := c.prompts[0]
	if !strings.ContainsAny(prompt, "▀▄█") {
		t.Error("enrollment prompt has no half-block QR code")
	}
	if !reGrouped.MatchString(c.shownKey) {
		t.Errorf("secret %q is not shown in groups of four", c.shownKey)
	}
	if len(c.secret) != oath.SecretSize {
		t.Errorf("secret is %d bytes, want %d", len(c.secret), oath.SecretSize)
	}
	if c.uri == "" || !strings.HasPrefix(c.uri, "otpauth://totp/") ||
		!strings.Contains(c.uri, "secret="+oath.EncodeSecret(c.secret)) || !strings.Contains(c.uri, "alice") {
		t.Errorf("URI %q does not carry the shown secret and account", c.uri)
	}
	// The QR in the prompt encodes that same URI.
	start := strings.Index(prompt, "(Google Authenticator")
	end := strings.Index(prompt, "\n\nOr enter this key")
	if start < 0 || end < 0 {
		t.Fatalf("prompt layout changed: %q", prompt)
	}
	qrText := strings.TrimPrefix(prompt[start:end], "(Google Authenticator, FreeOTP, Aegis, ...).\n\n")
	if got := decodeQR(t, halfBlocksToImage(qrText, true, 8)); got != c.uri {
		t.Errorf("QR decodes to %q, want the URI %q", got, c.uri)
	}

	got := s.user("alice")
	if got.OTP == nil || string(got.OTP.Params.Secret) != string(c.secret) {
		t.Fatalf("stored OTP %+v does not hold the shown secret", got.OTP)
	}
	p := got.OTP.Params
	if p.Kind != oath.KindTOTP || p.Digits != 6 || p.Period != 30 || p.Window != 1 {
		t.Errorf("stored params %+v", p)
	}
	step := oath.Step(p, s.now)
	if got.OTP.LastStep != step {
		t.Errorf("LastStep = %d, want the enrollment step %d", got.OTP.LastStep, step)
	}
	if got.RecoveryLeft != s.pol.RecoveryCodes || len(c.recovery) != s.pol.RecoveryCodes {
		t.Errorf("recovery: stored %d, shown %d, want %d", got.RecoveryLeft, len(c.recovery), s.pol.RecoveryCodes)
	}
	if want := "enroll.offered,enroll.confirmed"; strings.Join(r.types(), ",") != want {
		t.Errorf("audit %v, want %s", r.types(), want)
	}

	// The confirmation code cannot be replayed as a login code.
	code, _ := rightCode(s.now)(c.secret, 1)
	_, err = s.st.ConsumeOTP(context.Background(), "alice", s.now, store.Lockout{}, func(o store.OTP) (store.OTP, error) {
		st, err := oath.VerifyTOTP(o.Params, code, s.now, o.LastStep)
		o.LastStep = st
		return o, err
	})
	if !errors.Is(err, oath.ErrReplayed) {
		t.Errorf("enrollment code as a login code: %v, want ErrReplayed", err)
	}
	// The recovery codes shown are the ones stored.
	if len(c.recovery) > 0 {
		if _, err := s.st.UseRecoveryCode(context.Background(), "alice", c.recovery[0], s.now, store.Lockout{}); err != nil {
			t.Errorf("shown recovery code rejected: %v", err)
		}
	}
}

func TestEnrollNoRecoveryCodes(t *testing.T) {
	s := newSenv(t)
	s.pol.RecoveryCodes = 0
	u := s.addPending("alice", "")
	c := &user{answer: rightCode(s.now)}
	if _, err := s.enroll(u, c); err != nil {
		t.Fatal(err)
	}
	if len(c.prompts) != 1 {
		t.Errorf("prompts %d, want only the enrollment prompt", len(c.prompts))
	}
	if got := s.user("alice"); got.OTP == nil || got.RecoveryLeft != 0 {
		t.Errorf("after enrollment: %+v", got)
	}
}

func TestEnrollWrongCodes(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	c := &user{answer: wrongCode(s.now)}
	r, err := s.enroll(u, c)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Enroll: %v, want ErrFailed", err)
	}
	if c.tries != s.pol.MaxTries {
		t.Errorf("%d tries, want max_tries %d", c.tries, s.pol.MaxTries)
	}
	if len(c.prompts) > 1 && !strings.Contains(c.prompts[1], "did not match") {
		t.Errorf("retry prompt %q does not say the code did not match", c.prompts[1])
	}
	if got := s.user("alice"); got.OTP != nil || got.RecoveryLeft != 0 {
		t.Errorf("a failed enrollment stored a secret: %+v", got.OTP)
	}
	failed := 0
	for _, ev := range r.events {
		if ev.Type == "enroll.failed" {
			failed++
		}
	}
	if failed != s.pol.MaxTries {
		t.Errorf("%d enroll.failed events, want %d", failed, s.pol.MaxTries)
	}

	// Right on the last try enrolls.
	c = &user{answer: func(sec []byte, try int) (string, error) {
		if try < s.pol.MaxTries {
			return wrongCode(s.now)(sec, try)
		}
		return rightCode(s.now)(sec, try)
	}}
	if _, err := s.enroll(u, c); err != nil {
		t.Fatalf("right code on the last try: %v", err)
	}
	if got := s.user("alice"); got.OTP == nil || string(got.OTP.Params.Secret) != string(c.secret) {
		t.Error("secret not stored after the last-try code")
	}
}

func TestEnrollMalformedAnswers(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	bad := []string{"", strings.Repeat("1", 1<<20), "12345", "1234567", "１２３４５６", "123\x00456"}
	for _, a := range bad {
		c := &user{answer: func([]byte, int) (string, error) { return a, nil }}
		if _, err := s.enroll(u, c); !errors.Is(err, ErrFailed) {
			t.Errorf("answer %.20q: %v, want ErrFailed", a, err)
		}
	}
	if s.user("alice").OTP != nil {
		t.Error("a malformed answer enrolled the user")
	}
}

func TestEnrollAbandoned(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	c := &user{answer: func([]byte, int) (string, error) { return "", errors.New("connection reset") }}
	r, err := s.enroll(u, c)
	if !errors.Is(err, ErrAbandoned) {
		t.Fatalf("Enroll: %v, want ErrAbandoned", err)
	}
	if s.user("alice").OTP != nil {
		t.Error("an abandoned enrollment stored a secret")
	}
	if types := r.types(); len(types) == 0 || types[len(types)-1] != "enroll.abandoned" {
		t.Errorf("audit %v, want enroll.abandoned last", types)
	}
	// The user can still enroll afterwards.
	if _, err := s.enroll(u, &user{answer: rightCode(s.now)}); err != nil {
		t.Errorf("enroll after abandon: %v", err)
	}
}

func TestEnrollRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(s *senv)
		token   string // the user's outstanding token
		answer  string // what the client answers to the token prompt
		message string // the Notify message must contain this
	}{
		{"window expired", func(s *senv) { s.now = t0.Add(time.Hour + time.Second) }, "", "", "reset-otp"},
		{"policy admin", func(s *senv) { s.pol.Policy = config.PolicyAdmin }, "", "", "administrator"},
		{"token policy, no token issued", func(s *senv) { s.pol.Policy = config.PolicyToken }, "", "", "--enroll-token"},
		{"token policy, wrong token", func(s *senv) { s.pol.Policy = config.PolicyToken }, "tok-right", "tok-wrong", "not valid"},
		{"token policy, empty token", func(s *senv) { s.pol.Policy = config.PolicyToken }, "tok-right", "", "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSenv(t)
			u := s.addPending("alice", tt.token)
			tt.setup(s)
			c := &user{token: tt.answer, answer: rightCode(s.now)}
			r, err := s.enroll(u, c)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Enroll: %v, want ErrRefused", err)
			}
			for _, p := range c.prompts {
				if p != PromptToken {
					t.Errorf("refused user was shown %.40q", p)
				}
			}
			if c.secret != nil {
				t.Error("refused user was shown a secret")
			}
			if len(r.notes) != 1 || !strings.Contains(r.notes[0], tt.message) {
				t.Errorf("notify %q should contain %q", r.notes, tt.message)
			}
			if types := r.types(); len(types) != 1 || types[0] != "enroll.refused" {
				t.Errorf("audit %v, want [enroll.refused]", types)
			}
			if s.user("alice").OTP != nil {
				t.Error("refused user got a secret")
			}
		})
	}
}

func TestEnrollToken(t *testing.T) {
	s := newSenv(t)
	s.pol.Policy = config.PolicyToken
	u := s.addPending("alice", "tok-right")
	c := &user{token: " tok-right\n", answer: rightCode(s.now)}
	if _, err := s.enroll(u, c); err != nil {
		t.Fatalf("right token: %v", err)
	}
	if len(c.prompts) < 2 || c.prompts[0] != PromptToken || c.echos[0] {
		t.Errorf("prompts %q echos %v: want the hidden token prompt first", c.prompts, c.echos)
	}
	if s.user("alice").OTP == nil {
		t.Fatal("not enrolled")
	}
	ctx := context.Background()
	if err := s.st.CheckEnrollToken(ctx, "alice", "tok-right"); !errors.Is(err, store.ErrTokenRejected) {
		t.Errorf("token still valid after enrollment: %v", err)
	}
	// After a reset without a token, the old token does not help.
	if err := s.st.ResetOTP(ctx, "alice", t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	c = &user{token: "tok-right", answer: rightCode(s.now)}
	if _, err := s.enroll(s.user("alice"), c); !errors.Is(err, ErrRefused) {
		t.Errorf("enroll with a spent token: %v, want ErrRefused", err)
	}
	if s.user("alice").OTP != nil {
		t.Error("spent token enrolled the user")
	}
}

func TestEnrollConcurrentBindsOneSecret(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	const n = 2
	var ready sync.WaitGroup
	ready.Add(n)
	all := make(chan struct{})
	go func() { ready.Wait(); close(all) }()
	var stuck atomic.Bool
	clients := make([]*user, n)
	errs := make([]error, n)
	recs := make([]*recorder, n)
	var wg sync.WaitGroup
	for i := range n {
		// Both clients have read their prompt before either answers, so both
		// codes verify and the race is in SetOTP. The barrier gives up after
		// 30s (the other client never got its prompt) instead of hanging.
		once := sync.OnceFunc(func() {
			ready.Done()
			select {
			case <-all:
			case <-time.After(30 * time.Second):
				stuck.Store(true)
			}
		})
		clients[i] = &user{answer: rightCode(s.now), barrier: once}
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = &recorder{}
			errs[i] = s.e.Enroll(context.Background(), u, recs[i].attempt("alice"), clients[i].challenge, true)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("concurrent enrollments did not return within 60s")
	}
	if stuck.Load() {
		t.Fatal("a client waited 30s at the barrier: the other never got its enrollment prompt")
	}
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("clients %d and %d both enrolled", winner, i)
			}
			winner = i
		case !errors.Is(err, ErrRefused):
			t.Errorf("client %d: %v, want ErrRefused", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no client enrolled: %v", errs)
	}
	if string(clients[0].secret) == string(clients[1].secret) {
		t.Fatal("both clients were shown the same secret")
	}
	got := s.user("alice")
	if got.OTP == nil || string(got.OTP.Params.Secret) != string(clients[winner].secret) {
		t.Error("stored secret is not the winner's")
	}
	// The codes are shown before the commit, so the loser saw codes that
	// were never stored: it must be told they are void.
	if len(clients[1-winner].recovery) != 0 && !strings.Contains(strings.Join(recs[1-winner].notes, ""), "codes shown are void") {
		t.Error("the loser was shown recovery codes that were never stored, and not told")
	}
}

// TestEnrollCodesShownBeforeCommit: the secret is stored only after the user
// acknowledged the recovery codes; a connection cut while they are shown
// leaves the user pending, and they can enroll again.
func TestEnrollCodesShownBeforeCommit(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	pendingWhileShown := false
	c := &user{answer: rightCode(s.now), atRecovery: func() error {
		pendingWhileShown = s.user("alice").OTP == nil
		return errors.New("connection reset")
	}}
	r, err := s.enroll(u, c)
	if !errors.Is(err, ErrAbandoned) {
		t.Fatalf("cut at the recovery codes: %v, want ErrAbandoned", err)
	}
	if !pendingWhileShown {
		t.Error("the secret was stored before the recovery codes were acknowledged")
	}
	if got := s.user("alice"); got.OTP != nil || got.RecoveryLeft != 0 {
		t.Fatalf("cut before acknowledging the codes, yet enrolled: %+v", got)
	}
	if types := r.types(); types[len(types)-1] != "enroll.abandoned" {
		t.Errorf("audit %v, want enroll.abandoned last", types)
	}
	if _, err := s.enroll(u, &user{answer: rightCode(s.now)}); err != nil {
		t.Fatalf("enroll again: %v", err)
	}
	if s.user("alice").OTP == nil {
		t.Fatal("not enrolled after acknowledging the codes")
	}
}

// TestEnrollDeadlineExtended: enrollment asks for enroll.max_time as soon as
// it starts, instead of what is left of the login grace time.
func TestEnrollDeadlineExtended(t *testing.T) {
	s := newSenv(t)
	s.pol.MaxTime = 7 * time.Minute
	r, err := s.enroll(s.addPending("alice", ""), &user{answer: rightCode(s.now)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.extended) != 1 || r.extended[0] != 7*time.Minute {
		t.Fatalf("ExtendDeadline calls %v, want [7m]", r.extended)
	}
}

// TestEnrollWrongPasswordLooksTheSame: with a wrong password the dialog shows
// the same prompt and fails only after the code: no codes, nothing stored.
func TestEnrollWrongPasswordLooksTheSame(t *testing.T) {
	s := newSenv(t)
	u := s.addPending("alice", "")
	c := &user{answer: rightCode(s.now)}
	r := &recorder{}
	err := s.e.Enroll(context.Background(), u, r.attempt("alice"), c.challenge, false)
	if !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v, want ErrWrongPassword", err)
	}
	if len(c.prompts) != 1 || !strings.HasSuffix(c.prompts[0], PromptCodeFromApp) || c.recovery != nil {
		t.Fatalf("prompts %q: want only the enrollment prompt", c.prompts)
	}
	if s.user("alice").OTP != nil {
		t.Fatal("a wrong password enrolled the user")
	}
}
