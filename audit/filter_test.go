// Table tests of Filter.Match.

package audit

import (
	"testing"
	"time"
)

func TestFilterMatch(t *testing.T) {
	r := Record{Seq: 7, Time: t0, Event: Event{Type: "auth.otp", User: "alice", Source: "192.0.2.1:5555",
		Target: "db1", Result: "fail"}}
	v6 := r
	v6.Source = "[2001:db8::1]:22"
	ok := r
	ok.Result = "ok"
	tests := []struct {
		name string
		f    Filter
		r    Record
		want bool
	}{
		{"empty filter matches all", Filter{}, r, true},
		{"user", Filter{User: "alice"}, r, true},
		{"other user", Filter{User: "bob"}, r, false},
		{"user is exact", Filter{User: "ali"}, r, false},
		{"target", Filter{Target: "db1"}, r, true},
		{"other target", Filter{Target: "db2"}, r, false},
		{"source ip:port", Filter{Source: "192.0.2.1:5555"}, r, true},
		{"source ip only", Filter{Source: "192.0.2.1"}, r, true},
		{"source other port", Filter{Source: "192.0.2.1:5556"}, r, false},
		{"source ip prefix is not a match", Filter{Source: "192.0.2.11"}, r, false},
		{"source ipv6", Filter{Source: "2001:db8::1"}, v6, true},
		{"type exact", Filter{Type: "auth.otp"}, r, true},
		{"type category", Filter{Type: "auth"}, r, true},
		{"type partial word", Filter{Type: "aut"}, r, false},
		{"type other", Filter{Type: "auth.password"}, r, false},
		{"since inclusive", Filter{Since: t0}, r, true},
		{"since after", Filter{Since: t0.Add(time.Nanosecond)}, r, false},
		{"until exclusive", Filter{Until: t0}, r, false},
		{"until after", Filter{Until: t0.Add(time.Second)}, r, true},
		{"failed only, failed", Filter{FailedOnly: true}, r, true},
		{"failed only, ok", Filter{FailedOnly: true}, ok, false},
		{"all conditions", Filter{User: "alice", Target: "db1", Source: "192.0.2.1", Type: "auth",
			Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), FailedOnly: true}, r, true},
		{"one condition fails", Filter{User: "alice", Target: "db2"}, r, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.r); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
