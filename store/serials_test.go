package store

import (
	"context"
	"sync"
	"testing"
)

func TestNextSerialUniqueAcrossConnections(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		p := b.newPaths(t)
		stores := []*Store{open(t, p), open(t, p)} // two processes on one state
		var mu sync.Mutex
		seen := map[uint64]bool{}
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(s *Store) {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					n, err := s.NextSerial(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[n] {
						t.Errorf("serial %d issued twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			}(stores[i%2])
		}
		wg.Wait()
		if n, err := stores[0].NextSerial(context.Background()); err != nil || n != 41 {
			t.Fatalf("after 40 serials: %d, %v; want 41", n, err)
		}
	})
}

func TestCopyKeepsSerialCounter(t *testing.T) {
	ctx := context.Background()
	srcP := newPaths(t)
	src := open(t, srcP)
	for i := 0; i < 5; i++ {
		src.NextSerial(ctx)
	}
	dstP := newPaths(t)
	dstP.key = srcP.key
	dst := open(t, dstP)
	if _, _, err := Copy(ctx, src, dst, false); err != nil {
		t.Fatal(err)
	}
	if n, err := dst.NextSerial(ctx); err != nil || n != 6 {
		t.Fatalf("first serial after the copy: %d, %v; want 6 (never reuse one)", n, err)
	}
}
