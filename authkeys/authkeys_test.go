package authkeys

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl c"

func TestFromEnforced(t *testing.T) {
	cases := []struct {
		from string
		addr string
		ok   bool
	}{
		{`10.9.9.9`, "10.9.9.9", true},
		{`10.9.9.9`, "10.9.9.8", false},
		{`10.9.0.0/16`, "10.9.200.1", true},
		{`10.9.0.0/16`, "10.10.0.1", false},
		{`10.9.*`, "10.9.3.4", true},
		{`10.9.?.4`, "10.9.3.4", true},
		{`10.9.?.4`, "10.9.33.4", false},
		{`10.0.0.0/8,!10.6.6.6`, "10.6.6.6", false},
		{`10.0.0.0/8,!10.6.6.6`, "10.6.6.7", true},
		{`!10.6.6.6`, "10.1.1.1", false}, // only a negation: nothing matches
		{`10.9.9.9`, "::ffff:10.9.9.9", true},
		{`2001:db8::/64`, "2001:db8::5", true},
		{`2001:db8::/64`, "2001:db9::5", false},
	}
	for _, c := range cases {
		_, o, err := Line(`from="` + c.from + `" ` + key)
		if err != nil {
			t.Fatalf("from=%q: %v", c.from, err)
		}
		err = o.Check(netip.MustParseAddr(c.addr), time.Now())
		if (err == nil) != c.ok {
			t.Errorf("from=%q from %s: err=%v, want ok=%v", c.from, c.addr, err, c.ok)
		}
	}
}

func TestExpiryEnforced(t *testing.T) {
	_, o, err := Line(`expiry-time="20300102Z" ` + key)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("127.0.0.1")
	if err := o.Check(a, time.Date(2030, 1, 1, 23, 59, 59, 0, time.UTC)); err != nil {
		t.Errorf("before expiry: %v", err)
	}
	if err := o.Check(a, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("at expiry: accepted")
	}
	for _, bad := range []string{`expiry-time="2030"`, `expiry-time="20301340Z"`, `expiry-time=20300102`} {
		if _, _, err := Line(bad + " " + key); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRefusedOptions(t *testing.T) {
	for _, opt := range []string{"restrict", "no-port-forwarding", `command="/bin/sh"`, `permitopen="h:22"`,
		`environment="A=b"`, "cert-authority", `from="*.example.org"`, `from="pve.example.org"`, `from=""`,
		`from="10.0.0.0/33"`, `from="10.1.1.1",from="10.1.1.2"`, "port-forwarding", `tunnel="1"`} {
		_, _, err := Line(opt + " " + key)
		if err == nil {
			t.Errorf("%s accepted", opt)
			continue
		}
		if strings.Contains(opt, "restrict") && !strings.Contains(err.Error(), "forbid the jumps") {
			t.Errorf("%s: unclear message %q", opt, err)
		}
	}
	for _, opt := range []string{"no-pty", "no-agent-forwarding", "no-X11-forwarding", "no-user-rc", `from="10.1.1.1",no-pty`} {
		_, o, err := Line(opt + " " + key)
		if err != nil {
			t.Errorf("%s refused: %v", opt, err)
		}
		if strings.Join(o.Kept, ",") != opt {
			t.Errorf("%s kept as %q", opt, o.Kept)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{{"*", "", true}, {"a*b", "axxb", true}, {"a*b", "axxc", false}, {"*.*.*.1", "10.2.3.1", true}, {"?", "", false}, {"a**", "a", true}} {
		if glob(c.p, c.s) != c.ok {
			t.Errorf("glob(%q, %q) != %v", c.p, c.s, c.ok)
		}
	}
}

// FuzzLine: any line parses or errors without panicking, and whatever parses
// checks without panicking, within bounded time.
func FuzzLine(f *testing.F) {
	f.Add(`from="10.0.0.0/8,!10.6.6.6,10.*.?.1",expiry-time="20300102Z",no-pty ` + key)
	f.Add(`restrict ` + key)
	f.Add(key)
	f.Fuzz(func(t *testing.T, line string) {
		_, o, err := Line(line)
		if err != nil {
			return
		}
		o.Check(netip.MustParseAddr("10.6.6.6"), time.Now())
		o.Check(netip.MustParseAddr("2001:db8::1"), time.Now())
	})
}
