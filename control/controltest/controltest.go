// Package controltest helps tests of the control service: a clock tests
// move by hand, and stores and services on real database files.
package controltest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/libsql"
	"github.com/switchyard-ai/switchyard/control/pluginhost"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// Clock is a control.Clock that moves only when told. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ control.Clock = (*Clock)(nil)

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Epoch is where test clocks start: a Monday, mid-month, mid-morning UTC.
var Epoch = time.Date(2026, 3, 16, 9, 30, 0, 0, time.UTC)

// FastPasswords keeps argon2id's shape but not its cost, so tests that sign
// up many accounts stay quick. Never use it outside tests.
var FastPasswords = control.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

// DBPath returns a fresh database file path under tb's temporary directory.
func DBPath(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "switchyard.db")
}

// OpenStore opens the database file at path, closing it when tb ends.
func OpenStore(tb testing.TB, path string) *libsql.Store {
	tb.Helper()
	st, err := libsql.Open(context.Background(), "file:"+filepath.ToSlash(path), libsql.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// PluginCallTimeout is the plugin call deadline in tests. The native
// edge's 10ms is too close to the scheduling delays of a loaded test
// machine (-race, packages in parallel, the interpreter): a 2 MB Go
// plugin's call took over 250 ms in a CI run. A plugin that never returns
// still meets this deadline.
const PluginCallTimeout = time.Second

// PluginHost starts a plugin host with the native edge's size and memory
// limits, closed when tb ends. It interprets, as the Workers edge does:
// under -race wazero's compiler takes about 17 s over a 2 MB Go plugin,
// the interpreter about 1 s. plugins/host's own tests cover the compiler.
// Calls get PluginCallTimeout.
func PluginHost(tb testing.TB) *host.Host {
	tb.Helper()
	h, err := host.New(context.Background(), host.Config{Interpreter: true, CallTimeout: PluginCallTimeout})
	if err != nil {
		tb.Fatalf("plugin host: %v", err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// OneDollarModel costs $1 per million input tokens, so a request's input
// tokens are its cost in micro-dollars: handy for exact ledger arithmetic.
const OneDollarModel = "test/one-dollar"

// Catalog is the default catalog plus OneDollarModel.
func Catalog() []control.Model {
	return append(control.DefaultCatalog(), control.Model{ID: OneDollarModel, InputPrice: 1_000_000, OutputPrice: 1_000_000})
}

// NewService starts a Service over st with clock, fast passwords, Catalog,
// a real plugin validator (PluginHost) and an encryption keyring
// (Keyring), as `switchyard control` requires one.
func NewService(tb testing.TB, st control.Store, clock control.Clock) *control.Service {
	tb.Helper()
	svc := control.NewService(st, control.Config{Clock: clock, Password: FastPasswords, Catalog: Catalog(),
		Plugins: pluginhost.NewValidator(PluginHost(tb)), Keyring: Keyring(tb)})
	if err := svc.Start(context.Background()); err != nil {
		tb.Fatalf("start service: %v", err)
	}
	return svc
}

// Keyring returns a keyring with one fixed test key, id "test".
func Keyring(tb testing.TB) *control.Keyring {
	tb.Helper()
	kr, err := control.NewKeyring(map[string][]byte{"test": []byte("switchyard-test-key-32-bytes-pad")}, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}
