// Exact values at the edges: the penalty sequence and the MaxStartups draw.
package limits

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Failed returns the penalty it set: the base for the first failure past the
// free ones, doubled for each further one, capped at the maximum.
func TestPenaltySequenceExact(t *testing.T) {
	cases := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration // returned by failures 1, 2, ... (no free failures)
	}{
		{"doubling to the cap", 5 * time.Second, time.Minute,
			[]time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		// Half the cap rounds down: 5s is not above (10s+1ns)/2, so it doubles to 10s.
		{"odd cap", 5 * time.Second, 10*time.Second + 1, []time.Duration{5 * time.Second, 10 * time.Second, 10*time.Second + 1}},
		// A cap near the largest Duration: doubling must not overflow.
		{"huge cap", time.Second, time.Duration(math.MaxInt64), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"max below base", 5 * time.Second, time.Second, []time.Duration{5 * time.Second, 5 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTest(Config{PenaltyBase: tc.base, PenaltyMax: tc.max, PenaltyForget: time.Hour, PenaltyFreeFails: 0})
			for i, want := range tc.want {
				if got := l.Failed(ipA); got != want {
					t.Fatalf("failure %d: penalty %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

// A connection is dropped when the draw is below p, admitted when it is at
// or above it: at start with rate 50, a draw of exactly 0.5 is admitted.
func TestMaxStartupsDrawAtP(t *testing.T) {
	for _, tc := range []struct {
		rnd   float64
		allow bool
	}{{0.5, true}, {math.Nextafter(0.5, 0), false}} {
		l := New(Config{MaxStartups: [3]int{10, 50, 100}}, nil, func() float64 { return tc.rnd })
		l.unauth = 10
		if _, err := l.Admit(ipA); (err == nil) != tc.allow {
			t.Errorf("draw %v at p=50%%: err %v, want allowed=%v", tc.rnd, err, tc.allow)
		}
	}
}

// Port 0 is a port; only leading zeros are refused.
func TestProxyV1PortZero(t *testing.T) {
	got, err := ReadProxyHeader(strings.NewReader("PROXY TCP4 192.0.2.1 192.0.2.2 0 22\r\n"))
	if err != nil || got != netip.MustParseAddrPort("192.0.2.1:0") {
		t.Fatalf("source port 0: %v, %v", got, err)
	}
	if _, err := ReadProxyHeader(strings.NewReader("PROXY TCP4 192.0.2.1 192.0.2.2 00 22\r\n")); err == nil {
		t.Fatal("source port 00 accepted")
	}
}

// An over-long v2 header is refused with the limit it broke.
func TestProxyV2LengthErrorNamesTheLimit(t *testing.T) {
	hdr := append(bytes.Clone(proxyV2Sig), 0x21, 0x11, 0xff, 0xff)
	_, err := ReadProxyHeader(bytes.NewReader(hdr))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("length 65535 exceeds %d", proxyV2Max-proxyV2Prefix)) {
		t.Fatalf("v2 length 65535: %v", err)
	}
}

// Two sources holding equally many: the one whose oldest connection is
// older loses it, whatever order the sources are scanned in (map order
// is random but weakly so for two keys: the tie is tried 500 times).
func TestFullPoolTieEvictsTheOlder(t *testing.T) {
	for round := range 500 {
		l, _ := newTest(Config{MaxStartups: [3]int{4, 100, 4}})
		ev := &evictions{}
		for _, c := range []struct {
			id   string
			addr netip.Addr
		}{{"a1", ipA}, {"b1", ipB}, {"a2", ipA}, {"b2", ipB}} {
			if _, err := l.AdmitEvictable(c.addr, ev.fn(c.id)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.AdmitEvictable(v4(3), ev.fn("c1")); err != nil {
			t.Fatalf("round %d: newcomer at full: %v", round, err)
		}
		if got := ev.got(); got != "a1" {
			t.Fatalf("round %d: evicted %q, want a1 (the oldest of the tied sources)", round, got)
		}
	}
}
