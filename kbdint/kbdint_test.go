// Tests for Verifier.Login against a real state file, with scripted
// keyboard-interactive clients and an injected clock.
package kbdint_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/kbdint"
	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
)

const password = "correct horse battery staple"

var (
	t0     = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cheap  = passwd.Params{MemoryKiB: 64, Time: 1, Threads: 1}
	secret = []byte("12345678901234567890") // RFC 4226 / 6238 test secret
	totpP  = oath.Params{Kind: oath.KindTOTP, Secret: secret, Digits: 6, Period: 30, Window: 1}
)

// script is a keyboard-interactive client that gives scripted answers, one
// slice per round, and records what it was asked. When the script runs out
// it returns an error, like a client that disconnected.
type script struct {
	rounds  [][]string
	prompts []string
	echos   []bool
}

func answers(rounds ...[]string) *script { return &script{rounds: rounds} }

// login is the usual two rounds: password, then code.
func login(pw, code string) *script { return answers([]string{pw}, []string{code}) }

func (s *script) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	s.prompts = append(s.prompts, questions...)
	s.echos = append(s.echos, echos...)
	if len(s.rounds) == 0 {
		return nil, errors.New("client disconnected")
	}
	r := s.rounds[0]
	s.rounds = s.rounds[1:]
	return r, nil
}

// recorder collects what Login shows the client and writes to the audit log.
type recorder struct {
	events  []audit.Event
	notes   []string
	failOn  string // Audit fails for this event type
	attempt kbdint.Attempt
}

func newRecorder(user string) *recorder {
	r := &recorder{}
	r.attempt = kbdint.Attempt{
		User:   user,
		Source: "192.0.2.7:40000",
		Notify: func(msg string) { r.notes = append(r.notes, msg) },
		Audit: func(e audit.Event) error {
			r.events = append(r.events, e)
			if e.Type == r.failOn {
				return errors.New("disk full")
			}
			return nil
		},
	}
	return r
}

func (r *recorder) types() []string {
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

type env struct {
	t   *testing.T
	st  *store.Store
	now time.Time
	pol kbdint.Policy
	v   *kbdint.Verifier
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "bastion.db"), filepath.Join(dir, "state.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, now: t0, pol: kbdint.Policy{LockoutAfter: 3, LockoutTime: 5 * time.Minute}}
	e.v = &kbdint.Verifier{
		Store:  st,
		Policy: func() kbdint.Policy { return e.pol },
		Now:    func() time.Time { return e.now },
	}
	return e
}

func (e *env) addUser(name string, otp *store.OTP, recovery ...string) {
	e.t.Helper()
	h, err := passwd.Hash(password, cheap)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.st.AddUser(ctx, store.NewUser{Name: name, PasswordHash: h, EnrollUntil: t0.Add(time.Hour)}, t0); err != nil {
		e.t.Fatal(err)
	}
	if otp != nil {
		if err := e.st.SetOTP(ctx, name, *otp, recovery, false); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) addTOTPUser(name string, recovery ...string) {
	e.addUser(name, &store.OTP{Params: totpP}, recovery...)
}

func (e *env) code() string { return oath.Code(totpP, uint64(oath.Step(totpP, e.now))) }

func (e *env) login(user string, s *script) (*store.User, *recorder, error) {
	r := newRecorder(user)
	u, err := e.v.Login(context.Background(), r.attempt, s.challenge)
	return u, r, err
}

func (e *env) user(name string) *store.User {
	e.t.Helper()
	u, err := e.st.User(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestLoginTOTPSuccess(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	s := login(password, e.code())
	u, r, err := e.login("alice", s)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if u == nil || u.Name != "alice" {
		t.Fatalf("Login returned user %+v", u)
	}
	if want := []string{"Password: ", "Verification code: "}; !slices.Equal(s.prompts, want) {
		t.Errorf("prompts %q, want %q", s.prompts, want)
	}
	if want := []bool{false, false}; !slices.Equal(s.echos, want) {
		t.Errorf("echos %v, want %v (answers must not be echoed)", s.echos, want)
	}
	after := e.user("alice")
	if after.OTP.LastStep != oath.Step(totpP, e.now) {
		t.Errorf("LastStep = %d, want the step used %d", after.OTP.LastStep, oath.Step(totpP, e.now))
	}
	if !after.LastLogin.Equal(e.now) || after.LastSource != "192.0.2.7:40000" {
		t.Errorf("success not recorded: LastLogin=%v LastSource=%q", after.LastLogin, after.LastSource)
	}
	if len(r.notes) != 0 {
		t.Errorf("unexpected messages %q", r.notes)
	}
}

// The default window is the current step and one either side. Each offset
// is tried by a user who never logged in, so no replay state can refuse it.
func TestLoginAdjacentStepAccepted(t *testing.T) {
	e := newEnv(t)
	for off := int64(-3); off <= 3; off++ {
		name := fmt.Sprintf("user%+d", off)
		e.addTOTPUser(name)
		code := oath.Code(totpP, uint64(oath.Step(totpP, e.now)+off))
		_, _, err := e.login(name, login(password, code))
		inWindow := off >= -1 && off <= 1
		if inWindow && err != nil {
			t.Errorf("code %+d steps from now: %v, want accepted", off, err)
		}
		if !inWindow && !errors.Is(err, kbdint.ErrDenied) {
			t.Errorf("code %+d steps from now: %v, want ErrDenied", off, err)
		}
	}
}

func TestLoginWrongPasswordDoesNotConsumeCode(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	code := e.code()
	s := login("wrong password", code)
	_, r, err := e.login("alice", s)
	if !errors.Is(err, kbdint.ErrDenied) {
		t.Fatalf("wrong password: %v, want ErrDenied", err)
	}
	if want := []string{kbdint.PromptPassword, kbdint.PromptCode}; !slices.Equal(s.prompts, want) {
		t.Errorf("prompts %q, want both %q (a client must not learn which factor failed)", s.prompts, want)
	}
	if want := []string{"auth.password", "login.failure"}; !slices.Equal(r.types(), want) {
		t.Errorf("audit %v, want %v", r.types(), want)
	}
	if r.events[0].Result != "fail" {
		t.Errorf("auth.password result %q, want fail", r.events[0].Result)
	}
	if got := e.user("alice"); got.Failures != 1 || got.OTP.LastStep != 0 {
		t.Errorf("after wrong password: Failures=%d LastStep=%d, want 1 and 0", got.Failures, got.OTP.LastStep)
	}
	// The same code still works with the right password.
	if _, _, err := e.login("alice", login(password, code)); err != nil {
		t.Errorf("code after a wrong-password login: %v (it was consumed)", err)
	}
	if got := e.user("alice"); got.Failures != 0 {
		t.Errorf("Failures = %d after success, want 0", got.Failures)
	}
}

func TestLoginWrongCode(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	right := e.code()
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, right)+1)%1000000)
	_, r, err := e.login("alice", login(password, wrong))
	if !errors.Is(err, kbdint.ErrDenied) {
		t.Fatalf("wrong code: %v, want ErrDenied", err)
	}
	if want := []string{"auth.password", "auth.otp", "login.failure"}; !slices.Equal(r.types(), want) {
		t.Errorf("audit %v, want %v", r.types(), want)
	}
	if r.events[0].Result != "ok" || r.events[1].Result != "fail" {
		t.Errorf("results %q %q, want ok then fail", r.events[0].Result, r.events[1].Result)
	}
	if e.user("alice").Failures != 1 {
		t.Error("wrong code not counted")
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoginReplayedCode(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	code := e.code()
	if _, _, err := e.login("alice", login(password, code)); err != nil {
		t.Fatal(err)
	}
	_, r, err := e.login("alice", login(password, code))
	if !errors.Is(err, kbdint.ErrDenied) {
		t.Fatalf("replayed code: %v, want ErrDenied", err)
	}
	if !strings.Contains(err.Error(), oath.ErrReplayed.Error()) {
		t.Errorf("reason %q does not say the code was replayed", err)
	}
	if r.events[1].Fields["reason"] != oath.ErrReplayed.Error() {
		t.Errorf("audit reason %q", r.events[1].Fields["reason"])
	}
	// Still replayed 20 s later (same step), while the next step's code works.
	e.now = e.now.Add(20 * time.Second)
	if oath.Step(totpP, e.now) == oath.Step(totpP, t0) {
		if _, _, err := e.login("alice", login(password, code)); !errors.Is(err, kbdint.ErrDenied) {
			t.Errorf("replay later in the step: %v", err)
		}
	}
	e.now = t0.Add(30 * time.Second)
	if _, _, err := e.login("alice", login(password, e.code())); err != nil {
		t.Errorf("next step's code: %v", err)
	}
}

func TestLoginHOTPLookAhead(t *testing.T) {
	e := newEnv(t)
	e.pol.LockoutAfter = 100
	p := oath.Params{Kind: oath.KindHOTP, Secret: secret, Digits: 6, Window: 10}
	e.addUser("bob", &store.OTP{Params: p, Counter: 0})
	// RFC 4226 Appendix D, counter 5.
	if c := oath.Code(p, 5); c != "254676" {
		t.Fatalf("oath.Code(5) = %s, want RFC 4226 vector 254676", c)
	}
	if _, _, err := e.login("bob", login(password, "254676")); err != nil {
		t.Fatalf("code 5 ahead within look-ahead 10: %v", err)
	}
	if got := e.user("bob").OTP.Counter; got != 6 {
		t.Errorf("counter = %d, want 6", got)
	}
	if _, _, err := e.login("bob", login(password, "254676")); !errors.Is(err, kbdint.ErrDenied) {
		t.Errorf("HOTP code reused: %v, want ErrDenied", err)
	}
	if _, _, err := e.login("bob", login(password, oath.Code(p, 2))); !errors.Is(err, kbdint.ErrDenied) {
		t.Errorf("HOTP code behind the counter: %v, want ErrDenied", err)
	}
	if _, _, err := e.login("bob", login(password, oath.Code(p, 6+11))); !errors.Is(err, kbdint.ErrDenied) {
		t.Errorf("HOTP code beyond the look-ahead: %v, want ErrDenied", err)
	}
	if _, _, err := e.login("bob", login(password, oath.Code(p, 6+10))); err != nil {
		t.Errorf("HOTP code at the edge of the look-ahead: %v", err)
	}
	if got := e.user("bob").OTP.Counter; got != 17 {
		t.Errorf("counter = %d, want 17", got)
	}
}

func TestLoginRecoveryCode(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice", "abcde-fghjk", "mnpqr-stuvw")
	_, r, err := e.login("alice", login(password, "ABCDE-FGHJK"))
	if err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if want := []string{"auth.password", "auth.recovery", "login.success"}; !slices.Equal(r.types(), want) {
		t.Errorf("audit %v, want %v", r.types(), want)
	}
	if r.events[2].Fields["method"] != "recovery" {
		t.Errorf("login.success method %q, want recovery", r.events[2].Fields["method"])
	}
	if got := e.user("alice").RecoveryLeft; got != 1 {
		t.Errorf("RecoveryLeft = %d, want 1", got)
	}
	if _, _, err := e.login("alice", login(password, "abcde-fghjk")); !errors.Is(err, kbdint.ErrDenied) {
		t.Errorf("recovery code reused: %v, want ErrDenied", err)
	}
	// A wrong password does not spend a recovery code either.
	if _, _, err := e.login("alice", login("nope", "mnpqr-stuvw")); !errors.Is(err, kbdint.ErrDenied) {
		t.Fatal(err)
	}
	if _, _, err := e.login("alice", login(password, "mnpqr-stuvw")); err != nil {
		t.Errorf("second recovery code: %v", err)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	var last *recorder
	for i := range 3 {
		_, r, err := e.login("alice", login(password, "000000"))
		if !errors.Is(err, kbdint.ErrDenied) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		last = r
	}
	if !slices.Contains(last.types(), "lockout") {
		t.Errorf("third failure audit %v has no lockout event", last.types())
	}

	// Locked: refused before any prompt, even with both factors right.
	s := login(password, e.code())
	_, r, err := e.login("alice", s)
	if !errors.Is(err, kbdint.ErrLocked) {
		t.Fatalf("locked user: %v, want ErrLocked", err)
	}
	if len(s.prompts) != 0 {
		t.Errorf("locked user was prompted %q", s.prompts)
	}
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], "locked") || !strings.Contains(r.notes[0], "5m0s") {
		t.Errorf("notify %q should say locked and for how long", r.notes)
	}
	if e.user("alice").OTP.LastStep != 0 {
		t.Error("a locked login consumed the code")
	}

	// 4 minutes later: still locked, and the message counts down.
	e.now = t0.Add(4 * time.Minute)
	_, r, err = e.login("alice", login(password, e.code()))
	if !errors.Is(err, kbdint.ErrLocked) || len(r.notes) != 1 || !strings.Contains(r.notes[0], "1m0s") {
		t.Errorf("4 min later: err=%v notes=%q", err, r.notes)
	}

	// Past the lock: both factors get in again.
	e.now = t0.Add(5*time.Minute + time.Second)
	if _, _, err := e.login("alice", login(password, e.code())); err != nil {
		t.Errorf("after the lock expired: %v", err)
	}
}

func TestLockoutUntilAdmin(t *testing.T) {
	e := newEnv(t)
	e.pol = kbdint.Policy{LockoutAfter: 2, LockoutTime: 0}
	e.addTOTPUser("alice")
	for range 2 {
		if _, _, err := e.login("alice", login("bad", "000000")); !errors.Is(err, kbdint.ErrDenied) {
			t.Fatal(err)
		}
	}
	e.now = t0.Add(1000 * time.Hour)
	s := login(password, e.code())
	_, r, err := e.login("alice", s)
	if !errors.Is(err, kbdint.ErrLocked) || len(s.prompts) != 0 {
		t.Fatalf("hand lock: err=%v prompts=%q", err, s.prompts)
	}
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], "administrator") {
		t.Errorf("notify %q should send the user to an administrator", r.notes)
	}
	if err := e.st.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.login("alice", login(password, e.code())); err != nil {
		t.Errorf("after Unlock: %v", err)
	}
}

// allStrings returns every string an audit event carries.
func allStrings(e audit.Event) []string {
	out := []string{e.Type, e.User, e.Source, e.Target, e.Result, e.ConnID}
	for k, v := range e.Fields {
		out = append(out, k, v)
	}
	return out
}

func TestAuditEventsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice", "abcde-fghjk")
	code := e.code()
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	tests := []struct {
		name   string
		s      *script
		types  []string
		secret []string
	}{
		{"success", login(password, code), []string{"auth.password", "auth.otp", "login.success"}, []string{password, code}},
		{"wrong code", login(password, wrong), []string{"auth.password", "auth.otp", "login.failure"}, []string{password, wrong}},
		{"wrong password", login("hunter2-guess", wrong), []string{"auth.password", "login.failure"}, []string{"hunter2-guess", wrong}},
		{"recovery", login(password, "abcde-fghjk"), []string{"auth.password", "auth.recovery", "login.success"}, []string{password, "abcde-fghjk", "abcdefghjk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r, _ := e.login("alice", tt.s)
			if !slices.Equal(r.types(), tt.types) {
				t.Errorf("audit types %v, want %v", r.types(), tt.types)
			}
			for _, ev := range r.events {
				if ev.User != "alice" {
					t.Errorf("%s: user %q", ev.Type, ev.User)
				}
				for _, s := range allStrings(ev) {
					for _, sec := range tt.secret {
						if strings.Contains(s, sec) {
							t.Errorf("%s event carries secret %q in %q", ev.Type, sec, s)
						}
					}
				}
			}
		})
	}
}

func TestAuditDownRefusesLogin(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	r := newRecorder("alice")
	r.failOn = "login.success"
	u, err := e.v.Login(context.Background(), r.attempt, login(password, e.code()).challenge)
	if !errors.Is(err, kbdint.ErrAuditFailed) || u != nil {
		t.Fatalf("Login with audit down: u=%v err=%v, want ErrAuditFailed", u, err)
	}
	if !slices.Equal(r.notes, []string{kbdint.MsgAuditDown}) {
		t.Errorf("notify %q, want MsgAuditDown", r.notes)
	}
	if !e.user("alice").LastLogin.IsZero() {
		t.Error("success recorded although the audit record was not written")
	}
}

func TestMalformedAnswers(t *testing.T) {
	e := newEnv(t)
	e.pol.LockoutAfter = 100
	e.addTOTPUser("alice")
	code := e.code()
	huge := strings.Repeat("1", 1<<20)
	tests := []struct {
		name string
		s    *script
	}{
		{"no password answer", answers([]string{}, []string{code})},
		{"two password answers", answers([]string{password, password}, []string{code})},
		{"nil password answers", answers(nil, []string{code})},
		{"1 MiB password", login(strings.Repeat("p", 1<<20), code)},
		{"password with NUL", login(password+"\x00", code)},
		{"no code answer", answers([]string{password}, []string{})},
		{"two code answers", answers([]string{password}, []string{code, code})},
		{"1 MiB code", login(password, huge)},
		{"1 MiB code ending in the code", login(password, strings.Repeat(" ", 1<<20)+code)},
		{"code with NUL", login(password, code+"\x00")},
		{"NUL inside code", login(password, code[:3]+"\x00"+code[3:])},
		{"unicode digits", login(password, toFullwidth(code))},
		{"arabic-indic digits", login(password, "٠١٢٣٤٥")},
		{"5 digits", login(password, code[:5])},
		{"7 digits", login(password, code+"0")},
		{"empty code", login(password, "")},
		{"negative", login(password, "-"+code)},
		{"invalid UTF-8", login(password, "\xff\xfe\xfd\xfc\xfb\xfa")},
		{"8 digits (scratch-code shape)", login(password, code+"00")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.login("alice", tt.s)
			if !errors.Is(err, kbdint.ErrDenied) {
				t.Fatalf("err = %v, want ErrDenied", err)
			}
			if len(tt.s.prompts) != 2 {
				t.Errorf("prompts %q: both prompts must be asked", tt.s.prompts)
			}
			u := e.user("alice")
			if u.Failures != i+1 {
				t.Errorf("Failures = %d, want %d: a malformed answer must count", u.Failures, i+1)
			}
			if u.OTP.LastStep != 0 {
				t.Error("a malformed answer consumed the code")
			}
		})
	}
	// The code was never consumed by any of them.
	if _, _, err := e.login("alice", login(password, code)); err != nil {
		t.Errorf("right code after malformed answers: %v", err)
	}
}

func toFullwidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r - '0' + '０')
	}
	return b.String()
}

func TestClientGone(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	for _, s := range []*script{answers(), answers([]string{password})} {
		if _, _, err := e.login("alice", s); !errors.Is(err, kbdint.ErrDenied) {
			t.Errorf("client gone after %d prompts: %v, want ErrDenied", len(s.prompts), err)
		}
	}
	if _, _, err := e.login("alice", login(password, e.code())); err != nil {
		t.Errorf("login after aborted attempts: %v", err)
	}
	if u := e.user("alice"); u.Failures != 0 {
		t.Errorf("failures after a right password and a success: %d", u.Failures)
	}
}

// Leaving at the second prompt after a wrong password counts as a failure,
// so the choice of second prompt is no free password oracle.
func TestLeavingAfterWrongPasswordCounts(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	if _, _, err := e.login("alice", answers([]string{"wrong"})); !errors.Is(err, kbdint.ErrDenied) {
		t.Fatalf("got %v, want ErrDenied", err)
	}
	if u := e.user("alice"); u.Failures != 1 {
		t.Fatalf("failures: %d, want 1", u.Failures)
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t)
	s := login(password, "123456")
	if u, _, err := e.login("nobody", s); !errors.Is(err, kbdint.ErrDenied) || u != nil {
		t.Errorf("unknown user: u=%v err=%v, want ErrDenied", u, err)
	}
}

// enroller is a fake kbdint.Enroller: it asks one question, as the real
// dialog does whatever the password, and fails after it when the password
// was wrong.
type enroller struct {
	calls      int
	passwordOK []bool
	err        error
}

func (f *enroller) Enroll(ctx context.Context, u *store.User, a kbdint.Attempt, c ssh.KeyboardInteractiveChallenge, passwordOK bool) error {
	f.calls++
	f.passwordOK = append(f.passwordOK, passwordOK)
	if _, err := c("", "", []string{"Verification code from the app: "}, []bool{true}); err != nil {
		return err
	}
	if !passwordOK {
		return errors.New("wrong password")
	}
	return f.err
}

// TestPendingUserNoPasswordOracle: for a pending user a right and a wrong
// password lead to the same prompts; the wrong one fails after the code and
// counts toward the lockout.
func TestPendingUserNoPasswordOracle(t *testing.T) {
	e := newEnv(t)
	e.addUser("carol", nil)
	f := &enroller{}
	e.v.Enroll = f

	wrong := login("wrong", "123456")
	if _, _, err := e.login("carol", wrong); !errors.Is(err, kbdint.ErrDenied) {
		t.Fatalf("pending user, wrong password: %v", err)
	}
	if e.user("carol").Failures != 1 {
		t.Error("a wrong password of a pending user was not counted")
	}

	f.err = errors.New("refused")
	refused := login(password, "123456")
	if _, _, err := e.login("carol", refused); !errors.Is(err, kbdint.ErrDenied) || f.calls != 2 {
		t.Errorf("enrollment failed: err=%v calls=%d", err, f.calls)
	}
	if !slices.Equal(wrong.prompts, refused.prompts) {
		t.Errorf("prompts differ: wrong password %q, right password %q", wrong.prompts, refused.prompts)
	}
	if !slices.Equal(f.passwordOK, []bool{false, true}) {
		t.Errorf("passwordOK passed %v", f.passwordOK)
	}

	f.err = nil
	u, r, err := e.login("carol", login(password, "123456"))
	if err != nil || u == nil || f.calls != 3 {
		t.Fatalf("enrollment: u=%v err=%v calls=%d", u, err, f.calls)
	}
	if last := r.events[len(r.events)-1]; last.Type != "login.success" || last.Fields["method"] != "enrollment" {
		t.Errorf("last audit event %+v", last)
	}
}
