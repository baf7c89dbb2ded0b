package pluginrun_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/pluginrun"
)

// store serves modules by hash, as the control service does, and counts
// fetches. It can serve wrong bytes for a hash, which a runner must refuse.
type store struct {
	mu      sync.Mutex
	modules map[string][]byte
	fetches map[string]int
}

func hashOf(module []byte) string {
	sum := sha256.Sum256(module)
	return hex.EncodeToString(sum[:])
}

func (s *store) add(module []byte) string {
	h := hashOf(module)
	s.put(h, module)
	return h
}

func (s *store) put(hash string, module []byte) {
	s.mu.Lock()
	s.modules[hash] = module
	s.mu.Unlock()
}

func (s *store) Plugin(ctx context.Context, hash string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches[hash]++
	m, ok := s.modules[hash]
	if !ok {
		return nil, errors.New("404 plugin not found")
	}
	return m, nil
}

func (s *store) count(hash string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[hash]
}

var quiet = slog.New(slog.DiscardHandler)

func newStore() *store { return &store{modules: map[string][]byte{}, fetches: map[string]int{}} }

func tagged(v string) []byte {
	return wasmtest.Decision(`{"action":"route","tags":{"v":"` + v + `"}}`)
}

func route(t *testing.T, r *pluginrun.Runner, hash string) (*abi.RouteDecision, error) {
	t.Helper()
	return routeFor(r, hash, "acct_test")
}

func routeFor(r *pluginrun.Runner, hash, tenant string) (*abi.RouteDecision, error) {
	return r.Route(context.Background(), hash, tenant, host.SampleRequest())
}

func TestRunnerLoadsOnceAndEvicts(t *testing.T) {
	st := newStore()
	a, b, c := st.add(tagged("a")), st.add(tagged("b")), st.add(tagged("c"))
	r := pluginrun.New(controltest.PluginHost(t), st, pluginrun.Options{MaxLoaded: 2})
	t.Cleanup(func() { r.Close(context.Background()) })

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, err := route(t, r, a); err != nil || d.Tags["v"] != "a" {
				t.Errorf("route a = %+v, %v", d, err)
			}
		}()
	}
	wg.Wait()
	if n := st.count(a); n != 1 {
		t.Fatalf("20 concurrent first requests fetched %d times, want 1", n)
	}
	for _, h := range []string{b, c, a} {
		if _, err := route(t, r, h); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.count(a); n != 2 {
		t.Fatalf("a was fetched %d times; with room for two it should have been evicted by b and c", n)
	}
	if _, err := route(t, r, c); err != nil || st.count(c) != 1 {
		t.Fatalf("c, recently used, was fetched again: %d, %v", st.count(c), err)
	}
}

func TestRunnerFailures(t *testing.T) {
	st := newStore()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	r := pluginrun.New(controltest.PluginHost(t), st, pluginrun.Options{RetryAfter: time.Minute, Logger: quiet,
		Now: func() time.Time { return *clock.Load() }})
	t.Cleanup(func() { r.Close(context.Background()) })
	kind := func(err error) string {
		var pe *worker.PluginError
		if !errors.As(err, &pe) {
			return fmt.Sprintf("not a PluginError: %v", err)
		}
		return pe.Kind
	}

	late := tagged("late")
	missing := hashOf(late)
	for range 3 {
		if _, err := route(t, r, missing); kind(err) != worker.PluginUnavailable {
			t.Fatalf("missing module: %v", err)
		}
	}
	if n := st.count(missing); n != 1 {
		t.Fatalf("a missing module was fetched %d times within RetryAfter, want 1", n)
	}
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	st.put(missing, late)
	if _, err := route(t, r, missing); err != nil || st.count(missing) != 2 {
		t.Fatalf("after RetryAfter: %v, %d fetches", err, st.count(missing))
	}

	forged := fmt.Sprintf("%064x", 2)
	st.put(forged, tagged("forged"))
	if _, err := route(t, r, forged); kind(err) != worker.PluginUnavailable {
		t.Fatalf("bytes that do not match their hash: %v", err)
	}

	trap := st.add(wasmtest.Module{Route: wasmtest.Trap}.Bytes())
	if _, err := route(t, r, trap); kind(err) != host.KindTrap {
		t.Fatalf("trapping module: %v", err)
	}
}

// TestRunnerHammer routes many requests over more modules than stay
// loaded, so modules are evicted while calls run on them; every call must
// still succeed (run with -race). Each goroutine is its own tenant: the
// host deliberately queues one tenant's concurrent calls, which is not
// what this test is about.
func TestRunnerHammer(t *testing.T) {
	st := newStore()
	var hashes []string
	for i := range 4 {
		hashes = append(hashes, st.add(tagged(fmt.Sprint(i))))
	}
	r := pluginrun.New(controltest.PluginHost(t), st, pluginrun.Options{MaxLoaded: 1})
	t.Cleanup(func() { r.Close(context.Background()) })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				h := hashes[(g+i)%len(hashes)]
				d, err := routeFor(r, h, fmt.Sprintf("acct_%d", g))
				if err != nil || d.Tags["v"] != fmt.Sprint((g+i)%len(hashes)) {
					t.Errorf("route = %+v, %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
