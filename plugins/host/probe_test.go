package host_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// The Go probe (testdata/hostile) is compiled once per test binary into one
// Host that every test needing a Go runtime shares: compiling a Go module
// takes a second, and ten under -race. Tests that share it use their own
// tenants, since counters, instances and log budgets are per tenant.
var probe struct {
	once  sync.Once
	h     *host.Host
	p     *host.Plugin
	wasm  []byte
	clock testClock
	logs  logRecords
}

// probeTimeout is generous: these tests check behaviour, and a Go runtime
// filling its memory spends long in its collector.
const probeTimeout = time.Second

func goProbe(t *testing.T) *host.Plugin {
	t.Helper()
	probe.once.Do(func() {
		probe.wasm = plugintest.Build(t, "testdata/hostile")
		probe.clock.Set(time.Unix(1_800_000_000, 0))
		var err error
		probe.h, err = host.New(context.Background(), host.Config{
			CacheDir:       plugintest.CacheDir(),
			MaxMemoryPages: 160,
			CallTimeout:    probeTimeout,
			Now:            probe.clock.Now,
			Logger:         slog.New(&probe.logs),
		})
		if err != nil {
			t.Fatal(err)
		}
		if probe.p, err = probe.h.Load(context.Background(), probe.wasm); err != nil {
			t.Fatal(err)
		}
	})
	if probe.p == nil {
		t.Fatal("the Go probe did not load")
	}
	return probe.p
}

// testClock is a clock the tests set; the host reads it from its calls.
type testClock struct{ unixNano atomic.Int64 }

func (c *testClock) Now() time.Time  { return time.Unix(0, c.unixNano.Load()) }
func (c *testClock) Set(t time.Time) { c.unixNano.Store(t.UnixNano()) }

// logRecords keeps what the host logs, for tests to read by attribute.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// take returns the records so far, each as its level and attributes, and
// forgets them.
func (l *logRecords) take() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]map[string]string, len(l.records))
	for i, r := range l.records {
		m := map[string]string{"level": r.Level.String(), "msg": r.Message}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out[i] = m
	}
	l.records = nil
	return out
}
