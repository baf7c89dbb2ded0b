package host

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// tenantSlots bounds how many plugin calls of one tenant run at once, to
// GOMAXPROCS-1 (at least 1). A plugin that spins until its deadline holds
// a CPU for the whole deadline; without a bound, one tenant's burst of
// such calls would hold every CPU and push other tenants' calls, and the
// timers that end the spinning ones, past their deadlines.
type tenantSlots struct {
	size int
	mu   sync.Mutex
	m    map[string]*slot
}

type slot struct {
	ch    chan struct{}
	users int // holders and waiters; the slot is dropped at 0
}

func newTenantSlots() *tenantSlots {
	return &tenantSlots{size: max(1, runtime.GOMAXPROCS(0)-1), m: map[string]*slot{}}
}

// acquire waits up to wait for one of tenant's slots.
func (t *tenantSlots) acquire(ctx context.Context, tenant string, wait time.Duration) (release func(), err error) {
	t.mu.Lock()
	s := t.m[tenant]
	if s == nil {
		s = &slot{ch: make(chan struct{}, t.size)}
		t.m[tenant] = s
	}
	s.users++
	t.mu.Unlock()
	release = func() {
		<-s.ch
		t.leave(tenant, s)
	}
	select {
	case s.ch <- struct{}{}:
		return release, nil
	default:
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case s.ch <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		err = &CallError{Kind: KindTimeout, Detail: "the request was cancelled while waiting for the tenant's other plugin calls"}
	case <-timer.C:
		err = &CallError{Kind: KindTimeout, Detail: "the tenant's other plugin calls kept every slot busy past the deadline"}
	}
	t.leave(tenant, s)
	return nil, err
}

func (t *tenantSlots) leave(tenant string, s *slot) {
	t.mu.Lock()
	if s.users--; s.users == 0 {
		delete(t.m, tenant)
	}
	t.mu.Unlock()
}
