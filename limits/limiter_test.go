package limits

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(c Config) (*Limiter, *clock) {
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(c, clk.now, func() float64 { return 0.5 }), clk
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

// v4 returns a distinct IPv4 address for i.
func v4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestMaxStartups(t *testing.T) {
	// 10:30:100; p(n) = 30 + 70*(n-10)/90 percent.
	tests := []struct {
		name  string
		open  int     // already admitted
		rnd   float64 // the random draw
		allow bool
	}{
		{"empty", 0, 0, true},
		{"just below start", 9, 0, true},
		{"at start, draw under 30%", 10, 0.29, false},
		{"at start, draw over 30%", 10, 0.31, true},
		{"midway p=65%, draw under", 55, 0.64, false},
		{"midway p=65%, draw over", 55, 0.66, true},
		{"just below full p=99.2%, draw over", 99, 0.995, true},
		{"just below full p=99.2%, draw under", 99, 0.99, false},
		{"at full", 100, 0.999, false},
		{"above full", 150, 0.999, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Config{MaxStartups: [3]int{10, 30, 100}}, nil, func() float64 { return tt.rnd })
			l.unauth = tt.open // as if tt.open connections were admitted
			_, err := l.Admit(ipA)
			if got := err == nil; got != tt.allow {
				t.Fatalf("Admit with %d open, rnd %v: err %v, want allowed=%v", tt.open, tt.rnd, err, tt.allow)
			}
			if err != nil && !errors.Is(err, ErrStartupsFull) {
				t.Fatalf("err %v, want ErrStartupsFull", err)
			}
		})
	}
}

func TestMaxStartupsSingleValue(t *testing.T) {
	ms, err := ParseMaxStartups("3")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := newTest(Config{MaxStartups: ms})
	var rels []func()
	for i := range 3 {
		rel, err := l.Admit(v4(i))
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		rels = append(rels, rel)
	}
	if _, err := l.Admit(ipA); !errors.Is(err, ErrStartupsFull) {
		t.Fatalf("4th conn: %v, want ErrStartupsFull", err)
	}
	rels[0]()
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestPerSourceCap(t *testing.T) {
	l, _ := newTest(Config{PerSourceMax: 2})
	r1, err1 := l.Admit(ipA)
	_, err2 := l.Admit(ipA)
	if err1 != nil || err2 != nil {
		t.Fatalf("first two: %v, %v", err1, err2)
	}
	if _, err := l.Admit(ipA); !errors.Is(err, ErrSourceFull) {
		t.Fatalf("third from A: %v, want ErrSourceFull", err)
	}
	if _, err := l.Admit(ipB); err != nil {
		t.Fatalf("B while A is full: %v", err)
	}
	// The same IPv4 address, IPv4-mapped, is the same source.
	if _, err := l.Admit(netip.AddrFrom16(ipA.As16())); !errors.Is(err, ErrSourceFull) {
		t.Fatalf("mapped A: %v, want ErrSourceFull", err)
	}
	r1()
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("A after release: %v", err)
	}
	if got := l.Unauthenticated(); got != 3 {
		t.Fatalf("Unauthenticated = %d, want 3", got)
	}
}

func TestPerSourceIPv6Grouping(t *testing.T) {
	l, _ := newTest(Config{PerSourceMax: 1})
	if _, err := l.Admit(netip.MustParseAddr("2001:db8:1:2::1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(netip.MustParseAddr("2001:db8:1:2:ffff::9")); !errors.Is(err, ErrSourceFull) {
		t.Fatalf("same /64: %v, want ErrSourceFull", err)
	}
	if _, err := l.Admit(netip.MustParseAddr("2001:db8:1:3::1")); err != nil {
		t.Fatalf("other /64: %v", err)
	}
}

func TestReleaseTwiceIsNoop(t *testing.T) {
	l, _ := newTest(Config{PerSourceMax: 1})
	r1, _ := l.Admit(ipA)
	r2, _ := l.Admit(ipB)
	r1()
	r1()
	if got := l.Unauthenticated(); got != 1 {
		t.Fatalf("Unauthenticated = %d after double release, want 1", got)
	}
	r2()
	r2()
	if got := l.Unauthenticated(); got != 0 || len(l.open) != 0 {
		t.Fatalf("Unauthenticated = %d, open = %v; want 0, empty", got, l.open)
	}
	// A refused Admit still returns a callable release.
	l.Admit(ipA)
	rel, err := l.Admit(ipA)
	if err == nil {
		t.Fatal("want refusal")
	}
	rel()
	if got := l.Unauthenticated(); got != 1 {
		t.Fatalf("Unauthenticated = %d after no-op release, want 1", got)
	}
}

func penaltyConfig() Config {
	return Config{
		PenaltyBase:      5 * time.Second,
		PenaltyMax:       30 * time.Second,
		PenaltyFreeFails: 3,
		PenaltyForget:    time.Hour,
		Exempt:           []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
	}
}

func TestPenaltiesGrow(t *testing.T) {
	l, _ := newTest(penaltyConfig())
	// Failure n (1-based) → penalty after it.
	want := []time.Duration{0, 0, 0, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		l.Failed(ipA)
		_, err := l.Admit(ipA)
		if w == 0 {
			if err != nil {
				t.Fatalf("failure %d: %v, want admitted (free)", i+1, err)
			}
			continue
		}
		if !errors.Is(err, ErrPenalised) || !strings.Contains(err.Error(), w.String()) {
			t.Fatalf("failure %d: %v, want ErrPenalised for %s", i+1, err, w)
		}
	}
	if got := l.Penalised(); got != 1 {
		t.Fatalf("Penalised = %d, want 1", got)
	}
	if _, err := l.Admit(ipB); err != nil {
		t.Fatalf("other source: %v", err)
	}
}

func TestPenaltyExpiry(t *testing.T) {
	l, clk := newTest(penaltyConfig())
	for range 4 {
		l.Failed(ipA)
	}
	clk.advance(4 * time.Second)
	_, err := l.Admit(ipA)
	if !errors.Is(err, ErrPenalised) || !strings.Contains(err.Error(), "1s remaining") {
		t.Fatalf("at 4s: %v, want penalised with 1s remaining", err)
	}
	clk.advance(time.Second)
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("at 5s: %v, want admitted", err)
	}
	if got := l.Penalised(); got != 0 {
		t.Fatalf("Penalised = %d, want 0", got)
	}
	// Still remembered: the next failure doubles.
	l.Failed(ipA)
	if _, err := l.Admit(ipA); !errors.Is(err, ErrPenalised) || !strings.Contains(err.Error(), "10s") {
		t.Fatalf("5th failure: %v, want 10s penalty", err)
	}
	// Forgotten an hour after the last failure: free failures again.
	clk.advance(time.Hour)
	l.Failed(ipA)
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("after forget: %v, want admitted", err)
	}
	if len(l.sources) != 1 || l.sources[ipA].Value.(*record).fails != 1 {
		t.Fatalf("record after forget: %+v", l.sources)
	}
}

func TestSuccessResets(t *testing.T) {
	l, clk := newTest(penaltyConfig())
	for range 3 {
		l.Failed(ipA)
	}
	l.Succeeded(ipA)
	if len(l.sources) != 0 {
		t.Fatalf("record kept after success: %v", l.sources)
	}
	for range 3 {
		l.Failed(ipA)
	}
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("3 failures after success: %v, want admitted", err)
	}
	// A running penalty survives a success (from a connection admitted
	// earlier), but the count restarts.
	l.Failed(ipA)
	l.Succeeded(ipA)
	if _, err := l.Admit(ipA); !errors.Is(err, ErrPenalised) {
		t.Fatalf("penalty after success: %v, want kept", err)
	}
	clk.advance(5 * time.Second)
	l.Failed(ipA)
	if _, err := l.Admit(ipA); err != nil {
		t.Fatalf("first failure after success: %v, want free", err)
	}
}

func TestExempt(t *testing.T) {
	c := penaltyConfig()
	c.PerSourceMax = 1
	c.MaxStartups = [3]int{1, 100, 1}
	l, _ := newTest(c)
	op := netip.MustParseAddr("198.51.100.7")
	for range 10 {
		l.Failed(op)
	}
	if len(l.sources) != 0 {
		t.Fatalf("exempt source recorded: %v", l.sources)
	}
	for i := range 3 {
		if _, err := l.Admit(op); err != nil {
			t.Fatalf("exempt conn %d: %v", i, err)
		}
	}
	// Exempt connections still count against others.
	if _, err := l.Admit(ipA); !errors.Is(err, ErrStartupsFull) {
		t.Fatalf("non-exempt: %v, want ErrStartupsFull", err)
	}
	// IPv4-mapped form is exempt too.
	if _, err := l.Admit(netip.AddrFrom16(op.As16())); err != nil {
		t.Fatalf("mapped exempt: %v", err)
	}
}

func TestTableBounded(t *testing.T) {
	c := penaltyConfig()
	c.PenaltyFreeFails = 0
	l, clk := newTest(c)
	const n = 200_000
	for i := range n {
		l.Failed(v4(i))
		if i%1000 == 0 {
			clk.advance(time.Millisecond)
		}
	}
	if got := len(l.sources); got != DefaultPenaltySources || l.byAge.Len() != got {
		t.Fatalf("table holds %d (list %d), want %d", got, l.byAge.Len(), DefaultPenaltySources)
	}
	if got := l.Penalised(); got > DefaultPenaltySources {
		t.Fatalf("Penalised = %d > cap", got)
	}
	// The newest sources are the ones kept.
	if _, err := l.Admit(v4(n - 1)); !errors.Is(err, ErrPenalised) {
		t.Fatalf("newest source: %v, want penalised", err)
	}
	if _, err := l.Admit(v4(0)); err != nil {
		t.Fatalf("evicted source: %v, want admitted", err)
	}
	// Expired records are swept lazily by later calls.
	clk.advance(2 * time.Hour)
	for range DefaultPenaltySources/sweepBatch + 1 {
		l.Admit(ipB)
	}
	if got := len(l.sources); got != 0 {
		t.Fatalf("table holds %d after expiry, want 0", got)
	}
}

func TestSmallTableEvictsOldest(t *testing.T) {
	c := penaltyConfig()
	c.PenaltySources = 2
	c.PenaltyFreeFails = 0
	l, _ := newTest(c)
	l.Failed(v4(1))
	l.Failed(v4(2))
	l.Failed(v4(1)) // 1 is now the most recent
	l.Failed(v4(3)) // evicts 2
	if _, ok := l.sources[v4(2)]; ok || len(l.sources) != 2 {
		t.Fatalf("sources %v, want 1 and 3", l.sources)
	}
}

func TestConcurrent(t *testing.T) {
	c := DefaultConfig()
	c.PenaltyFreeFails = 1000
	l := New(c, nil, nil)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 500 {
				addr := v4(g*7 + i%5)
				rel, err := l.Admit(addr)
				if i%3 == 0 {
					l.Failed(addr)
				} else {
					l.Succeeded(addr)
				}
				_ = l.Penalised()
				rel()
				if err == nil && i%2 == 0 {
					rel()
				}
			}
		})
	}
	wg.Wait()
	if got := l.Unauthenticated(); got != 0 || len(l.open) != 0 {
		t.Fatalf("Unauthenticated = %d, open %v; want 0", got, l.open)
	}
}

func TestParseMaxStartups(t *testing.T) {
	tests := []struct {
		in   string
		want [3]int
		ok   bool
	}{
		{"10:30:100", [3]int{10, 30, 100}, true},
		{"10", [3]int{10, 100, 10}, true},
		{"1:100:1", [3]int{1, 100, 1}, true},
		{"", [3]int{}, false},
		{"0", [3]int{}, false},
		{"-1", [3]int{}, false},
		{"10:30", [3]int{}, false},
		{"100:30:10", [3]int{}, false},
		{"10:0:100", [3]int{}, false},
		{"10:101:100", [3]int{}, false},
		{"10:30:100:5", [3]int{}, false},
		{"a:b:c", [3]int{}, false},
	}
	for _, tt := range tests {
		got, err := ParseMaxStartups(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMaxStartups(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero: %v", err)
	}
	bad := map[string]func(*Config){
		"MaxStartups":      func(c *Config) { c.MaxStartups = [3]int{10, 30, 5} },
		"PerSourceMax":     func(c *Config) { c.PerSourceMax = -1 },
		"PenaltyMax":       func(c *Config) { c.PenaltyMax = time.Second },
		"PenaltyFreeFails": func(c *Config) { c.PenaltyFreeFails = -1 },
		"Exempt":           func(c *Config) { c.Exempt = []netip.Prefix{{}} },
	}
	for field, mutate := range bad {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Validate() = %v, want error naming it", field, err)
		}
	}
}

func ExampleLimiter() {
	l := New(DefaultConfig(), nil, nil)
	addr := netip.MustParseAddr("203.0.113.9")
	for i := range 5 {
		release, err := l.Admit(addr)
		if err != nil {
			fmt.Println(i, err)
			continue
		}
		l.Failed(addr) // the gateway saw a failed authentication
		release()
	}
	// Output:
	// 4 limits: source penalised for failed authentications: 5s remaining
}

// evictions records which admitted connections were evicted.
type evictions struct {
	mu  sync.Mutex
	ids []string
}

func (ev *evictions) fn(id string) func() {
	return func() { ev.mu.Lock(); ev.ids = append(ev.ids, id); ev.mu.Unlock() }
}

func (ev *evictions) got() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return strings.Join(ev.ids, ",")
}

func TestFullPoolEvictsOldestOfBiggestSource(t *testing.T) {
	l, _ := newTest(Config{MaxStartups: [3]int{5, 100, 5}})
	ev := &evictions{}
	rel := map[string]func(){}
	admit := func(id string, addr netip.Addr) error {
		r, err := l.AdmitEvictable(addr, ev.fn(id))
		rel[id] = r
		return err
	}
	for i, id := range []string{"a1", "a2", "a3"} {
		if err := admit(id, ipA); err != nil {
			t.Fatalf("%s (%d): %v", id, i, err)
		}
	}
	admit("b1", ipB)
	admit("b2", ipB)
	// Full (5). A holds the most: its oldest goes.
	if err := admit("c1", v4(3)); err != nil {
		t.Fatalf("newcomer at full: %v, want admitted by eviction", err)
	}
	if got := ev.got(); got != "a1" {
		t.Fatalf("evicted %q, want a1", got)
	}
	// A and B hold two each: the older of their oldest (a2) goes.
	if err := admit("c2", v4(4)); err != nil {
		t.Fatal(err)
	}
	if got := ev.got(); got != "a1,a2" {
		t.Fatalf("evicted %q, want a1,a2", got)
	}
	if n := l.Unauthenticated(); n != 5 {
		t.Fatalf("Unauthenticated = %d, want 5", n)
	}
	// An evicted connection's release is a no-op; a live one frees a slot.
	rel["a1"]()
	if n := l.Unauthenticated(); n != 5 {
		t.Fatalf("Unauthenticated = %d after releasing an evicted one, want 5", n)
	}
	rel["b1"]()
	if err := admit("d1", v4(5)); err != nil || ev.got() != "a1,a2" {
		t.Fatalf("admit below full: %v, evicted %q (want no eviction)", err, ev.got())
	}
}

func TestFullPoolNeverEvictsExemptOrUnevictable(t *testing.T) {
	l, _ := newTest(Config{MaxStartups: [3]int{2, 100, 2}, Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}})
	ev := &evictions{}
	if _, err := l.AdmitEvictable(ipA, ev.fn("exempt")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(ipB); err != nil { // no evict function
		t.Fatal(err)
	}
	if _, err := l.AdmitEvictable(v4(7), ev.fn("new")); !errors.Is(err, ErrStartupsFull) {
		t.Fatalf("full of unevictable connections: %v, want ErrStartupsFull", err)
	}
	if ev.got() != "" {
		t.Fatalf("evicted %q", ev.got())
	}
}

func TestEvictionConcurrent(t *testing.T) {
	l := New(Config{MaxStartups: [3]int{8, 100, 8}, PerSourceMax: 4}, nil, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	evicted := 0
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				rel, err := l.AdmitEvictable(v4(g*7+i%3), func() { mu.Lock(); evicted++; mu.Unlock() })
				if err == nil && i%2 == 0 {
					rel()
				}
				if n := l.Unauthenticated(); n > 8 {
					t.Errorf("Unauthenticated = %d above full", n)
					return
				}
				defer rel()
			}
		}()
	}
	wg.Wait()
	if n := l.Unauthenticated(); n != 0 || len(l.open) != 0 {
		t.Fatalf("after every release: Unauthenticated %d, open %v", n, l.open)
	}
	if evicted == 0 {
		t.Fatal("no eviction under a full pool")
	}
}
