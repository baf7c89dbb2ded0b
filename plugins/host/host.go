// Package host runs tenant routing plugins (plugins/ABI.md) in wazero, the
// same way on the native edge, on the Workers edge (GOOS=js, interpreter
// only), in the control service's upload check and in `switchyard plugin
// test`, so that what passes one passes them all.
//
// A Host owns one wazero runtime. Modules are compiled once per content
// hash; instances are pooled per plugin and never shared between tenants; a
// call runs under a deadline, a memory cap and a sandboxed WASI with no
// files, environment, arguments or sockets.
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// Config sets a Host's limits. The zero value gives the native edge's
// limits from ABI.md.
type Config struct {
	// MaxModuleBytes refuses larger modules at Load. Default 16 MiB.
	MaxModuleBytes int64
	// MaxMemoryPages caps each instance's linear memory, in 64 KiB pages.
	// Modules that declare a larger minimum or maximum are refused.
	// Default 512 (32 MiB).
	MaxMemoryPages uint32
	// CallTimeout bounds one Route call (sy_alloc, sy_route, sy_free).
	// Default 10ms.
	CallTimeout time.Duration
	// InitTimeout bounds instantiation, including `_initialize`, which for a
	// Go plugin starts its runtime and is slower than a call. Default 1s.
	InitTimeout time.Duration
	// Fuel bounds the work of one Route call (sy_alloc, sy_route, sy_free)
	// in fuel units, about bytes of WebAssembly code run (fuel.go); a call
	// that uses it up fails as a KindTimeout. It stops a spinning plugin
	// where the deadline cannot: on GOOS=js nothing preempts the
	// interpreter to enforce it. Default: DefaultFuel on GOOS=js, off
	// elsewhere, where the deadline suffices. Negative turns it off.
	Fuel int64
	// InitFuel bounds instantiation (a start function and `_initialize`)
	// the same way when Fuel is on. Default DefaultInitFuel.
	InitFuel int64
	// Interpreter forces wazero's interpreter. It is always used when
	// GOOS=js, where the compiler is unavailable; elsewhere the default is
	// the compiler wherever wazero supports one.
	Interpreter bool
	// CacheDir keeps compiled code on disk so that a restart does not
	// compile again. Default "": compiled code lives in memory only.
	CacheDir string
	// PoolSize is how many idle instances each plugin keeps, across its
	// tenants. Default 2*GOMAXPROCS.
	PoolSize int
	// Logger receives plugin log lines (sy.log) with the tenant, the plugin
	// hash and the level, rate-limited as ABI.md says. Default: discarded.
	Logger *slog.Logger
	// Now is the clock behind sy.now_ms, counter windows and the WASI wall
	// clock. Default time.Now.
	Now func() time.Time
}

// Fuel budgets: about a hundred times what the AssemblyScript examples use
// per call and to start (plugins/RATIONALE.md has the figures).
const (
	DefaultFuel     = 10_000_000
	DefaultInitFuel = 10_000_000
)

func (c Config) withDefaults() Config {
	if c.MaxModuleBytes <= 0 {
		c.MaxModuleBytes = abi.NativeMaxModuleBytes
	}
	if c.MaxMemoryPages == 0 {
		c.MaxMemoryPages = abi.NativeMaxMemoryPages
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = abi.CallDeadlineMs * time.Millisecond
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = time.Second
	}
	if runtime.GOOS == "js" {
		c.Interpreter = true
		if c.Fuel == 0 {
			c.Fuel = DefaultFuel
		}
	}
	switch {
	case c.Fuel <= 0:
		c.Fuel, c.InitFuel = 0, 0
	case c.InitFuel <= 0:
		c.InitFuel = DefaultInitFuel
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Host compiles and runs plugins. It is safe for concurrent use.
type Host struct {
	cfg      Config
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	modCfg   wazero.ModuleConfig
	offers   map[string]signature // what plugins may import, by "module.name"
	counters *counters
	slots    *tenantSlots

	mu      sync.Mutex
	plugins map[string]*loading
	closed  bool
}

// loading lets concurrent Loads of the same bytes wait for one compile.
type loading struct {
	done chan struct{}
	p    *Plugin
	err  error
}

// New starts a wazero runtime with the sy and WASI host modules.
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	// Closing on context done is what enforces the deadline; guard.go
	// covers the code it would miss, and plugins/RATIONALE.md what it
	// costs. The memory cap is not wazero's page limit but linearMemory's,
	// which notices refused grows; Load checks declared sizes against it.
	rc = rc.WithCloseOnContextDone(true).
		// Plugin stack traces are never shown to anyone, and DWARF costs
		// compile time and memory.
		WithDebugInfoEnabled(false)
	h := &Host{cfg: cfg, plugins: map[string]*loading{}, counters: newCounters(), slots: newTenantSlots()}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", cfg.CacheDir, err)
		}
		h.cache = c
		rc = rc.WithCompilationCache(c)
	}
	h.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := h.instantiateImports(ctx); err != nil {
		return nil, errors.Join(err, h.Close(ctx))
	}
	h.modCfg = wazero.NewModuleConfig().
		WithName("").
		// instantiate calls `_initialize` itself, once the fuel counter
		// can be read.
		WithStartFunctions().
		WithWalltime(h.walltime, sys.ClockResolution(time.Millisecond)).
		WithSysNanotime().
		WithRandSource(rand.Reader)
	return h, nil
}

func (h *Host) walltime() (int64, int32) {
	t := h.cfg.Now()
	return t.Unix(), int32(t.Nanosecond())
}

func (h *Host) instantiateImports(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.rt); err != nil {
		return fmt.Errorf("plugin host: WASI: %w", err)
	}
	h.offers = map[string]signature{}
	for name, d := range h.rt.Module(abi.WASIModule).ExportedFunctionDefinitions() {
		h.offers[abi.WASIModule+"."+name] = signature{d.ParamTypes(), d.ResultTypes()}
	}
	b := h.rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range syImports {
		b.NewFunctionBuilder().WithGoModuleFunction(f.bind(h), f.params, f.results).Export(f.name)
		h.offers[abi.ImportModule+"."+f.name] = signature{f.params, f.results}
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("plugin host: sy imports: %w", err)
	}
	return nil
}

// Close releases every plugin and the runtime. Calls in flight fail.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	var ps []*Plugin
	for _, l := range h.plugins {
		select {
		case <-l.done:
			if l.p != nil {
				ps = append(ps, l.p)
			}
		default:
		}
	}
	h.plugins = map[string]*loading{}
	h.mu.Unlock()
	for _, p := range ps {
		p.release(ctx)
	}
	var errs []error
	if h.rt != nil {
		errs = append(errs, h.rt.Close(ctx))
	}
	if h.cache != nil {
		errs = append(errs, h.cache.Close(ctx))
	}
	return errors.Join(errs...)
}
