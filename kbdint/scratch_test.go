package kbdint_test

import (
	"testing"

	"bastion/oath"
	"bastion/store"
)

// TestEightDigitScratchCodes: a user with 8-digit TOTP can log in with an
// 8-digit scratch code (imported from google-authenticator) as well as with
// an 8-digit OTP code, and a wrong 8-digit answer counts exactly once.
func TestEightDigitScratchCodes(t *testing.T) {
	e := newEnv(t)
	p8 := oath.Params{Kind: oath.KindTOTP, Secret: secret, Digits: 8, Period: 30, Window: 1}
	e.addUser("dora", &store.OTP{Params: p8}, "12345678", "23456789")

	u, r, err := e.login("dora", login(password, "12345678"))
	if err != nil || u == nil {
		t.Fatalf("8-digit scratch code: %v", err)
	}
	if !r.has("auth.recovery", "ok") {
		t.Errorf("audit %v, want auth.recovery ok", r.types())
	}
	if left := e.user("dora").RecoveryLeft; left != 1 {
		t.Errorf("%d recovery codes left, want 1", left)
	}
	if _, _, err := e.login("dora", login(password, "12345678")); err == nil {
		t.Fatal("a scratch code worked twice")
	}
	if f := e.user("dora").Failures; f != 1 {
		t.Fatalf("failures after a spent scratch code: %d, want exactly 1", f)
	}
	if _, _, err := e.login("dora", login(password, "99999999")); err == nil {
		t.Fatal("a wrong 8-digit answer logged in")
	}
	if f := e.user("dora").Failures; f != 2 {
		t.Fatalf("failures after a wrong 8-digit answer: %d, want exactly 2", f)
	}
	code := oath.Code(p8, uint64(oath.Step(p8, e.now)))
	if u, r, err := e.login("dora", login(password, code)); err != nil || u == nil || !r.has("auth.otp", "ok") {
		t.Fatalf("8-digit OTP code of a user with scratch codes: %v", err)
	}
}

func (r *recorder) has(typ, result string) bool {
	for _, e := range r.events {
		if e.Type == typ && e.Result == result {
			return true
		}
	}
	return false
}
