// Exact values at the edges: the penalty sequence and the MaxStartups draw.
package limits

import (
	"math"
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
