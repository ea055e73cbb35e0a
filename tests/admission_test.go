// Issue 13: a real user gets in during floods of silent connections from
// other addresses, at the default [limits].
package tests

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdSilent opens n silent connections from each source and returns those
// the bastion held: it sent its SSH banner on them and did not close them.
func holdSilent(t *testing.T, addr string, sources []string, n int) []net.Conn {
	t.Helper()
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	for _, src := range sources {
		for range n {
			c := dialFrom(t, src, addr)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The bastion waits ssh.client_version_wait for our line, then sends its own.
				if line, err := readLine(c, 10*time.Second); err == nil && strings.HasPrefix(line, "SSH-2.0-bastion") {
					mu.Lock()
					held = append(held, c)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return held
}

// stillOpen counts the connections the bastion has not closed.
func stillOpen(conns []net.Conn) int {
	n := 0
	one := make([]byte, 1)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(one); isTimeout(err) {
			n++
		}
	}
	return n
}

func TestAdmissionDuringFloods(t *testing.T) {
	w := newWorld(t, worldOpts{extraConfig: "\n[limits]\n"}) // every [limits] key at its default
	w.start()
	ria := w.newClient("ria")
	ria.add("--group", "ops")
	ria.importTOTP()
	user := ria.fromSource("127.0.2.1")

	sources := func(n int) []string {
		var s []string
		for i := 1; i <= n; i++ {
			s = append(s, fmt.Sprintf("127.0.1.%d", i))
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		sources []string
		each    int
		minHeld int
	}{
		{"one address, 300 connections", []string{"127.0.1.200"}, 300, 10},
		{"30 addresses, 10 connections each", sources(30), 10, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := holdSilent(t, w.bastionAddr, tc.sources, tc.each)
			if len(held) < tc.minHeld {
				t.Fatalf("the bastion held %d silent connections, want at least %d (the flood did not happen)", len(held), tc.minHeld)
			}
			for try := 1; try <= 3; try++ {
				user.answerGood()
				out, err := user.jump("pve1", fmt.Sprintf("echo in-%d", try))
				if err != nil {
					t.Fatalf("login %d of 3 from 127.0.2.1 with %d silent connections held: %v\n%s", try, len(held), err, out)
				}
				mustContain(t, "output", out, fmt.Sprintf("in-%d", try))
			}
			if n := stillOpen(held); n != len(held) {
				t.Fatalf("only %d of %d flood connections were still held after the logins", n, len(held))
			}
			t.Logf("%s: %d silent connections held, 3 of 3 logins from 127.0.2.1", tc.name, len(held))
			for _, c := range held {
				c.Close()
			}
		})
	}
}
