package passwd

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

var cheap = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", h)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false, strings.Repeat("x", 1<<20): false} {
		ok, err := Verify(h, pw)
		if err != nil || ok != want {
			t.Errorf("Verify(%.10q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h2, _ := Hash("correct horse", cheap)
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5"} {
		if _, err := Verify(enc, "x"); err == nil {
			t.Errorf("Verify(%q) accepted a malformed hash", enc)
		}
	}
}

func BenchmarkHashDefaultCost(b *testing.B) {
	p := Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}
	for b.Loop() {
		if _, err := Hash("benchmark password", p); err != nil {
			b.Fatal(err)
		}
	}
}

// fillSlots takes every hashing slot, as MaxConcurrent running hashes would.
func fillSlots(t *testing.T) (free func()) {
	t.Helper()
	var releases []func()
	for range MaxConcurrent() {
		r, err := acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}
}

func inFlightNow() int {
	idleMu.Lock()
	defer idleMu.Unlock()
	return inFlight
}

// At most MaxConcurrent hashes at once: one more waits (it does not hash),
// and gives up when its login's grace deadline passes, with the context's
// error, not as a wrong password.
func TestVerifyWaitsForASlotUntilTheGraceDeadline(t *testing.T) {
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	free := fillSlots(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	graceOver := errors.New("login grace time over")
	result := make(chan error, 1)
	go func() {
		_, err := VerifyContext(ctx, h, "pw")
		result <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for inFlightNow() != MaxConcurrent()+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-result:
		t.Fatalf("verify ran although every slot was taken: %v", err)
	default:
	}
	cancel(graceOver) // the grace deadline
	if err := <-result; !errors.Is(err, graceOver) {
		t.Fatalf("queued verify after the deadline: %v, want the deadline's cause", err)
	}
	// A deadline already past never hashes, even with a slot free.
	free()
	past, stop := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer stop()
	if _, err := VerifyContext(past, h, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("verify after the deadline: %v", err)
	}
	if ok, err := VerifyContext(context.Background(), h, "pw"); !ok || err != nil {
		t.Fatalf("verify with free slots: %v, %v", ok, err)
	}
	if n := inFlightNow(); n != 0 {
		t.Fatalf("%d hashes still counted in flight", n)
	}
}

// Many logins at once: every one gets its answer, never more than
// MaxConcurrent hash at the same time.
func TestVerifyBurstBounded(t *testing.T) {
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		running int
		peak    int
	)
	hashHook = func(start bool) {
		mu.Lock()
		defer mu.Unlock()
		if start {
			running++
			peak = max(peak, running)
		} else {
			running--
		}
	}
	defer func() { hashHook = nil }()
	var wg sync.WaitGroup
	for i := range 4 * MaxConcurrent() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "pw"
			if i%2 == 1 {
				pw = "wrong"
			}
			if ok, err := Verify(h, pw); err != nil || ok != (pw == "pw") {
				t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
			}
		}()
	}
	wg.Wait()
	if want := min(max(runtime.GOMAXPROCS(0), 1), 4); MaxConcurrent() != want {
		t.Fatalf("MaxConcurrent() = %d, want %d (cores, at most 4)", MaxConcurrent(), want)
	}
	if peak < 1 || peak > MaxConcurrent() {
		t.Fatalf("%d hashes ran at once, want 1..%d", peak, MaxConcurrent())
	}
}

// The hash memory goes back to the OS once no hash ran for FreeAfter, and
// not while one waits or runs.
func TestMemoryReturnedAfterTheBurst(t *testing.T) {
	h, _ := Hash("pw", cheap)
	var mu sync.Mutex
	freed := 0
	idleMu.Lock()
	freeOS = func() { mu.Lock(); freed++; mu.Unlock() }
	freeWait = time.Millisecond // the delay is the code's; the test need not sit through a second
	idleMu.Unlock()
	defer func() {
		idleMu.Lock()
		freeOS, freeWait = debug.FreeOSMemory, FreeAfter
		idleMu.Unlock()
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return freed }

	idleMu.Lock()
	inFlight++ // a hash in flight
	idleMu.Unlock()
	freeIfIdle()
	if count() != 0 {
		t.Fatal("memory freed while a hash was in flight")
	}
	idleMu.Lock()
	inFlight--
	idleMu.Unlock()

	Verify(h, "pw")
	deadline := time.Now().Add(30 * time.Second) // a bound, not a wait
	for count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if count() == 0 {
		t.Fatal("hash memory never given back after the burst")
	}
}
