// Unauthenticated clients get a bounded share of the log; the rest is counted.

package audit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkLog is a Throttle sink that keeps what it was given.
type sinkLog struct {
	mu     sync.Mutex
	events []Event
	bytes  int
}

func (s *sinkLog) append(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	s.bytes += len(encodeLine(Record{Seq: 1, Time: t0, Prev: zeroHash, Hash: zeroHash, Event: sanitize(e)}))
	return nil
}

func denied(i int) Event {
	return Event{Type: "conn.denied", User: "root", Source: "192.0.2.7:4000", Result: "fail", ConnID: fmt.Sprint(i),
		Fields: map[string]string{"reason": "publickey SHA256:" + strings.Repeat("x", 43) + ": unknown user or key"}}
}

func TestThrottleBoundsPerConnAndPerSource(t *testing.T) {
	var sink sinkLog
	now := t0
	th := NewThrottle(sink.append, ThrottleOptions{Now: func() time.Time { return now }})

	c := th.Conn("192.0.2.7")
	for i := range 100 {
		c.Append(denied(i))
	}
	if sink.bytes > DefaultPerConn || len(sink.events) == 0 {
		t.Fatalf("one connection wrote %d bytes in %d records, budget %d", sink.bytes, len(sink.events), DefaultPerConn)
	}
	for i := range 100 { // many connections from the same source
		th.Conn("192.0.2.7").Append(denied(i))
	}
	if sink.bytes > DefaultPerSource {
		t.Fatalf("one source wrote %d bytes, budget %d", sink.bytes, DefaultPerSource)
	}
	written := len(sink.events)
	th.Conn("198.51.100.1").Append(denied(0)) // another source is not affected
	if len(sink.events) != written+1 {
		t.Fatal("a flood from one source silenced another")
	}
	th.Conn("192.0.2.7").Count("refused_user_name")

	if err := th.Flush(); err != nil {
		t.Fatal(err)
	}
	sum := sink.events[len(sink.events)-1]
	if sum.Type != TypePreauthSummary || sum.Num["suppressed_conn.denied"] != int64(200-written) ||
		sum.Num["refused_user_name"] != 1 || sum.Fields["top_source"] != "192.0.2.7" || sum.Num["sources"] != 1 {
		t.Fatalf("summary after %d written: %+v", written, sum)
	}
	if tot := th.Totals(); tot["refused_user_name"] != 1 || tot["suppressed_conn.denied"] != uint64(200-written) {
		t.Fatalf("Totals() = %v", tot)
	}
	if th.Flush(); len(sink.events) != written+2 {
		t.Fatal("an empty summary was written")
	}

	now = now.Add(DefaultSourceRefill) // the source's budget refills
	before := len(sink.events)
	th.Conn("192.0.2.7").Append(denied(1))
	if len(sink.events) != before+1 {
		t.Fatal("budget did not refill")
	}
}

func TestThrottleSourcesBounded(t *testing.T) {
	var sink sinkLog
	th := NewThrottle(sink.append, ThrottleOptions{Now: func() time.Time { return t0 }})
	for i := range maxThrottleSources + 50 {
		th.Conn(fmt.Sprintf("src%d", i)).Count("refused_admission")
		th.Conn(fmt.Sprintf("src%d", i)).Append(denied(i))
	}
	if len(th.sources) > maxThrottleSources || len(th.perSrc) > maxThrottleSources {
		t.Fatalf("tracking %d/%d sources, bound %d", len(th.sources), len(th.perSrc), maxThrottleSources)
	}
	th.Flush()
	sum := sink.events[len(sink.events)-1]
	if sum.Num["refused_admission"] != maxThrottleSources+50 || sum.Num["suppressed_conn.denied"] != 50 {
		t.Fatalf("summary %+v", sum.Num)
	}
}

func TestBudget(t *testing.T) {
	now := t0
	b := NewBudget(3, time.Minute, func() time.Time { return now })
	got := 0
	for range 10 {
		if b.Allow() {
			got++
		}
	}
	if got != 3 || b.Skipped() != 7 {
		t.Fatalf("allowed %d, skipped %d; want 3, 7", got, b.Skipped())
	}
	now = now.Add(time.Minute)
	if !b.Allow() || b.Allow() {
		t.Fatal("want exactly one more after one interval")
	}
}
