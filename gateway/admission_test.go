package gateway

import (
	"io"
	"net"
	"testing"
	"time"

	"bastion/config"
)

// A full unauthenticated pool makes room for a newcomer by closing the
// oldest connection of the biggest holder; the user gets in.
func TestFullPoolEvictsForNewcomer(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.MaxStartups = "20"
		c.SSH.ClientVersionWait = 50 * time.Millisecond
	})
	var flood []net.Conn
	for i, src := range []string{"127.0.1.1", "127.0.1.2"} {
		for range 10 + i { // an 11th from 127.0.1.2 is refused at its per-source cap
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			flood = append(flood, c)
		}
	}
	lim := ts.srv.limiter.Load()
	deadline := time.Now().Add(10 * time.Second)
	for lim.Unauthenticated() != 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := lim.Unauthenticated(); n != 20 {
		t.Fatalf("pool holds %d, want 20 (full)", n)
	}
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatalf("login with a full pool: %v", err)
	}
	c.Close()
	closed := 0
	for _, fc := range flood {
		fc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := io.ReadAll(fc); err == nil {
			closed++ // EOF: the bastion closed it
		}
	}
	if closed != 2 { // one refused at 127.0.1.2's cap, one evicted for alice
		t.Fatalf("%d flood connections closed, want 2 (the 11th from 127.0.1.2 and one evicted)", closed)
	}
}
