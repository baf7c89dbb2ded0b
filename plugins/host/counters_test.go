package host

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestCounters(t *testing.T) {
	c := newCounters()
	t0 := time.Unix(1_800_000_000, 0) // a multiple of 60
	steps := []struct {
		name        string
		tenant, key string
		delta       int64
		window      int32
		at          time.Duration
		want        int64
	}{
		{"first add", "a", "k", 1, 60, 0, 1},
		{"same window", "a", "k", 2, 60, 59 * time.Second, 3},
		{"read with 0", "a", "k", 0, 60, 59 * time.Second, 3},
		{"other tenant, same key", "b", "k", 1, 60, 59 * time.Second, 1},
		{"other window size, same key", "a", "k", 1, 3600, 59 * time.Second, 1},
		{"next window starts at 0", "a", "k", 5, 60, 60 * time.Second, 5},
		{"negative delta", "a", "k", -7, 60, 61 * time.Second, -2},
	}
	for _, s := range steps {
		if got := c.add(s.tenant, s.key, s.delta, s.window, t0.Add(s.at)); got != s.want {
			t.Errorf("%s: %d, want %d", s.name, got, s.want)
		}
	}
}

func TestCountersAreBounded(t *testing.T) {
	c := newCounters()
	t0 := time.Unix(1_800_000_000, 0)
	// A tenant at its cap: expired windows go first, then the window that
	// ends soonest.
	for i := range MaxCountersPerTenant {
		c.add("a", strconv.Itoa(i), 1, int32(60+i%2*3540), t0)
	}
	c.add("a", "fresh", 1, 60, t0.Add(2*time.Minute))
	if n := len(c.tenants["a"].m); n > MaxCountersPerTenant/2+1 {
		t.Errorf("%d counters after the one-minute windows expired", n)
	}
	for i := range MaxCountersPerTenant/2 + 10 {
		c.add("a", "more"+strconv.Itoa(i), 1, 86400, t0.Add(2*time.Minute))
	}
	if n := len(c.tenants["a"].m); n != MaxCountersPerTenant {
		t.Errorf("%d counters, want the cap %d", n, MaxCountersPerTenant)
	}
	// Tenants whose windows all ended are dropped by the periodic sweep.
	c.add("b", "k", 1, 1, t0.Add(3*time.Minute))
	c.add("a", "k", 1, 1, t0.Add(48*time.Hour))
	if _, ok := c.tenants["b"]; ok {
		t.Error("tenant b's expired counters were not swept")
	}
}

func TestCountersHammer(t *testing.T) {
	c := newCounters()
	now := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 1000 {
				c.add("tenant"+strconv.Itoa(g%2), "k", 1, 86400, now)
			}
		})
	}
	wg.Wait()
	for _, tenant := range []string{"tenant0", "tenant1"} {
		if got := c.add(tenant, "k", 0, 86400, now); got != 4000 {
			t.Errorf("%s: %d, want 4000", tenant, got)
		}
	}
}
