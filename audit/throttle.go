// Throttle: what unauthenticated clients can make the log write is bounded
// per connection and per source; the rest is counted and summarised.

package audit

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// TypePreauthSummary is the periodic record that counts what unauthenticated
// clients did that was not written line by line.
const TypePreauthSummary = "preauth.summary"

// Throttle defaults; see ThrottleOptions.
const (
	DefaultPerConn      = 2 << 10
	DefaultPerSource    = 8 << 10
	DefaultSourceRefill = 10 * time.Minute
	DefaultSummaryEvery = time.Minute
	maxThrottleSources  = 10000
	maxSummaryClasses   = 24
)

// ThrottleOptions tune a Throttle. Zero values take the defaults.
type ThrottleOptions struct {
	// PerConn is how many record bytes one unauthenticated connection may
	// cause (DefaultPerConn, 2 KiB).
	PerConn int
	// PerSource is how many record bytes one source address may cause
	// (DefaultPerSource, 8 KiB), refilled linearly over SourceRefill
	// (DefaultSourceRefill, 10 minutes).
	PerSource    int
	SourceRefill time.Duration
	// SummaryEvery is how often Run writes the preauth.summary record when
	// anything was counted (DefaultSummaryEvery, 1 minute).
	SummaryEvery time.Duration
	// Now supplies the time. Nil means time.Now.
	Now func() time.Time
}

// Throttle bounds the audit volume of unauthenticated clients. Records
// within budget go to the sink; the rest, and refusals that never get a
// record of their own, are counted by class and written as one
// preauth.summary record per SummaryEvery. It is safe for concurrent use.
type Throttle struct {
	sink func(Event) error
	opt  ThrottleOptions

	mu      sync.Mutex
	sources map[string]*bucket // remaining bytes per source; bounded
	counts  map[string]int     // class -> count since the last summary
	totals  map[string]uint64  // class -> count since start, for metrics
	perSrc  map[string]int     // source -> count since the last summary (bounded)
	since   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewThrottle returns a Throttle writing through sink (which applies the
// caller's failure policy).
func NewThrottle(sink func(Event) error, opt ThrottleOptions) *Throttle {
	if opt.PerConn <= 0 {
		opt.PerConn = DefaultPerConn
	}
	if opt.PerSource <= 0 {
		opt.PerSource = DefaultPerSource
	}
	if opt.SourceRefill <= 0 {
		opt.SourceRefill = DefaultSourceRefill
	}
	if opt.SummaryEvery <= 0 {
		opt.SummaryEvery = DefaultSummaryEvery
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Throttle{sink: sink, opt: opt, sources: map[string]*bucket{}, counts: map[string]int{}, totals: map[string]uint64{},
		perSrc: map[string]int{}, since: opt.Now()}
}

// Conn returns the budget of one unauthenticated connection from source
// (an address without port, so that all connections of a host share it).
func (t *Throttle) Conn(source string) *ConnThrottle {
	return &ConnThrottle{t: t, source: source, left: t.opt.PerConn}
}

// Count records that something happened that gets no record of its own
// (a refused connection, say), under a short fixed class name.
func (t *Throttle) Count(source, class string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.countLocked(source, class)
}

func (t *Throttle) countLocked(source, class string) {
	if _, ok := t.counts[class]; !ok && len(t.counts) >= maxSummaryClasses {
		class = "other"
	}
	t.counts[class]++
	if _, ok := t.totals[class]; ok || len(t.totals) < maxSummaryClasses {
		t.totals[class]++
	} else {
		t.totals["other"]++
	}
	if _, ok := t.perSrc[source]; ok || len(t.perSrc) < maxThrottleSources {
		t.perSrc[source]++
	}
}

// Totals returns how often each class was counted since the Throttle was
// made (classes as in preauth.summary, at most 24 and "other"): what a
// metric such as bastion_preauth_refused_total{class} reads.
func (t *Throttle) Totals() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.totals)
}

// take charges n bytes to source; false when its budget is spent.
func (t *Throttle) take(source string, n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	b := t.sources[source]
	if b == nil {
		if len(t.sources) >= maxThrottleSources {
			t.expireLocked(now)
			if len(t.sources) >= maxThrottleSources {
				return false // a flood from more sources than we track: count it
			}
		}
		b = &bucket{tokens: float64(t.opt.PerSource), last: now}
		t.sources[source] = b
	}
	rate := float64(t.opt.PerSource) / t.opt.SourceRefill.Seconds()
	b.tokens = min(float64(t.opt.PerSource), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// expireLocked forgets sources whose budget has refilled.
func (t *Throttle) expireLocked(now time.Time) {
	for s, b := range t.sources {
		if now.Sub(b.last) >= t.opt.SourceRefill {
			delete(t.sources, s)
		}
	}
}

// Flush writes one preauth.summary record if anything was counted since
// the last one: counts per class, the number of sources and the busiest.
func (t *Throttle) Flush() error {
	t.mu.Lock()
	now := t.opt.Now()
	if len(t.counts) == 0 {
		t.since = now
		t.expireLocked(now)
		t.mu.Unlock()
		return nil
	}
	f := map[string]string{"since": t.since.UTC().Format(time.RFC3339)}
	num := map[string]int64{"sources": int64(len(t.perSrc))}
	for class, n := range t.counts {
		num[class] = int64(n)
	}
	srcs := slices.SortedFunc(maps.Keys(t.perSrc), func(a, b string) int { return t.perSrc[b] - t.perSrc[a] })
	if len(srcs) > 0 {
		f["top_source"], num["top_source_count"] = srcs[0], int64(t.perSrc[srcs[0]])
	}
	t.counts, t.perSrc, t.since = map[string]int{}, map[string]int{}, now
	t.expireLocked(now)
	t.mu.Unlock()
	return t.sink(Event{Type: TypePreauthSummary, Result: "fail", Fields: f, Num: num})
}

// Run flushes every SummaryEvery until ctx is done, then once more.
func (t *Throttle) Run(ctx context.Context) {
	tick := time.NewTicker(t.opt.SummaryEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.Flush()
			return
		case <-tick.C:
			t.Flush()
		}
	}
}

// ConnThrottle is one connection's share of a Throttle.
type ConnThrottle struct {
	t      *Throttle
	source string

	mu   sync.Mutex
	left int
}

// Append writes e if the connection and its source still have budget for
// it; otherwise it counts e as "suppressed_<type>" and returns nil.
func (c *ConnThrottle) Append(e Event) error {
	n := approxSize(e)
	c.mu.Lock()
	ok := c.left >= n
	if ok {
		c.left -= n
	}
	c.mu.Unlock()
	if !ok || !c.t.take(c.source, n) {
		c.t.Count(c.source, "suppressed_"+e.Type)
		return nil
	}
	return c.t.sink(e)
}

// Count counts an event of this connection that gets no record.
func (c *ConnThrottle) Count(class string) { c.t.Count(c.source, class) }

// approxSize is the stored size of e, near enough for a budget: its line
// with a long seq and a time with nanoseconds.
func approxSize(e Event) int {
	r := Record{Seq: 1 << 40, V: Version, Time: time.Date(2000, 1, 1, 0, 0, 0, 123456789, time.UTC), Prev: zeroHash, Hash: zeroHash, Event: sanitize(e)}
	return len(encodeLine(r))
}

// Budget rate-limits the records one connection can cause by requests that
// are refused (jumps to hosts it may not use): Burst at once, then one per
// Every. What it refuses is counted, for the connection's close record.
type Budget struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	skipped int
}

// NewBudget returns a full Budget. now nil means time.Now.
func NewBudget(burst int, every time.Duration, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{burst: burst, every: every, now: now, tokens: float64(burst), last: now()}
}

// Allow takes one record from the budget; false (and counted) when spent.
func (b *Budget) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.every > 0 {
		b.tokens = min(float64(b.burst), b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	if b.tokens < 1 {
		b.skipped++
		return false
	}
	b.tokens--
	return true
}

// Skipped is how many Allow calls were refused.
func (b *Budget) Skipped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.skipped
}
