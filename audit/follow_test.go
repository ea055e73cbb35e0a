// Follow across appends and rotations.

package audit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFollowDeliversExistingNewAndRotated(t *testing.T) {
	saved := pollInterval
	pollInterval = time.Millisecond
	t.Cleanup(func() { pollInterval = saved })

	l, path := openLog(t, Options{MaxSize: 600})
	appendN(t, l, 6) // already rotated once or more

	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, path, 3, func(r Record) { got <- r.Seq }) }()

	expect := func(from, to uint64) {
		t.Helper()
		for want := from; want <= to; want++ {
			select {
			case seq := <-got:
				if seq != want {
					t.Fatalf("Follow delivered seq %d, want %d", seq, want)
				}
			case <-time.After(10 * time.Second): // a failure timeout, not a wait
				t.Fatalf("Follow did not deliver seq %d", want)
			}
		}
	}
	expect(3, 6)
	appendN(t, l, 20) // several rotations while following
	expect(7, 26)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
	select {
	case seq := <-got:
		t.Fatalf("unexpected extra record %d", seq)
	default:
	}
}
