// Package failguard counts failures per key (a client address, an email)
// in buckets refilled continuously, so that a key that fails too often is
// refused for a while. The edge uses it for API key guessing, the control
// service for sign-in.
package failguard

import (
	"sync"
	"time"
)

// Buckets hold each key's allowance of failures: Capacity of them, refilled
// over Window. It is safe for concurrent use; the zero Capacity disables it.
type Buckets struct {
	capacity float64
	perSec   float64

	mu      sync.Mutex
	buckets map[string]*bucket
	ops     int
}

type bucket struct {
	left float64
	last time.Time
}

// MaxKeys bounds the keys remembered; beyond it, keys whose allowance has
// refilled are forgotten first, then any.
const MaxKeys = 100_000

// New returns buckets of capacity failures refilled over window; a
// capacity of 0 or less disables them.
func New(capacity int, window time.Duration) *Buckets {
	capacity = max(capacity, 0)
	b := &Buckets{capacity: float64(capacity), buckets: make(map[string]*bucket)}
	if window > 0 {
		b.perSec = float64(capacity) / window.Seconds()
	}
	return b
}

// Wait reports how long key must wait before its next attempt, 0 if none.
func (f *Buckets) Wait(key string, now time.Time) time.Duration {
	if f.capacity == 0 || key == "" {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[key]
	if b == nil {
		return 0
	}
	f.refill(b, now)
	if b.left >= 1 || f.perSec == 0 {
		return 0
	}
	return time.Duration((1 - b.left) / f.perSec * float64(time.Second))
}

// Fail charges key one failure and reports whether that used its last.
func (f *Buckets) Fail(key string, now time.Time) bool {
	if f.capacity == 0 || key == "" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[key]
	if b == nil {
		if len(f.buckets) >= MaxKeys {
			f.sweep(now, true)
		}
		b = &bucket{left: f.capacity, last: now}
		f.buckets[key] = b
	}
	f.refill(b, now)
	b.left--
	if f.ops++; f.ops%4096 == 0 {
		f.sweep(now, false)
	}
	return b.left < 1
}

func (f *Buckets) refill(b *bucket, now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.left = min(b.left+dt*f.perSec, f.capacity)
		b.last = now
	}
}

// sweep forgets keys whose allowance is full again; when the map is still
// full and force is set, it drops others too. The caller holds mu.
func (f *Buckets) sweep(now time.Time, force bool) {
	for k, b := range f.buckets {
		if f.refill(b, now); b.left >= f.capacity {
			delete(f.buckets, k)
		}
	}
	for k := range f.buckets {
		if !force || len(f.buckets) < MaxKeys*9/10 {
			break
		}
		delete(f.buckets, k)
	}
}
