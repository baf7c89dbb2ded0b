package failguard_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/failguard"
)

func TestBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := failguard.New(3, time.Minute)
	for i := range 2 {
		if last := b.Fail("1.2.3.4", now); last {
			t.Fatalf("failure %d used the last of three", i+1)
		}
	}
	if !b.Fail("1.2.3.4", now) {
		t.Fatal("the third failure did not use the last")
	}
	if w := b.Wait("1.2.3.4", now); w != 20*time.Second {
		t.Fatalf("wait %v, want 20s (one failure's refill at 3/min)", w)
	}
	if w := b.Wait("5.6.7.8", now); w != 0 {
		t.Fatalf("another key waits %v", w)
	}
	if w := b.Wait("1.2.3.4", now.Add(20*time.Second)); w != 0 {
		t.Fatalf("after the refill, wait %v", w)
	}
	if off := failguard.New(0, time.Minute); off.Fail("x", now) || off.Wait("x", now) != 0 {
		t.Fatal("zero capacity must disable")
	}
}

// The map stays bounded under a flood of distinct keys.
func TestBucketsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := failguard.New(5, time.Minute)
	for i := range failguard.MaxKeys + 10 {
		b.Fail(fmt.Sprint("k", i), now)
	}
	if w := b.Wait(fmt.Sprint("k", failguard.MaxKeys+9), now); w != 0 {
		t.Fatalf("a key with one failure of five waits %v", w)
	}
}

// TestFailureBucketsHammer charges failures from many goroutines: each
// key's capacity holds exactly, whatever the interleaving, and the sweep
// keeps the map bounded.
func TestFailureBucketsHammer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := failguard.New(10, 15*time.Minute)
	const keys, workers = 50, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	exhausted := map[string]int{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys * 5 {
				k := fmt.Sprintf("k%d", (i+w)%keys)
				if f.Wait(k, now) > 0 {
					continue
				}
				if f.Fail(k, now) {
					mu.Lock()
					exhausted[k]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		if f.Wait(k, now) <= 0 {
			t.Errorf("%s: not throttled after %d failures", k, workers*5)
		}
		if w := f.Wait(k, now.Add(15*time.Minute)); w != 0 {
			t.Errorf("%s: still throttled a window later (%v)", k, w)
		}
	}
	if len(exhausted) != keys {
		t.Errorf("%d keys reported exhaustion, want %d", len(exhausted), keys)
	}
}
