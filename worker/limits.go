package worker

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// limiter enforces per-key requests/min and tokens/min with token buckets
// refilled continuously (capacity = the per-minute limit), so a key can
// burst up to its limit and then runs at the limit's rate. Tokens are only
// known after a request, so the token bucket is charged afterwards and may
// go into debt; while in debt the key's next requests are refused.
type limiter struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*keyBuckets
	ops     int
}

type keyBuckets struct {
	reqs, toks    float64
	last          time.Time
	reqCap, tokCp float64
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, buckets: make(map[string]*keyBuckets)}
}

// refill tops both buckets up for the time passed. The caller holds mu.
func (b *keyBuckets) refill(now time.Time, l KeyLimits) {
	b.reqCap, b.tokCp = float64(l.RequestsPerMinute), float64(l.TokensPerMinute)
	dt := now.Sub(b.last).Minutes()
	if dt > 0 {
		b.reqs = min(b.reqs+dt*b.reqCap, b.reqCap)
		b.toks = min(b.toks+dt*b.tokCp, b.tokCp)
		b.last = now
	}
}

// admit takes one request from the key's budget, or says how long to wait.
func (l *limiter) admit(k *Key) *chat.Error {
	lim := k.Limits
	if lim.RequestsPerMinute <= 0 && lim.TokensPerMinute <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(k, now)
	b.refill(now, lim)
	if lim.RequestsPerMinute > 0 && b.reqs < 1 {
		return rateLimited("requests per minute", lim.RequestsPerMinute, time.Duration((1-b.reqs)/b.reqCap*float64(time.Minute)))
	}
	if lim.TokensPerMinute > 0 && b.toks <= 0 {
		return rateLimited("tokens per minute", lim.TokensPerMinute, time.Duration((1-b.toks)/b.tokCp*float64(time.Minute)))
	}
	if lim.RequestsPerMinute > 0 {
		b.reqs--
	}
	return nil
}

// charge takes a finished request's tokens from the key's budget.
func (l *limiter) charge(k *Key, tokens int) {
	if k.Limits.TokensPerMinute <= 0 || tokens <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(k, now)
	b.refill(now, k.Limits)
	b.toks -= float64(tokens)
}

// bucket finds or makes the key's buckets, full at first. Now and then it
// forgets keys idle long enough to have refilled completely, so memory
// follows the number of active keys. The caller holds mu.
func (l *limiter) bucket(k *Key, now time.Time) *keyBuckets {
	b := l.buckets[k.ID]
	if b == nil {
		b = &keyBuckets{reqs: float64(k.Limits.RequestsPerMinute), toks: float64(k.Limits.TokensPerMinute), last: now}
		l.buckets[k.ID] = b
	}
	if l.ops++; l.ops%4096 == 0 {
		for id, other := range l.buckets {
			if now.Sub(other.last) > 2*time.Minute && other.toks >= 0 {
				delete(l.buckets, id)
			}
		}
	}
	return b
}

func rateLimited(what string, limit int, wait time.Duration) *chat.Error {
	e := chat.Errorf(http.StatusTooManyRequests, chat.TypeRateLimit, "rate limit reached for this API key: %d %s; retry after %s", limit, what, wait.Round(time.Second).String())
	e.Code = "rate_limit_exceeded"
	e.RetryAfter = max(wait, time.Second)
	return e
}

// checkCredit refuses keys whose account has no credit or whose monthly
// spend cap is reached.
func (g *Gateway) checkCredit(k *Key) *chat.Error {
	if k.BalanceExhausted {
		msg := "your credit balance is exhausted"
		if g.cfg.TopUpURL != "" {
			msg += fmt.Sprintf("; add credits at %s", g.cfg.TopUpURL)
		}
		e := chat.Errorf(http.StatusPaymentRequired, chat.TypeInsufficient, "%s", msg)
		e.Code = "insufficient_credits"
		return e
	}
	if c := k.Limits.MonthlySpendCapMicros; c > 0 && k.MonthSpendMicros >= c {
		e := chat.Errorf(http.StatusPaymentRequired, chat.TypeInsufficient,
			"this API key has reached its monthly spend cap of $%s", dollars(c))
		e.Code = "spend_cap_reached"
		return e
	}
	return nil
}
