package worker

import (
	"fmt"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/internal/failguard"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// authGuard throttles failed authentication per client address. Each
// address has a bucket of AuthFailuresPerMinute failures, refilled
// continuously; an address whose bucket is empty gets 429 for every
// attempt, good key or bad, until it refills. Guessing keys from one
// address is thereby bounded, and a flood of made-up keys stops reaching
// the key resolver (and the control service behind it).
type authGuard struct {
	now     func() time.Time
	buckets *failguard.Buckets
}

func newAuthGuard(now func() time.Time, perMinute int) *authGuard {
	return &authGuard{now: now, buckets: failguard.New(perMinute, time.Minute)}
}

// blocked reports how long ip must wait, if its failures are used up.
func (a *authGuard) blocked(ip string) (time.Duration, bool) {
	w := a.buckets.Wait(ip, a.now())
	return w, w > 0
}

// failed charges one failure to ip.
func (a *authGuard) failed(ip string) { a.buckets.Fail(ip, a.now()) }

func authThrottled(wait time.Duration) *chat.Error {
	wait = max(wait, time.Second)
	e := chat.Errorf(http.StatusTooManyRequests, chat.TypeRateLimit,
		"too many failed authentication attempts from this address; retry after %s", fmt.Sprint(wait.Round(time.Second)))
	e.Code = "auth_rate_limited"
	e.RetryAfter = wait
	return e
}
