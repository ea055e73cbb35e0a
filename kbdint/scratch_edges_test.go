package kbdint

import (
	"testing"
	"time"

	"bastion/oath"
	"bastion/store"
)

// Every ASCII digit, and only digits, make an 8-digit scratch code.
func TestScratchFor8DigitsDigitBounds(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	u := &store.User{RecoveryLeft: 1, OTP: &store.OTP{Params: oath.Params{Kind: oath.KindTOTP,
		Secret: []byte("12345678901234567890"), Digits: 8, Period: 30, Window: 1}, LastStep: -1}}
	for code, want := range map[string]bool{
		"10000009": true, "90000000": true,
		"1000000/": false, "1000000:": false, "/0000000": false, ":9999999": false,
	} {
		if got := scratchFor8Digits(u, code, now); got != want {
			t.Errorf("scratchFor8Digits(%q) = %v, want %v", code, got, want)
		}
	}
}
