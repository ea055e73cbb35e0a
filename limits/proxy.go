// PROXY protocol v1/v2 header parsing, and the rule for when to trust it.
package limits

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ErrProxyHeader is wrapped by every error about a malformed PROXY header.
var ErrProxyHeader = errors.New("limits: bad PROXY protocol header")

const (
	proxyV1Max    = 107 // longest v1 header, CRLF included
	proxyV2Max    = 536 // longest v2 header we accept: 16 + 520
	proxyV2Prefix = 16
)

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ReadProxyHeader reads a PROXY protocol v1 ("PROXY TCP4 1.2.3.4 5.6.7.8
// 111 222\r\n") or v2 (binary) header from r and returns the source address
// it names. It reads the header and not one byte more (v1 is read a byte at
// a time), at most 107 bytes for v1 and 536 for v2.
//
// For v1 "UNKNOWN", v2 LOCAL and v2 AF_UNSPEC it returns the zero AddrPort
// and nil: the caller must then use the socket's address. Anything malformed
// or unsupported (UNIX or datagram addresses) wraps ErrProxyHeader.
//
// r is untrusted: set a read deadline on the connection first.
func ReadProxyHeader(r io.Reader) (netip.AddrPort, error) {
	var buf [proxyV2Max]byte
	// Both versions are at least 12 bytes long ("PROXY UNKNOWN\r\n" is 15).
	if _, err := io.ReadFull(r, buf[:len(proxyV2Sig)]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	switch {
	case bytes.Equal(buf[:len(proxyV2Sig)], proxyV2Sig):
		return readProxyV2(r, buf[:])
	case bytes.HasPrefix(buf[:], []byte("PROXY ")):
		return readProxyV1(r, buf[:proxyV1Max])
	}
	return netip.AddrPort{}, fmt.Errorf("%w: no PROXY signature", ErrProxyHeader)
}

// readProxyV1 reads the rest of a v1 line into buf, whose first 12 bytes
// are already read.
func readProxyV1(r io.Reader, buf []byte) (netip.AddrPort, error) {
	n := len(proxyV2Sig)
	if bytes.IndexByte(buf[:n], '\n') >= 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 line too short", ErrProxyHeader)
	}
	for buf[n-1] != '\n' {
		if n == len(buf) {
			return netip.AddrPort{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrProxyHeader, proxyV1Max)
		}
		if _, err := io.ReadFull(r, buf[n:n+1]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
		}
		n++
	}
	line, ok := strings.CutSuffix(string(buf[:n]), "\r\n")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 line does not end in CRLF", ErrProxyHeader)
	}
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return netip.AddrPort{}, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 want PROXY TCP4|TCP6 src dst sport dport", ErrProxyHeader)
	}
	want4 := f[1] == "TCP4"
	var addrs [2]netip.Addr
	for i, s := range f[2:4] {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Is4() != want4 || a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%w: v1 bad %s address %q", ErrProxyHeader, f[1], s)
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i, s := range f[4:6] {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || (len(s) > 1 && s[0] == '0') {
			return netip.AddrPort{}, fmt.Errorf("%w: v1 bad port %q", ErrProxyHeader, s)
		}
		ports[i] = uint16(p)
	}
	return netip.AddrPortFrom(addrs[0], ports[0]), nil
}

// readProxyV2 reads the rest of a v2 header into buf, whose first 12 bytes
// (the signature) are already read.
func readProxyV2(r io.Reader, buf []byte) (netip.AddrPort, error) {
	if _, err := io.ReadFull(r, buf[len(proxyV2Sig):proxyV2Prefix]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	verCmd, fam := buf[12], buf[13]
	size := int(binary.BigEndian.Uint16(buf[14:16]))
	if verCmd>>4 != 2 {
		return netip.AddrPort{}, fmt.Errorf("%w: v2 version %d", ErrProxyHeader, verCmd>>4)
	}
	if proxyV2Prefix+size > len(buf) {
		return netip.AddrPort{}, fmt.Errorf("%w: v2 length %d exceeds %d", ErrProxyHeader, size, proxyV2Max-proxyV2Prefix)
	}
	body := buf[proxyV2Prefix : proxyV2Prefix+size]
	if _, err := io.ReadFull(r, body); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	switch verCmd & 0xf {
	case 0x0: // LOCAL: the proxy's own connection, e.g. a health check.
		return netip.AddrPort{}, nil
	case 0x1: // PROXY
	default:
		return netip.AddrPort{}, fmt.Errorf("%w: v2 command %#x", ErrProxyHeader, verCmd&0xf)
	}
	var alen int
	switch fam {
	case 0x00: // AF_UNSPEC: no address to use.
		return netip.AddrPort{}, nil
	case 0x11: // TCP over IPv4
		alen = 4
	case 0x21: // TCP over IPv6
		alen = 16
	default:
		return netip.AddrPort{}, fmt.Errorf("%w: v2 unsupported family/protocol %#x", ErrProxyHeader, fam)
	}
	if size < 2*alen+4 {
		return netip.AddrPort{}, fmt.Errorf("%w: v2 length %d too short for family %#x", ErrProxyHeader, size, fam)
	}
	src, _ := netip.AddrFromSlice(body[:alen])
	port := binary.BigEndian.Uint16(body[2*alen:])
	return netip.AddrPortFrom(src, port), nil
}

// SourceAddr returns the client address to use for limits and audit. It is
// the socket's remote address, unless that peer is in trusted: then a PROXY
// header is required on r and its source address is used (or remote, if
// the header carries none). Nothing is read from untrusted peers.
func SourceAddr(remote netip.AddrPort, r io.Reader, trusted []netip.Prefix) (netip.AddrPort, error) {
	peer := remote.Addr().Unmap().WithZone("")
	for _, p := range trusted {
		if !p.Contains(peer) {
			continue
		}
		src, err := ReadProxyHeader(r)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("from trusted proxy %s: %w", remote, err)
		}
		if !src.IsValid() {
			return remote, nil
		}
		return src, nil
	}
	return remote, nil
}
