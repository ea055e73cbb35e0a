package limits

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a PROXY v2 header with the given command/family bytes and body.
func v2(verCmd, fam byte, body []byte) []byte {
	h := append([]byte(nil), proxyV2Sig...)
	h = append(h, verCmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	return append(h, body...)
}

func v2Addrs(src, dst netip.Addr, sport, dport uint16) []byte {
	b := append(src.AsSlice(), dst.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func TestReadProxyHeader(t *testing.T) {
	ip4 := netip.MustParseAddr("1.2.3.4")
	ip6 := netip.MustParseAddr("2001:db8::1")
	dst4 := netip.MustParseAddr("5.6.7.8")
	dst6 := netip.MustParseAddr("2001:db8::2")
	longV1 := "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
	tests := []struct {
		name string
		in   string
		want string // "" for the zero AddrPort
		ok   bool
	}{
		{"v1 tcp4", "PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\n", "1.2.3.4:111", true},
		{"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 65535 22\r\n", "[2001:db8::1]:65535", true},
		{"v1 longest", longV1, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", true},
		{"v1 unknown", "PROXY UNKNOWN\r\n", "", true},
		{"v1 unknown with addresses", "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", "", true},
		{"v2 ipv4", string(v2(0x21, 0x11, v2Addrs(ip4, dst4, 111, 222))), "1.2.3.4:111", true},
		{"v2 ipv6", string(v2(0x21, 0x21, v2Addrs(ip6, dst6, 4242, 22))), "[2001:db8::1]:4242", true},
		{"v2 ipv4 with TLVs", string(v2(0x21, 0x11, append(v2Addrs(ip4, dst4, 1, 2), 0x04, 0, 1, 'x'))), "1.2.3.4:1", true},
		{"v2 local", string(v2(0x20, 0x00, nil)), "", true},
		{"v2 local with body", string(v2(0x20, 0x11, v2Addrs(ip4, dst4, 1, 2))), "", true},
		{"v2 unspec", string(v2(0x21, 0x00, nil)), "", true},
		{"v2 max length", string(v2(0x21, 0x11, append(v2Addrs(ip4, dst4, 1, 2), make([]byte, 520-12)...))), "1.2.3.4:1", true},

		{"empty", "", "", false},
		{"ssh banner", "SSH-2.0-OpenSSH_9.6\r\n", "", false},
		{"v1 short", "PROXY \r\n", "", false},
		{"v1 lf only", "PROXY TCP4 1.2.3.4 5.6.7.8 111 222\n", "", false},
		{"v1 no crlf", "PROXY TCP4 1.2.3.4 5.6.7.8 111 222", "", false},
		{"v1 oversized", longV1[:len(longV1)-2] + "0\r\n", "", false},
		{"v1 endless", "PROXY UNKNOWN " + strings.Repeat("a", 200), "", false},
		{"v1 tcp4 with v6", "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "", false},
		{"v1 tcp6 with v4", "PROXY TCP6 1.2.3.4 2001:db8::2 1 2\r\n", "", false},
		{"v1 zone", "PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", "", false},
		{"v1 leading zero ip", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "", false},
		{"v1 leading zero port", "PROXY TCP4 1.2.3.4 5.6.7.8 011 2\r\n", "", false},
		{"v1 port too big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "", false},
		{"v1 negative port", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "", false},
		{"v1 double space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "", false},
		{"v1 missing field", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "", false},
		{"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "", false},
		{"v1 udp", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "", false},
		{"v1 lowercase", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "", false},
		{"v2 truncated prefix", string(v2(0x21, 0x11, nil)[:14]), "", false},
		{"v2 truncated body", string(v2(0x21, 0x11, nil)[:14]) + "\x00\x64" + string(v2Addrs(ip4, dst4, 1, 2)), "", false},
		{"v2 bad version", string(v2(0x11, 0x11, v2Addrs(ip4, dst4, 1, 2))), "", false},
		{"v2 bad command", string(v2(0x22, 0x11, v2Addrs(ip4, dst4, 1, 2))), "", false},
		{"v2 udp", string(v2(0x21, 0x12, v2Addrs(ip4, dst4, 1, 2))), "", false},
		{"v2 unix", string(v2(0x21, 0x31, make([]byte, 216))), "", false},
		{"v2 ipv4 too short", string(v2(0x21, 0x11, make([]byte, 11))), "", false},
		{"v2 ipv6 body for ipv4 len", string(v2(0x21, 0x21, v2Addrs(ip4, dst4, 1, 2))), "", false},
		{"v2 oversized", string(v2(0x21, 0x11, make([]byte, 521))), "", false},
		{"v2 length ffff", string(v2(0x21, 0x11, nil)[:14]) + "\xff\xff", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const next = "SSH-2.0-client\r\n"
			r := strings.NewReader(tt.in + next)
			got, err := ReadProxyHeader(r)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrProxyHeader) {
					t.Fatalf("err = %v, does not wrap ErrProxyHeader", err)
				}
				return
			}
			if s := fmtAddrPort(got); s != tt.want {
				t.Fatalf("got %q, want %q", s, tt.want)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != next {
				t.Fatalf("left %q unread, want exactly %q (header read too much or too little)", rest, next)
			}
		})
	}
}

func fmtAddrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadProxyHeaderBoundedRead(t *testing.T) {
	for _, in := range []string{
		"PROXY UNKNOWN " + strings.Repeat("a", 10_000),
		string(v2(0x21, 0x11, nil)[:14]) + "\xff\xff" + strings.Repeat("a", 70_000),
	} {
		cr := &countingReader{r: strings.NewReader(in)}
		if _, err := ReadProxyHeader(cr); err == nil {
			t.Fatal("want error")
		}
		if cr.n > proxyV2Max {
			t.Fatalf("read %d bytes, want at most %d", cr.n, proxyV2Max)
		}
	}
}

func TestSourceAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	proxy := netip.MustParseAddrPort("10.1.1.1:40000")
	direct := netip.MustParseAddrPort("203.0.113.5:50000")
	header := "PROXY TCP4 192.0.2.9 10.1.1.2 1234 22\r\n"
	tests := []struct {
		name   string
		remote netip.AddrPort
		in     string
		want   string
		ok     bool
	}{
		{"untrusted peer: header ignored, nothing read", direct, header, "203.0.113.5:50000", true},
		{"trusted proxy", proxy, header, "192.0.2.9:1234", true},
		{"trusted proxy, mapped remote", netip.AddrPortFrom(netip.AddrFrom16(proxy.Addr().As16()), 1), header, "192.0.2.9:1234", true},
		{"trusted proxy, LOCAL", proxy, "PROXY UNKNOWN\r\n", "10.1.1.1:40000", true},
		{"trusted proxy, no header", proxy, "SSH-2.0-x\r\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			got, err := SourceAddr(tt.remote, r, trusted)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil && got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if tt.remote == direct && r.Len() != len(tt.in) {
				t.Fatal("read from an untrusted peer")
			}
		})
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	ip4 := netip.MustParseAddr("1.2.3.4")
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x21, 0x11, v2Addrs(ip4, ip4, 1, 2)))
	f.Add(v2(0x21, 0x21, make([]byte, 36)))
	f.Add(v2(0x20, 0x00, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := &countingReader{r: bytes.NewReader(in)}
		got, err := ReadProxyHeader(cr)
		if cr.n > proxyV2Max {
			t.Fatalf("read %d bytes", cr.n)
		}
		if err != nil {
			if got.IsValid() {
				t.Fatalf("error %v with address %s", err, got)
			}
			return
		}
		// A v1 header ends exactly at its LF; nothing past it was read.
		if bytes.HasPrefix(in, []byte("PROXY ")) && (cr.n > proxyV1Max || in[cr.n-1] != '\n') {
			t.Fatalf("v1 header read %d bytes: %q", cr.n, in[:cr.n])
		}
		if got.IsValid() && got.Addr().Zone() != "" {
			t.Fatalf("zoned address %s", got)
		}
	})
}
