// The Limiter: admission of unauthenticated connections and the penalty
// table of failing sources.
package limits

import (
	"container/list"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Reasons Admit refuses a connection; test with errors.Is.
var (
	ErrPenalised    = errors.New("limits: source penalised for failed authentications")
	ErrSourceFull   = errors.New("limits: too many unauthenticated connections from this source")
	ErrStartupsFull = errors.New("limits: too many unauthenticated connections")
)

// sweepBatch bounds the expired records removed per call, so that no single
// call holds the lock for long.
const sweepBatch = 64

// Limiter admits or refuses unauthenticated connections. It is safe for
// concurrent use.
type Limiter struct {
	cfg Config
	now func() time.Time
	rnd func() float64

	mu      sync.Mutex
	unauth  int                          // admitted and not yet released
	open    map[netip.Addr]*list.List    // *pending per source key, oldest first; no empty lists
	seq     uint64                       // admissions so far: the age order across sources
	sources map[netip.Addr]*list.Element // penalty records by source key
	byAge   list.List                    // *record, oldest last failure first
}

// pending is one admitted, unreleased connection.
type pending struct {
	key   netip.Addr
	seq   uint64 // admission order
	evict func() // nil: never evicted (exempt, or admitted without one)
	done  bool   // released or evicted
}

// record is what the Limiter remembers about a failing source.
type record struct {
	key   netip.Addr
	fails int       // failures since first seen or last success
	last  time.Time // time of the last failure
	until time.Time // refused before this time
}

// New returns a Limiter for c, which should have passed c.Validate. now and
// rnd (uniform in [0,1)) may be nil for time.Now and math/rand/v2.
func New(c Config, now func() time.Time, rnd func() float64) *Limiter {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	if c.PenaltyMax < c.PenaltyBase {
		c.PenaltyMax = c.PenaltyBase
	}
	if c.PenaltySources <= 0 {
		c.PenaltySources = DefaultPenaltySources
	}
	c.Exempt = append([]netip.Prefix(nil), c.Exempt...)
	return &Limiter{
		cfg:     c,
		now:     now,
		rnd:     rnd,
		open:    make(map[netip.Addr]*list.List),
		sources: make(map[netip.Addr]*list.Element),
	}
}

// Admit is AdmitEvictable without an evict function: the connection is
// never evicted to make room for another.
func (l *Limiter) Admit(addr netip.Addr) (release func(), err error) {
	return l.AdmitEvictable(addr, nil)
}

// AdmitEvictable is called when a connection is accepted, before
// authentication. If the connection may proceed, it returns a release
// function to call once the connection has finished authentication
// (successfully or not) or closed; calls after the first are no-ops.
// Otherwise it returns an error wrapping ErrPenalised (with the remaining
// time), ErrSourceFull or ErrStartupsFull. release is never nil; on error it
// does nothing.
//
// When MaxStartups' full is reached, the newcomer is not refused: the oldest
// unauthenticated connection of the source holding the most (exempt sources
// and connections admitted without an evict function aside) is evicted: its
// slot is released and its evict function called once, without the
// Limiter's lock held, so that its owner closes it. Only when nothing can be
// evicted is the newcomer refused. A flood from many sources thus displaces
// itself, not the user who holds one connection.
func (l *Limiter) AdmitEvictable(addr netip.Addr, evict func()) (release func(), err error) {
	key := sourceKey(addr)
	var evicted func()
	defer func() {
		if evicted != nil {
			evicted() // runs after the deferred Unlock below
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	exempt := l.exempt(addr)
	if !exempt {
		if r := l.lookup(key, now); r != nil && now.Before(r.until) {
			return func() {}, fmt.Errorf("%w: %s remaining", ErrPenalised, ceilSecond(r.until.Sub(now)))
		}
		if limit := l.cfg.PerSourceMax; limit > 0 && l.count(key) >= limit {
			return func() {}, ErrSourceFull
		}
		if l.full() {
			v := l.victim()
			if v == nil {
				return func() {}, ErrStartupsFull
			}
			evicted = v.Value.(*pending).evict
			l.unpend(v)
		} else if l.dropStartup() {
			return func() {}, ErrStartupsFull
		}
	}
	l.seq++
	p := &pending{key: key, seq: l.seq}
	if !exempt {
		p.evict = evict
	}
	l.unauth++
	conns := l.open[key]
	if conns == nil {
		conns = list.New()
		l.open[key] = conns
	}
	e := conns.PushBack(p)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !p.done {
			l.unpend(e)
		}
	}, nil
}

// count is the number of admitted, unreleased connections from key.
func (l *Limiter) count(key netip.Addr) int {
	if conns := l.open[key]; conns != nil {
		return conns.Len()
	}
	return 0
}

// unpend releases one admitted connection: its element in its source's list.
func (l *Limiter) unpend(e *list.Element) {
	p := e.Value.(*pending)
	p.done = true
	l.unauth--
	conns := l.open[p.key]
	conns.Remove(e)
	if conns.Len() == 0 {
		delete(l.open, p.key)
	}
}

// full reports whether MaxStartups' full is reached.
func (l *Limiter) full() bool {
	full := l.cfg.MaxStartups[2]
	return full > 0 && l.unauth >= full
}

// victim picks the connection to evict: the oldest evictable one of the
// source with the most connections; among sources holding as many, the one
// whose oldest evictable connection is the oldest. nil if none is evictable.
// It scans every source: at most MaxStartups' full of them, and only when
// the pool is full.
func (l *Limiter) victim() *list.Element {
	var best *list.Element
	bestN := 0
	for _, conns := range l.open {
		n := conns.Len()
		if n < bestN {
			continue
		}
		var first *list.Element
		for e := conns.Front(); e != nil; e = e.Next() {
			if e.Value.(*pending).evict != nil {
				first = e
				break
			}
		}
		if first != nil && (n > bestN || first.Value.(*pending).seq < best.Value.(*pending).seq) {
			best, bestN = first, n
		}
	}
	return best
}

// dropStartup applies MaxStartups to the current number of unauthenticated
// connections, as OpenSSH's drop_connection does.
func (l *Limiter) dropStartup() bool {
	start, rate, full := l.cfg.MaxStartups[0], l.cfg.MaxStartups[1], l.cfg.MaxStartups[2]
	n := l.unauth
	switch {
	case full <= 0:
		return false
	case n >= full:
		return true
	case n < start:
		return false
	}
	// start <= n < full, so full > start.
	p := float64(rate) + float64(100-rate)*float64(n-start)/float64(full-start)
	return l.rnd()*100 < p
}

// Failed records a failed or abandoned authentication from addr. Past the
// free failures it penalises the source: PenaltyBase, doubled for each
// further failure, at most PenaltyMax, counted from now. It returns the
// penalty this failure set, or 0.
func (l *Limiter) Failed(addr netip.Addr) (penalty time.Duration) {
	if l.cfg.PenaltyBase <= 0 || l.exempt(addr) {
		return 0
	}
	key := sourceKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	r := l.lookup(key, now)
	if r == nil {
		r = l.insert(key)
	}
	r.fails++
	r.last = now
	l.byAge.MoveToBack(l.sources[key])
	if extra := r.fails - l.cfg.PenaltyFreeFails; extra > 0 {
		penalty = l.penalty(extra)
		if until := now.Add(penalty); until.After(r.until) {
			r.until = until
		}
	}
	return penalty
}

// Succeeded records a successful authentication from addr: the source's
// failure count starts again from zero. A penalty already running is kept.
func (l *Limiter) Succeeded(addr netip.Addr) {
	key := sourceKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.lookup(key, now)
	if r == nil {
		return
	}
	r.fails = 0
	if !now.Before(r.until) {
		l.remove(l.sources[key])
	}
}

// Unauthenticated returns the number of admitted, unreleased connections.
func (l *Limiter) Unauthenticated() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unauth
}

// Penalised returns the number of sources refused right now.
func (l *Limiter) Penalised() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	n := 0
	for e := l.byAge.Front(); e != nil; e = e.Next() {
		if now.Before(e.Value.(*record).until) {
			n++
		}
	}
	return n
}

// penalty returns the penalty for the extra-th failure past the free ones.
func (l *Limiter) penalty(extra int) time.Duration {
	d, limit := l.cfg.PenaltyBase, l.cfg.PenaltyMax
	for i := 1; i < extra && d < limit; i++ {
		if d > limit/2 {
			d = limit
		} else {
			d *= 2
		}
	}
	return min(d, limit)
}

func (l *Limiter) expired(r *record, now time.Time) bool {
	return !now.Before(r.until) && now.Sub(r.last) >= l.cfg.PenaltyForget
}

// lookup returns the live record for key, dropping it if it has expired.
func (l *Limiter) lookup(key netip.Addr, now time.Time) *record {
	e := l.sources[key]
	if e == nil {
		return nil
	}
	if r := e.Value.(*record); !l.expired(r, now) {
		return r
	}
	l.remove(e)
	return nil
}

// insert adds an empty record for key, evicting the record with the oldest
// failure if the table is full.
func (l *Limiter) insert(key netip.Addr) *record {
	if len(l.sources) >= l.cfg.PenaltySources {
		l.remove(l.byAge.Front())
	}
	r := &record{key: key}
	l.sources[key] = l.byAge.PushBack(r)
	return r
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.sources, e.Value.(*record).key)
	l.byAge.Remove(e)
}

// sweep removes a few expired records from the old end of the table.
func (l *Limiter) sweep(now time.Time) {
	for range sweepBatch {
		e := l.byAge.Front()
		if e == nil || !l.expired(e.Value.(*record), now) {
			return
		}
		l.remove(e)
	}
}

func (l *Limiter) exempt(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range l.cfg.Exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// sourceKey groups addresses into sources: an IPv4 address (also when
// IPv4-mapped) or an IPv6 /64. All invalid addresses share one key.
func sourceKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
