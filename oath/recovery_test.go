package oath

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(50)
	if err != nil || len(codes) != 50 {
		t.Fatalf("NewRecoveryCodes: %d, %v", len(codes), err)
	}
	re := regexp.MustCompile(`^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !re.MatchString(c) || seen[c] {
			t.Errorf("bad or duplicate code %q", c)
		}
		seen[c] = true
		if !LooksLikeRecovery(c, 6) || NormalizeRecovery(strings.ToUpper(c)) != strings.ReplaceAll(c, "-", "") {
			t.Errorf("code %q does not round-trip", c)
		}
	}
	if c, err := NewRecoveryCodes(0); err != nil || len(c) != 0 {
		t.Errorf("n=0: %v %v", c, err)
	}
	if _, err := NewRecoveryCodes(-1); err == nil {
		t.Error("n=-1 accepted")
	}
}

func TestNormalizeRecovery(t *testing.T) {
	for in, want := range map[string]string{
		"abcde-fghjk":           "abcdefghjk",
		" ABCDE FGHJK ":         "abcdefghjk",
		"abcdefghjk":            "abcdefghjk",
		"1234 5678":             "12345678",
		"ab\x00cd":              "ab\x00cd",
		strings.Repeat("a", 65): "",
	} {
		if got := NormalizeRecovery(in); got != want {
			t.Errorf("NormalizeRecovery(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLooksLikeRecovery(t *testing.T) {
	for _, tc := range []struct {
		in     string
		digits int
		want   bool
	}{
		{"123456", 6, false},
		{" 123 456 ", 0, false},
		{"12345678", 6, true},  // scratch code
		{"12345678", 8, false}, // an 8-digit OTP
		{"1234-5678", 8, true},
		{"abcde-fghjk", 6, true},
		{"ABCDEFGHJK", 6, true},
		{"2345678923", 6, true}, // all-digit generated code
		{"12345", 6, false},
		{"١٢٣٤٥٦٧٨", 6, false},
		{strings.Repeat("a", 1<<20), 6, false},
	} {
		if got := LooksLikeRecovery(tc.in, tc.digits); got != tc.want {
			t.Errorf("LooksLikeRecovery(%.20q, %d) = %v", tc.in, tc.digits, got)
		}
	}
}
