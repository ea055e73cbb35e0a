package oath

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const gaSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestParseGoogleAuthenticator(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       GAFile
		params     Params
	}{
		{
			name: "totp as written by google-authenticator -t -d -f -r 3 -R 30 -w 17",
			file: gaSecret + "\n\" RATE_LIMIT 3 30 1700000000 1700000010\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666 56666667\n\" TOTP_AUTH\n12345678\n87654321\n",
			want: GAFile{Kind: KindTOTP, WindowSize: 17, StepSize: 30, DisallowReuse: true,
				RateLimit: 3, RateLimitSecs: 30, ScratchCodes: []string{"12345678", "87654321"}},
			params: Params{Kind: KindTOTP, Digits: 6, Period: 30, Window: 8},
		},
		{
			name:   "totp minimal, CRLF, defaults",
			file:   strings.ToLower(gaSecret) + "\r\n\" TOTP_AUTH\r\n",
			want:   GAFile{Kind: KindTOTP, WindowSize: 3, StepSize: 30},
			params: Params{Kind: KindTOTP, Digits: 6, Period: 30, Window: 1},
		},
		{
			name:   "totp step 60 window 1, unknown options ignored, no final newline",
			file:   gaSecret + "\n\" TOTP_AUTH\n\" STEP_SIZE 60\n\" WINDOW_SIZE 1\n\" TIME_SKEW 2\n\" RESETTING_TIME_SKEW 1+1 2+1\n\"\n\n11111111",
			want:   GAFile{Kind: KindTOTP, WindowSize: 1, StepSize: 60, ScratchCodes: []string{"11111111"}},
			params: Params{Kind: KindTOTP, Digits: 6, Period: 60, Window: 0},
		},
		{
			name:   "hotp",
			file:   gaSecret + "\n\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n12345678\n12345678\n",
			want:   GAFile{Kind: KindHOTP, HOTPCounter: 1, WindowSize: 3, StepSize: 30, ScratchCodes: []string{"12345678"}},
			params: Params{Kind: KindHOTP, Digits: 6, Window: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGoogleAuthenticator([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.Secret, rfcSecret) {
				t.Errorf("secret %x", g.Secret)
			}
			tc.want.Secret = g.Secret
			if g.Kind != tc.want.Kind || g.HOTPCounter != tc.want.HOTPCounter || g.WindowSize != tc.want.WindowSize ||
				g.StepSize != tc.want.StepSize || g.DisallowReuse != tc.want.DisallowReuse || g.RateLimit != tc.want.RateLimit ||
				g.RateLimitSecs != tc.want.RateLimitSecs || !slices.Equal(g.ScratchCodes, tc.want.ScratchCodes) {
				t.Errorf("got %+v\nwant %+v", *g, tc.want)
			}
			p := g.Params()
			tc.params.Secret = g.Secret
			if p.Kind != tc.params.Kind || p.Digits != tc.params.Digits || p.Period != tc.params.Period || p.Window != tc.params.Window {
				t.Errorf("Params = %+v, want %+v", p, tc.params)
			}
		})
	}
}

// libpam's HOTP window W accepts counters counter..counter+W-1.
func TestGAFileHOTPWindowMatchesLibpam(t *testing.T) {
	g, err := ParseGoogleAuthenticator([]byte(gaSecret + "\n\" HOTP_COUNTER 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := g.Params()
	if _, err := VerifyHOTP(p, Code(p, 7), 5); err != nil {
		t.Errorf("counter+2 rejected: %v", err)
	}
	if _, err := VerifyHOTP(p, Code(p, 8), 5); err == nil {
		t.Errorf("counter+3 accepted with WINDOW_SIZE 3")
	}
}

func TestParseGoogleAuthenticatorErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"empty", "", "line 1"},
		{"blank first line", "\n\" TOTP_AUTH\n", "line 1"},
		{"malformed secret", "GEZDGNB1!\n\" TOTP_AUTH\n", "line 1"},
		{"missing kind", gaSecret + "\n\" WINDOW_SIZE 3\n", "neither"},
		{"both kinds", gaSecret + "\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n", "both"},
		{"short scratch", gaSecret + "\n\" TOTP_AUTH\n1234567\n", "line 3"},
		{"letter scratch", gaSecret + "\n\" TOTP_AUTH\n12345678\n1234567a\n", "line 4"},
		{"leading zero scratch", gaSecret + "\n\" TOTP_AUTH\n01234567\n", "line 3"},
		{"garbage line", gaSecret + "\n\" TOTP_AUTH\nhello\n", "line 3"},
		{"window 0", gaSecret + "\n\" TOTP_AUTH\n\" WINDOW_SIZE 0\n", "line 3"},
		{"window 101", gaSecret + "\n\" TOTP_AUTH\n\" WINDOW_SIZE 101\n", "WINDOW_SIZE"},
		{"step 61", gaSecret + "\n\" TOTP_AUTH\n\" STEP_SIZE 61\n", "STEP_SIZE"},
		{"step text", gaSecret + "\n\" TOTP_AUTH\n\" STEP_SIZE x\n", "STEP_SIZE"},
		{"rate limit", gaSecret + "\n\" TOTP_AUTH\n\" RATE_LIMIT 3\n", "RATE_LIMIT"},
		{"hotp counter", gaSecret + "\n\" HOTP_COUNTER -1\n", "HOTP_COUNTER"},
		{"duplicate", gaSecret + "\n\" TOTP_AUTH\n\" WINDOW_SIZE 3\n\" WINDOW_SIZE 5\n", "duplicate"},
		{"too big", gaSecret + "\n\" TOTP_AUTH\n" + strings.Repeat("\n", MaxGAFileSize), "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGoogleAuthenticator([]byte(tc.file))
			if err == nil {
				t.Fatalf("accepted: %+v", g)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "1234567") || strings.Contains(err.Error(), "GEZD") {
				t.Errorf("error leaks secret material: %q", err)
			}
		})
	}
}

func FuzzParseGoogleAuthenticator(f *testing.F) {
	f.Add([]byte(gaSecret + "\n\" RATE_LIMIT 3 30 1\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n12345678\n"))
	f.Add([]byte(gaSecret + "\n\" HOTP_COUNTER 1\n"))
	f.Add([]byte(""))
	f.Add([]byte("\"\n\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGoogleAuthenticator(data)
		if err != nil {
			return
		}
		if len(g.Secret) == 0 || (g.Kind != KindTOTP && g.Kind != KindHOTP) {
			t.Fatalf("bad result %+v", g)
		}
		p := g.Params()
		if p.Window < 0 || p.Window > maxWindow {
			t.Fatalf("window %d", p.Window)
		}
		VerifyHOTP(p, "123456", g.HOTPCounter)
	})
}
