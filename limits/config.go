// Configuration of the Limiter: fields, defaults, validation and the
// OpenSSH-style MaxStartups syntax.
package limits

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultPenaltySources is the size of the penalty table when
// Config.PenaltySources is 0.
const DefaultPenaltySources = 65536

// Config sets the admission limits. The zero value admits everything.
type Config struct {
	// MaxStartups is start:rate:full as in OpenSSH ("10:30:100"). Below
	// start unauthenticated connections are always admitted; from start
	// they are refused with probability rate%, rising linearly to 100% at
	// full. At full, a connection admitted with AdmitEvictable is evicted
	// to make room (see there); only when none can be, the newcomer is
	// refused. All zeros means no global limit.
	MaxStartups [3]int

	// PerSourceMax is the maximum number of unauthenticated connections
	// from one source (an IPv4 address, or an IPv6 /64). 0 means unlimited.
	PerSourceMax int

	// PenaltyBase is the first penalty of a source once it has used up its
	// free failures. 0 disables penalties.
	PenaltyBase time.Duration

	// PenaltyMax caps a penalty; each further failure doubles it up to
	// this. Values below PenaltyBase are treated as PenaltyBase.
	PenaltyMax time.Duration

	// PenaltyFreeFails is the number of failures a source may have before
	// penalties start, so that a user mistyping once is not penalised.
	PenaltyFreeFails int

	// PenaltyForget is how long after its last failure (and the end of its
	// penalty) a source is forgotten, free failures and all.
	PenaltyForget time.Duration

	// PenaltySources bounds the penalty table; when full, the source with
	// the oldest failure is evicted. 0 means DefaultPenaltySources.
	PenaltySources int

	// Exempt lists networks that are never penalised or capped, such as
	// the operator's own network. Their connections still count towards
	// Unauthenticated and so towards the limits of others.
	Exempt []netip.Prefix
}

// DefaultConfig returns the suggested limits: a pool of 1000
// unauthenticated connections (MaxStartups "1000": no random early drop,
// eviction when full), ten per source, three free failures, then penalties
// of 5s doubling up to 10m, forgotten after an hour without failures.
//
// OpenSSH's 10:30:100 bounds forked processes of megabytes each; here an
// unauthenticated connection costs a goroutine, a file descriptor and 18 kB
// (silent) to 87 kB (key exchange done, stalled in authentication) of
// memory, so 1000 of them cost at most ~90 MB (docs/decisions.md).
func DefaultConfig() Config {
	return Config{
		MaxStartups:      [3]int{1000, 100, 1000},
		PerSourceMax:     10,
		PenaltyBase:      5 * time.Second,
		PenaltyMax:       10 * time.Minute,
		PenaltyFreeFails: 3,
		PenaltyForget:    time.Hour,
	}
}

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	if c.MaxStartups != [3]int{} {
		if err := checkMaxStartups(c.MaxStartups); err != nil {
			return fmt.Errorf("limits: MaxStartups %d:%d:%d: %w", c.MaxStartups[0], c.MaxStartups[1], c.MaxStartups[2], err)
		}
	}
	switch {
	case c.PerSourceMax < 0:
		return fmt.Errorf("limits: PerSourceMax %d is negative", c.PerSourceMax)
	case c.PenaltyBase < 0:
		return fmt.Errorf("limits: PenaltyBase %s is negative", c.PenaltyBase)
	case c.PenaltyBase > 0 && c.PenaltyMax < c.PenaltyBase:
		return fmt.Errorf("limits: PenaltyMax %s is below PenaltyBase %s", c.PenaltyMax, c.PenaltyBase)
	case c.PenaltyFreeFails < 0:
		return fmt.Errorf("limits: PenaltyFreeFails %d is negative", c.PenaltyFreeFails)
	case c.PenaltyForget < 0:
		return fmt.Errorf("limits: PenaltyForget %s is negative", c.PenaltyForget)
	case c.PenaltySources < 0:
		return fmt.Errorf("limits: PenaltySources %d is negative", c.PenaltySources)
	}
	for _, p := range c.Exempt {
		if !p.IsValid() {
			return fmt.Errorf("limits: Exempt has an invalid prefix %q", p)
		}
	}
	return nil
}

// ParseMaxStartups parses OpenSSH's MaxStartups syntax, "start:rate:full"
// or a single "full" (which refuses every connection from full on).
func ParseMaxStartups(s string) ([3]int, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 1 && len(parts) != 3 {
		return [3]int{}, fmt.Errorf("limits: MaxStartups %q: want start:rate:full or full", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return [3]int{}, fmt.Errorf("limits: MaxStartups %q: %q is not a number", s, p)
		}
		v[i] = n
	}
	if len(parts) == 1 {
		v = [3]int{v[0], 100, v[0]}
	}
	if err := checkMaxStartups(v); err != nil {
		return [3]int{}, fmt.Errorf("limits: MaxStartups %q: %w", s, err)
	}
	return v, nil
}

func checkMaxStartups(v [3]int) error {
	start, rate, full := v[0], v[1], v[2]
	switch {
	case start <= 0 || full <= 0:
		return errors.New("start and full must be positive")
	case start > full:
		return errors.New("start is above full")
	case rate < 1 || rate > 100:
		return errors.New("rate must be 1 to 100")
	}
	return nil
}
