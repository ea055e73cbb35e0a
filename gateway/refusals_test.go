// Issue 9, finding 2: refused jumps are rate-limited per connection.
package gateway

import (
	"fmt"
	"testing"
	"time"
)

func TestRefusedJumpsRateLimited(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * refusedJumpBurst {
		if nc, err := c.Dial("tcp", fmt.Sprintf("nope%d:22", i)); err == nil {
			nc.Close()
			t.Fatal("jump to an unknown host opened")
		}
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for ts.audit.count("conn.close", "") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
	if n := ts.audit.count("jump.refused", "fail"); n != refusedJumpBurst {
		t.Fatalf("%d jump.refused records for %d refused jumps, want %d", n, 3*refusedJumpBurst, refusedJumpBurst)
	}
	ts.audit.mu.Lock()
	defer ts.audit.mu.Unlock()
	for _, e := range ts.audit.events {
		if e.Type == "conn.close" && e.Num["jumps_refused_unrecorded"] != 2*refusedJumpBurst {
			t.Fatalf("conn.close %+v, want jumps_refused_unrecorded=%d", e.Num, 2*refusedJumpBurst)
		}
	}
}
