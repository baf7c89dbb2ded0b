package control

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestPercentile95(t *testing.T) {
	ramp := make([]int64, 100)
	for i := range ramp {
		ramp[i] = int64(i + 1)
	}
	tests := []struct {
		name string
		in   []int64
		want int64
	}{
		{"empty", nil, 0},
		{"one", []int64{7}, 7},
		{"1..100", ramp, 95},
		// A week of hours, busy one in ten: the busy level sets the bar.
		{"mostly idle", append(make([]int64, 152), 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 9), 5},
		{"idle but for a few hours", append(make([]int64, 160), 5, 5, 5, 5, 5, 5, 5, 9), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile95(tc.in); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestFailureBucketsHammer charges failures from many goroutines: each
// key's capacity holds exactly, whatever the interleaving, and the sweep
// keeps the map bounded.
func TestFailureBucketsHammer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFailureBuckets(10, 15*time.Minute)
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
				if f.wait(k, now) > 0 {
					continue
				}
				if f.fail(k, now) {
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
		if f.wait(k, now) <= 0 {
			t.Errorf("%s: not throttled after %d failures", k, workers*5)
		}
		if w := f.wait(k, now.Add(15*time.Minute)); w != 0 {
			t.Errorf("%s: still throttled a window later (%v)", k, w)
		}
	}
	if len(exhausted) != keys {
		t.Errorf("%d keys reported exhaustion, want %d", len(exhausted), keys)
	}
}
