// Package upstream owns the backends: which named targets exist, who may reach
// each (deny by default), and dialing them with a deadline. It is never an
// open proxy: a destination that is not a configured target is refused.
package upstream

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"bastion/config"
)

// ErrNotAllowed is returned for any destination the user may not reach,
// including ones that are not targets at all (the two are not told apart).
var ErrNotAllowed = errors.New("administratively prohibited")

// DefaultSSHPort is the port an `ssh -J bastion pve1` request carries.
const DefaultSSHPort = 22

// Identity is who asks: the user and their groups, from the final Permissions.
type Identity struct {
	User   string
	Groups []string
}

// Allowed reports whether id may use t.
func Allowed(t config.Target, id Identity) bool {
	if slices.Contains(t.Users, id.User) {
		return true
	}
	for _, g := range id.Groups {
		if slices.Contains(t.Groups, g) {
			return true
		}
	}
	return false
}

// Resolve maps a jump request (host, port) to the target it names. A request
// matches a target by name with port 22 or the target's own port, or by the
// target's exact address. Anything else, or a target id may not use, is
// ErrNotAllowed.
func Resolve(targets []config.Target, id Identity, host string, port uint32) (config.Target, error) {
	for _, t := range targets {
		if !matches(t, host, port) {
			continue
		}
		if Allowed(t, id) {
			return t, nil
		}
		return config.Target{}, ErrNotAllowed
	}
	return config.Target{}, ErrNotAllowed
}

func matches(t config.Target, host string, port uint32) bool {
	thost, tport, err := net.SplitHostPort(t.Address)
	if err != nil {
		return false
	}
	p := strconv.FormatUint(uint64(port), 10)
	if host == t.Name {
		return port == DefaultSSHPort || p == tport
	}
	return host == thost && p == tport
}

// Reachable lists the targets id may use, in config order.
func Reachable(targets []config.Target, id Identity) []config.Target {
	var out []config.Target
	for _, t := range targets {
		if Allowed(t, id) {
			out = append(out, t)
		}
	}
	return out
}

// Dialer opens TCP connections to targets with a timeout.
type Dialer struct {
	Timeout time.Duration
	// KeepAlive is the TCP keepalive idle time and probe interval; 0 means
	// 15s. A half-open backend is dropped after KeepAlive × (KeepAliveCount+1).
	KeepAlive      time.Duration
	KeepAliveCount int // probes; 0 means 3
}

// Dial connects to t's address.
func (d Dialer) Dial(ctx context.Context, t config.Target) (net.Conn, error) {
	ka, n := d.KeepAlive, d.KeepAliveCount
	if ka <= 0 {
		ka = 15 * time.Second
	}
	if n <= 0 {
		n = 3
	}
	nd := net.Dialer{Timeout: d.Timeout, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: ka, Interval: ka, Count: n}}
	return nd.DialContext(ctx, "tcp", t.Address)
}
