package worker

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// authGuard throttles failed authentication per client address. Each
// address has a bucket of AuthFailuresPerMinute failures, refilled
// continuously; an address whose bucket is empty gets 429 for every
// attempt, good key or bad, until it refills. Guessing keys from one
// address is thereby bounded, and a flood of made-up keys stops reaching
// the key resolver (and the control service behind it).
type authGuard struct {
	now   func() time.Time
	limit float64 // failures per minute; 0 disables

	mu      sync.Mutex
	buckets map[string]*failBucket
	ops     int
}

type failBucket struct {
	left float64
	last time.Time
}

// maxGuarded bounds the addresses remembered; beyond it, addresses whose
// buckets have refilled are forgotten first, then any.
const maxGuarded = 100_000

func newAuthGuard(now func() time.Time, perMinute int) *authGuard {
	return &authGuard{now: now, limit: float64(max(perMinute, 0)), buckets: make(map[string]*failBucket)}
}

// blocked reports how long ip must wait, if its failures are used up.
func (a *authGuard) blocked(ip string) (time.Duration, bool) {
	if a.limit == 0 || ip == "" {
		return 0, false
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[ip]
	if b == nil {
		return 0, false
	}
	a.refill(b, now)
	if b.left >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.left) / a.limit * float64(time.Minute)), true
}

// failed charges one failure to ip.
func (a *authGuard) failed(ip string) {
	if a.limit == 0 || ip == "" {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[ip]
	if b == nil {
		if len(a.buckets) >= maxGuarded {
			a.sweep(now, true)
		}
		b = &failBucket{left: a.limit, last: now}
		a.buckets[ip] = b
	}
	a.refill(b, now)
	b.left--
	if a.ops++; a.ops%4096 == 0 {
		a.sweep(now, false)
	}
}

func (a *authGuard) refill(b *failBucket, now time.Time) {
	if dt := now.Sub(b.last).Minutes(); dt > 0 {
		b.left = min(b.left+dt*a.limit, a.limit)
		b.last = now
	}
}

// sweep forgets addresses whose buckets are full again; when the map is
// still full and force is set, it drops others too. The caller holds mu.
func (a *authGuard) sweep(now time.Time, force bool) {
	for ip, b := range a.buckets {
		if a.refill(b, now); b.left >= a.limit {
			delete(a.buckets, ip)
		}
	}
	for ip := range a.buckets {
		if !force || len(a.buckets) < maxGuarded*9/10 {
			break
		}
		delete(a.buckets, ip)
	}
}

func authThrottled(wait time.Duration) *chat.Error {
	wait = max(wait, time.Second)
	e := chat.Errorf(http.StatusTooManyRequests, chat.TypeRateLimit,
		"too many failed authentication attempts from this address; retry after %s", fmt.Sprint(wait.Round(time.Second)))
	e.Code = "auth_rate_limited"
	e.RetryAfter = wait
	return e
}
