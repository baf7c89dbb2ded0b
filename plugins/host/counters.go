package host

import (
	"sync"
	"time"
)

// MaxCountersPerTenant bounds the live counters one tenant holds in a Host
// (plugins/ABI.md). Past it the counter whose window ends first is dropped,
// so a tenant flooding keys only hurts its own counters.
const MaxCountersPerTenant = 10000

// sweepEvery is how often expired windows of all tenants are dropped, so
// tenants that stopped calling do not keep memory.
const sweepEvery = time.Minute

// counters holds sy.counter_add state: fixed windows aligned to the Unix
// epoch, so every edge agrees on where a day starts.
type counters struct {
	mu        sync.Mutex
	tenants   map[string]*tenantCounters
	nextSweep int64
}

// tenantCounters has its own lock so tenants do not contend with each other.
type tenantCounters struct {
	mu sync.Mutex
	m  map[counterID]counter
}

type counterID struct {
	key    string
	window int32
}

type counter struct {
	end   int64 // Unix second the window closes
	value int64
}

func newCounters() *counters {
	return &counters{tenants: map[string]*tenantCounters{}}
}

func (c *counters) add(tenant, key string, delta int64, window int32, now time.Time) int64 {
	sec := now.Unix()
	c.mu.Lock()
	if sec >= c.nextSweep {
		c.nextSweep = sec + int64(sweepEvery/time.Second)
		c.sweepLocked(sec)
	}
	tc := c.tenants[tenant]
	if tc == nil {
		tc = &tenantCounters{m: map[counterID]counter{}}
		c.tenants[tenant] = tc
	}
	tc.mu.Lock()
	c.mu.Unlock()
	defer tc.mu.Unlock()

	id := counterID{key, window}
	w := int64(window)
	end := sec - sec%w + w
	e, ok := tc.m[id]
	if !ok && len(tc.m) >= MaxCountersPerTenant {
		tc.makeRoom(sec)
	}
	if e.end != end {
		e = counter{end: end}
	}
	e.value += delta
	tc.m[id] = e
	return e.value
}

// makeRoom drops expired windows, or else the one that ends first.
func (tc *tenantCounters) makeRoom(sec int64) {
	if tc.dropExpired(sec) > 0 {
		return
	}
	var first counterID
	firstEnd := int64(-1)
	for id, e := range tc.m {
		if firstEnd < 0 || e.end < firstEnd {
			first, firstEnd = id, e.end
		}
	}
	delete(tc.m, first)
}

func (tc *tenantCounters) dropExpired(sec int64) int {
	n := 0
	for id, e := range tc.m {
		if e.end <= sec {
			delete(tc.m, id)
			n++
		}
	}
	return n
}

func (c *counters) sweepLocked(sec int64) {
	for t, tc := range c.tenants {
		tc.mu.Lock()
		tc.dropExpired(sec)
		empty := len(tc.m) == 0
		tc.mu.Unlock()
		if empty {
			delete(c.tenants, t)
		}
	}
}
