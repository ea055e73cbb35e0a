// The backend socket's TCP keepalive, read back from the kernel: the bound
// on how long a vanished backend holds a jump.
package upstream

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bastion/config"
)

// keepalive returns the socket's SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT.
func keepalive(t *testing.T, c net.Conn) (on, idle, intvl, cnt int) {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var gerr error
	err = raw.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := unix.GetsockoptInt(int(fd), level, opt)
			if err != nil {
				gerr = err
			}
			return v
		}
		on = get(unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle = get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		intvl = get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		cnt = get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
	})
	if err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return
}

func TestDialKeepalive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := config.Target{Name: "pve1", Address: ln.Addr().String()}
	for _, tc := range []struct {
		name             string
		d                Dialer
		idle, intvl, cnt int
	}{
		{"defaults", Dialer{Timeout: 5 * time.Second}, 15, 15, 3},
		{"configured", Dialer{Timeout: 5 * time.Second, KeepAlive: 2 * time.Second, KeepAliveCount: 5}, 2, 2, 5},
	} {
		c, err := tc.d.Dial(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		on, idle, intvl, cnt := keepalive(t, c)
		c.Close()
		if on == 0 || idle != tc.idle || intvl != tc.intvl || cnt != tc.cnt {
			t.Errorf("%s: keepalive on=%d idle=%ds interval=%ds count=%d, want on, %ds, %ds, %d", tc.name, on, idle, intvl, cnt, tc.idle, tc.intvl, tc.cnt)
		}
	}
}
