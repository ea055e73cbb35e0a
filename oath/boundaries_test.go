// Limits at their exact edges: the largest accepted input, window, answer
// and time step, and the first refused one.
package oath

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestGAFileSizeLimit(t *testing.T) {
	base := gaSecret + "\n\" TOTP_AUTH\n\" PADDING "
	exact := base + strings.Repeat("x", MaxGAFileSize-len(base)-1) + "\n"
	if len(exact) != MaxGAFileSize {
		t.Fatalf("test file is %d bytes", len(exact))
	}
	if _, err := ParseGoogleAuthenticator([]byte(exact)); err != nil {
		t.Fatalf("a file of exactly %d bytes: %v", MaxGAFileSize, err)
	}
	if _, err := ParseGoogleAuthenticator([]byte(exact + "\n")); err == nil {
		t.Fatalf("a file of %d bytes accepted", MaxGAFileSize+1)
	}
}

func TestGAFileRateLimitWithoutTimestamps(t *testing.T) {
	g, err := ParseGoogleAuthenticator([]byte(gaSecret + "\n\" RATE_LIMIT 3 30\n\" TOTP_AUTH\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g.RateLimit != 3 || g.RateLimitSecs != 30 {
		t.Fatalf("RATE_LIMIT 3 30 read as %d %d", g.RateLimit, g.RateLimitSecs)
	}
}

func TestScratchCodeDigits(t *testing.T) {
	for code, want := range map[string]bool{
		"10000000": true, "99999999": true, "19090909": true,
		"1000000/": false, "1000000:": false, "/0000000": false, ":0000000": false,
		"09999999": false, "1234567": false, "123456789": false,
	} {
		if got := isScratchCode(code); got != want {
			t.Errorf("isScratchCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestWindowLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := Params{Kind: KindTOTP, Secret: []byte("12345678901234567890"), Window: maxWindow}
	code := Code(p, uint64(Step(p, now)-maxWindow))
	if _, err := VerifyTOTP(p, code, now, -1); err != nil {
		t.Fatalf("window %d, code %d steps old: %v", maxWindow, maxWindow, err)
	}
	if _, err := VerifyHOTP(p, Code(p, 7+maxWindow), 7); err != nil {
		t.Fatalf("HOTP window %d, code %d ahead: %v", maxWindow, maxWindow, err)
	}
	p.Window = maxWindow + 1
	if _, err := VerifyTOTP(p, code, now, -1); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("TOTP window %d: %v, want a params error", p.Window, err)
	}
	if _, err := VerifyHOTP(p, Code(p, 7), 7); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("HOTP window %d: %v, want a params error", p.Window, err)
	}
}

func TestAnswerLengthLimit(t *testing.T) {
	padded := "123456" + strings.Repeat(" ", maxAnswerLen-6)
	if c, err := NormalizeCode(padded, 6); err != nil || c != "123456" {
		t.Fatalf("an answer of exactly %d bytes: %q, %v", maxAnswerLen, c, err)
	}
	if _, err := NormalizeCode(padded+" ", 6); !errors.Is(err, ErrFormat) {
		t.Fatalf("an answer of %d bytes: %v, want ErrFormat", maxAnswerLen+1, err)
	}
}

// The last steps a 64-bit clock can hold: the window's loop must end, so
// cur+Window stays below MaxInt64 (at MaxInt64 its s++ would wrap around).
func TestTOTPAtTheEndOfTime(t *testing.T) {
	p := Params{Kind: KindTOTP, Secret: []byte("12345678901234567890"), Period: 1, Window: 1}
	verify := func(step int64) (int64, error) {
		type res struct {
			step int64
			err  error
		}
		done := make(chan res, 1)
		go func() {
			s, err := VerifyTOTP(p, Code(p, uint64(step)), time.Unix(step, 0), -1)
			done <- res{s, err}
		}()
		select {
		case r := <-done:
			return r.step, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("VerifyTOTP at step %d did not return within 10s", step)
			return 0, nil
		}
	}
	if Step(p, time.Unix(math.MaxInt64-2, 0)) != math.MaxInt64-2 {
		t.Fatal("Step does not round-trip near MaxInt64")
	}
	if step, err := verify(math.MaxInt64 - 2); err != nil || step != math.MaxInt64-2 {
		t.Fatalf("code at step MaxInt64-2: %d, %v", step, err)
	}
	for _, step := range []int64{math.MaxInt64 - 1, math.MaxInt64} {
		if _, err := verify(step); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a window reaching past MaxInt64 at step %d: %v, want ErrInvalid", step, err)
		}
	}
}

// Step 0 (the first 30 s of 1970) is a step like any other; steps before it
// do not exist, so a clock just before 1970 reaches only step 0.
func TestTOTPAtTheStartOfTime(t *testing.T) {
	p := Params{Kind: KindTOTP, Secret: []byte("12345678901234567890"), Window: 1}
	for _, now := range []time.Time{time.Unix(0, 0), time.Unix(29, 0), time.Unix(-1, 0)} {
		step, err := VerifyTOTP(p, Code(p, 0), now, -1)
		if err != nil || step != 0 {
			t.Fatalf("code of step 0 at %d: %d, %v", now.Unix(), step, err)
		}
	}
	if s := Step(p, time.Unix(-1, 0)); s != -1 {
		t.Fatalf("Step at -1s = %d, want -1 (floor)", s)
	}
}

func TestRecoveryCodeCountLimit(t *testing.T) {
	codes, err := NewRecoveryCodes(1000)
	if err != nil || len(codes) != 1000 {
		t.Fatalf("1000 codes: %d, %v", len(codes), err)
	}
	if _, err := NewRecoveryCodes(1001); err == nil {
		t.Fatal("1001 codes accepted")
	}
	// Every letter of the alphabet turns up in 10,000 characters: the
	// rejection sampling keeps the whole alphabet.
	seen := map[rune]bool{}
	for _, c := range codes {
		for _, r := range strings.ReplaceAll(c, "-", "") {
			seen[r] = true
		}
	}
	if len(seen) != len(recoveryAlphabet) {
		t.Fatalf("%d distinct characters in 1000 codes, want all %d of %q", len(seen), len(recoveryAlphabet), recoveryAlphabet)
	}
}

// Answers and secrets at exactly their length bound are still read.
func TestLengthBoundsInclusive(t *testing.T) {
	code := "ABCDE-FGHJK" + strings.Repeat(" ", maxAnswerLen-11)
	if got := NormalizeRecovery(code); got != "abcdefghjk" {
		t.Errorf("NormalizeRecovery of %d bytes = %q", len(code), got)
	}
	if got := NormalizeRecovery(code + " "); got != "" {
		t.Errorf("NormalizeRecovery of %d bytes = %q, want empty", len(code)+1, got)
	}
	if !LooksLikeRecovery(code, 6) || LooksLikeRecovery(code+" ", 6) {
		t.Errorf("LooksLikeRecovery at %d/%d bytes: %v/%v", len(code), len(code)+1, LooksLikeRecovery(code, 6), LooksLikeRecovery(code+" ", 6))
	}
	secret := strings.Repeat("A", 1024)
	if _, err := DecodeSecret(secret); err != nil {
		t.Errorf("a 1024-character secret: %v", err)
	}
	if _, err := DecodeSecret(secret + "A"); err == nil {
		t.Error("a 1025-character secret accepted")
	}
}
