// Parsing, checking and enforcing authorized_keys options.
package authkeys

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// MaxLine bounds one authorized_keys line (OpenSSH allows 16 KiB for RSA keys).
const MaxLine = 16 << 10

// Options are the enforced options of one key line.
type Options struct {
	From    []Pattern // empty: any address
	Expires time.Time // zero: never
	Kept    []string  // the options as written, in order, for the stored line
}

// Pattern is one entry of a from= list.
type Pattern struct {
	Negated bool
	Prefix  netip.Prefix // set for an address or CIDR block
	Glob    string       // set for a wildcard pattern on the address text
}

// noOps are options the bastion keeps but has nothing to enforce for:
// it never grants a pty, agent or X11 forwarding, or runs a user rc.
var noOps = map[string]bool{"no-pty": true, "no-agent-forwarding": true, "no-x11-forwarding": true, "no-user-rc": true}

// ParseOptions checks the options of a key line (as ssh.ParseAuthorizedKey
// returns them). Its errors are meant for the admin who wrote the line.
func ParseOptions(opts []string) (Options, error) {
	var o Options
	seen := map[string]bool{}
	for _, raw := range opts {
		name, value, hasValue := strings.Cut(raw, "=")
		lname := strings.ToLower(name)
		if seen[lname] {
			return Options{}, fmt.Errorf("key option %s given twice", lname)
		}
		seen[lname] = true
		switch {
		case lname == "from" && hasValue:
			v, err := unquote(value)
			if err != nil {
				return Options{}, fmt.Errorf("key option from: %w", err)
			}
			if o.From, err = parseFrom(v); err != nil {
				return Options{}, fmt.Errorf("key option from=%q: %w", v, err)
			}
		case lname == "expiry-time" && hasValue:
			v, err := unquote(value)
			if err != nil {
				return Options{}, fmt.Errorf("key option expiry-time: %w", err)
			}
			if o.Expires, err = parseExpiry(v); err != nil {
				return Options{}, fmt.Errorf("key option expiry-time=%q: %w", v, err)
			}
		case noOps[lname] && !hasValue:
		case lname == "restrict" || lname == "no-port-forwarding":
			return Options{}, fmt.Errorf("key option %s would forbid the jumps a bastion key is for; remove it (the bastion grants no pty, agent, X11 or other forwarding anyway)", lname)
		default:
			return Options{}, fmt.Errorf("key option %q is not supported; the bastion keeps only from=, expiry-time=, no-pty, no-agent-forwarding, no-X11-forwarding and no-user-rc", truncate(raw, 64))
		}
		o.Kept = append(o.Kept, raw)
	}
	return o, nil
}

// Check reports why a key with these options may not be used from addr at
// now, or nil when it may.
func (o Options) Check(addr netip.Addr, now time.Time) error {
	if !o.Expires.IsZero() && !now.Before(o.Expires) {
		return fmt.Errorf("key expired at %s", o.Expires.UTC().Format(time.RFC3339))
	}
	if len(o.From) > 0 && !matchFrom(o.From, addr) {
		return errors.New("key not allowed from this address (from=)")
	}
	return nil
}

// Line parses one authorized_keys line and its options.
func Line(line string) (ssh.PublicKey, Options, error) {
	if len(line) > MaxLine {
		return nil, Options{}, fmt.Errorf("key line longer than %d bytes", MaxLine)
	}
	k, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, Options{}, err
	}
	o, err := ParseOptions(opts)
	return k, o, err
}

func unquote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("want a value in double quotes")
	}
	v = v[1 : len(v)-1]
	if strings.ContainsAny(v, "\"\\") {
		return "", errors.New("quotes and backslashes inside the value are not supported")
	}
	return v, nil
}

func parseFrom(v string) ([]Pattern, error) {
	var out []Pattern
	for _, p := range strings.Split(v, ",") {
		var pat Pattern
		if strings.HasPrefix(p, "!") {
			pat.Negated, p = true, p[1:]
		}
		switch {
		case p == "":
			return nil, errors.New("empty pattern")
		case strings.Contains(p, "/"):
			pref, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR block", p)
			}
			pat.Prefix = pref.Masked()
		case strings.ContainsAny(p, "*?"):
			if strings.Trim(p, "0123456789abcdefABCDEF.:*?") != "" {
				return nil, fmt.Errorf("%q: only address patterns are supported (the bastion does no reverse DNS)", p)
			}
			pat.Glob = strings.ToLower(p)
		default:
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address: host names are not supported (the bastion does no reverse DNS)", p)
			}
			pat.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, pat)
	}
	return out, nil
}

// matchFrom is OpenSSH's rule: some pattern matches and no negated one does.
func matchFrom(pats []Pattern, addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	text := addr.String()
	matched := false
	for _, p := range pats {
		var m bool
		if p.Glob != "" {
			m = glob(p.Glob, text)
		} else {
			m = p.Prefix.Contains(addr)
		}
		if m && p.Negated {
			return false
		}
		matched = matched || m
	}
	return matched
}

// glob matches s against a pattern of * (any run) and ? (one byte), in
// O(len(p)·len(s)) time.
func glob(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// parseExpiry reads OpenSSH's YYYYMMDD[HHMM[SS]], in local time unless it
// ends in Z (UTC).
func parseExpiry(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") {
		loc, v = time.UTC, v[:len(v)-1]
	}
	var layout string
	switch len(v) {
	case 8:
		layout = "20060102"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, errors.New("want YYYYMMDD[HHMM[SS]][Z]")
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, errors.New("want YYYYMMDD[HHMM[SS]][Z]")
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
