package untrusted

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"x\xffy", `x\xffy`},
		{"SSH-2.0-evil\xff", `SSH-2.0-evil\xff`},
		{"pve\xff", `pve\xff`},
		{"a\x1b[31mred", `a\x1b[31mred`},
		{"tab\there\nnl", `tab\x09here\x0anl`},
		{"rtl\u202eoverride", `rtl\u202eoverride`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"grüße 日本", "grüße 日本"},
		{"\x00", `\x00`},
	} {
		if got := Text(tc.in, 100); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextCuts(t *testing.T) {
	huge := strings.Repeat("\x01", 170<<10)
	got := Text(huge, 64)
	if len(got) > 64 || !strings.HasSuffix(got, " bytes]") || !strings.Contains(got, "…[cut ") {
		t.Fatalf("Text(170 KiB) = %q (%d bytes)", got, len(got))
	}
	got = Text(strings.Repeat("日", 100), 50)
	if len(got) > 50 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…[cut 270 bytes]") {
		t.Fatalf("cut not at a rune boundary or wrong count: %q", got)
	}
	if got := Text("short", 1); got != "short" {
		t.Fatalf("limit below MinLimit not raised: %q", got)
	}
}

func TestUserName(t *testing.T) {
	for _, ok := range []string{"alice", "a.b-c_d", strings.Repeat("a", MaxUserName), "jürgen"} {
		if err := UserName(ok); err != nil {
			t.Errorf("UserName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "x\xffy", "a b", "a\x00", "a\u202eb", strings.Repeat("a", MaxUserName+1), strings.Repeat("\x01", 170<<10)} {
		if err := UserName(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("UserName(%.20q) = %v, want refused", bad, err)
		}
	}
}

func TestClientVersion(t *testing.T) {
	for _, ok := range []string{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "SSH-2.0-Go", strings.Repeat("v", MaxClientVersion)} {
		if err := ClientVersion(ok); err != nil {
			t.Errorf("ClientVersion(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"SSH-2.0-x\xff", "SSH-2.0-\x1b[2J", "SSH-2.0-é", strings.Repeat("v", MaxClientVersion+1)} {
		if err := ClientVersion(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("ClientVersion(%q) = %v, want refused", bad, err)
		}
	}
}

// FuzzText: whatever comes in, the result is valid, printable and bounded.
func FuzzText(f *testing.F) {
	f.Add("x\xffy", 64)
	f.Add(strings.Repeat("日\x01", 100), 10)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = limit%4096 + 1
		if limit < 0 {
			limit = -limit
		}
		got := Text(s, limit)
		if !utf8.ValidString(got) || len(got) > max(limit, MinLimit) || !clean(got) {
			t.Fatalf("Text(%q, %d) = %q: invalid, unprintable or too long", s, limit, got)
		}
		if len(s) <= max(limit, MinLimit) && clean(s) && got != s {
			t.Fatalf("clean input changed: %q -> %q", s, got)
		}
	})
}
