package oath

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

func TestSecretEncoding(t *testing.T) {
	s, err := NewSecret()
	if err != nil || len(s) != 20 {
		t.Fatalf("NewSecret: %d bytes, %v", len(s), err)
	}
	if t2, _ := NewSecret(); bytes.Equal(s, t2) {
		t.Fatal("two secrets are equal")
	}
	enc := EncodeSecret(rfcSecret)
	if enc != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Fatalf("EncodeSecret = %s", enc)
	}
	for _, in := range []string{
		enc,
		strings.ToLower(enc),
		"gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", // padding tolerated
	} {
		got, err := DecodeSecret(in)
		if err != nil || !bytes.Equal(got, rfcSecret) {
			t.Errorf("DecodeSecret(%q) = %x, %v", in, got, err)
		}
	}
	if got, err := DecodeSecret("JBSWY3DPEHPK3PXP"); err != nil || len(got) != 10 {
		t.Errorf("DecodeSecret 16 chars: %x %v", got, err)
	}
	for _, bad := range []string{"", "   ", "====", "GEZDGNB1", "GEZDGNB!", "A", "ÄÖÜ"} {
		if got, err := DecodeSecret(bad); err == nil {
			t.Errorf("DecodeSecret(%q) = %x, want error", bad, got)
		}
	}
}

func TestURIRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		p                Params
		issuer, account  string
		counter          uint64
		wantType, wantIn string
	}{
		{Params{Kind: KindTOTP, Secret: rfcSecret}, "Bastion", "alice@example.com", 0, "totp", "&period=30"},
		{Params{Kind: KindTOTP, Secret: rfcSecret, Digits: 8, Period: 60}, "ACME Jump Host", "bob smith", 0, "totp", "&digits=8&period=60"},
		{Params{Kind: KindHOTP, Secret: rfcSecret}, "Bastion", "carol", 42, "hotp", "&counter=42"},
	} {
		u := URI(tc.p, tc.issuer, tc.account, tc.counter)
		if !strings.Contains(u, tc.wantIn) || !strings.Contains(u, "algorithm=SHA1") || strings.Contains(u, " ") {
			t.Errorf("URI = %s", u)
		}
		k, err := otp.NewKeyFromURL(u)
		if err != nil {
			t.Fatalf("NewKeyFromURL(%s): %v", u, err)
		}
		if k.Type() != tc.wantType || k.Issuer() != tc.issuer || k.AccountName() != tc.account {
			t.Errorf("%s: type %q issuer %q account %q", u, k.Type(), k.Issuer(), k.AccountName())
		}
		if sec, err := DecodeSecret(k.Secret()); err != nil || !bytes.Equal(sec, rfcSecret) {
			t.Errorf("%s: secret %x %v", u, sec, err)
		}
	}
	// A ':' or '&' in a name must not break the label or the query.
	u := URI(Params{Secret: rfcSecret}, "a:b&c", "x/y?z", 0)
	if !strings.HasPrefix(u, "otpauth://totp/a%3Ab%26c:x%2Fy%3Fz?secret=") || !strings.Contains(u, "&issuer=a%3Ab%26c&") {
		t.Errorf("escaping: %s", u)
	}
	if u := URI(Params{Secret: rfcSecret}, "", "dave", 0); !strings.HasPrefix(u, "otpauth://totp/dave?") || strings.Contains(u, "issuer=") {
		t.Errorf("no issuer: %s", u)
	}
}

// TestOathtool cross-checks Code against oath-toolkit when it is installed.
func TestOathtool(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			t.Fatal("oathtool not in PATH (apt-get install oathtool)")
		}
		t.Skip("oathtool not in PATH")
	}
	run := func(args ...string) string {
		out, err := exec.Command("oathtool", args...).Output()
		if err != nil {
			t.Fatalf("oathtool %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	key := []byte("\x3a\xc1\x07\xfe\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00")
	hp := Params{Kind: KindHOTP, Secret: key}
	for _, c := range []string{"0", "5", "123456789"} {
		want := run("-c", c, hex.EncodeToString(key))
		n := map[string]uint64{"0": 0, "5": 5, "123456789": 123456789}[c]
		if got := Code(hp, n); got != want {
			t.Errorf("HOTP counter %s: %s, oathtool %s", c, got, want)
		}
	}
	for _, tc := range []struct {
		p    Params
		args []string
	}{
		{Params{Secret: key}, nil},
		{Params{Secret: key, Digits: 8}, []string{"-d", "8"}},
		{Params{Secret: key, Period: 60}, []string{"-s", "60"}},
	} {
		for _, unix := range []int64{1111111109, 1700000000, 2000000000} {
			now := time.Unix(unix, 0).UTC()
			args := append([]string{"--totp", "-b", EncodeSecret(key), "--now", now.Format("2006-01-02 15:04:05 UTC")}, tc.args...)
			want := run(args...)
			step, err := VerifyTOTP(tc.p, want, now, -1)
			if err != nil || step != Step(tc.p, now) {
				t.Errorf("oathtool %v = %s: VerifyTOTP step %d err %v", args, want, step, err)
			}
		}
	}
}
