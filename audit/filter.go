// Filter: selecting records for the CLI.

package audit

import (
	"net"
	"strings"
	"time"
)

// Filter selects records. Empty fields match everything; set fields must all
// match.
type Filter struct {
	// User and Target match exactly.
	User, Target string
	// Source matches the full "ip:port" or just the IP.
	Source string
	// Type matches exactly or as a category: "auth" matches "auth.otp".
	Type string
	// Since (inclusive) and Until (exclusive) bound the record time.
	Since, Until time.Time
	// FailedOnly keeps only records whose Result is "fail".
	FailedOnly bool
}

// Match reports whether r passes every condition set in f.
func (f Filter) Match(r Record) bool {
	switch {
	case f.User != "" && r.User != f.User,
		f.Target != "" && r.Target != f.Target,
		f.Source != "" && !sourceMatches(f.Source, r.Source),
		f.Type != "" && r.Type != f.Type && !strings.HasPrefix(r.Type, f.Type+"."),
		!f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until),
		f.FailedOnly && r.Result != "fail":
		return false
	}
	return true
}

func sourceMatches(want, got string) bool {
	if got == want {
		return true
	}
	host, _, err := net.SplitHostPort(got)
	return err == nil && host == want
}
