package worker_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// An address that keeps presenting bad keys is refused with 429 once it
// has used up its failures, for good keys too, before anything is looked
// up; it may try again once its allowance refills. Other addresses are not
// affected, and a control service that cannot answer is no failure.
func TestFailedAuthThrottledPerAddress(t *testing.T) {
	onBothAdapters(t, func(t *testing.T, native bool) {
		clock := &testClock{t: time.Now()}
		env := edgetest.Start(t, edgetest.Options{Native: native, Modify: func(c *worker.Config) {
			c.Now = clock.Now
			c.AuthFailuresPerMinute = 5
		}})
		for i := range 5 {
			if r := post(t, env, "/v1/chat/completions", "sk-guess-"+strings.Repeat("x", i), chatBody); r.status != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d %s, want 401", i, r.status, r.body)
			}
		}
		r := post(t, env, "/v1/chat/completions", edgetest.Key, chatBody)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "auth_rate_limited") || r.header.Get("Retry-After") == "" {
			t.Fatalf("after five failures, even a good key: %d %s (Retry-After %q), want 429 auth_rate_limited", r.status, r.body, r.header.Get("Retry-After"))
		}
		// Anthropic-style clients get the refusal in their format.
		r = post(t, env, "/v1/messages", edgetest.Key, `{"model":"openai/gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"type":"rate_limit_error"`) {
			t.Fatalf("messages route while throttled: %d %s", r.status, r.body)
		}
		clock.Advance(13 * time.Second) // one failure's worth at 5/min
		if r := post(t, env, "/v1/chat/completions", edgetest.Key, chatBody); r.status != http.StatusOK {
			t.Fatalf("after the allowance refilled: %d %s", r.status, r.body)
		}
	})
}

// With the limit off, failures are never throttled.
func TestFailedAuthThrottleOff(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Modify: func(c *worker.Config) { c.AuthFailuresPerMinute = -1 }})
	for i := range 40 {
		if r := post(t, env, "/v1/chat/completions", "sk-guess", chatBody); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401 with the throttle off", i, r.status)
		}
	}
}
