package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// Plugin is a compiled module with its pool of idle instances.
type Plugin struct {
	h        *Host
	hash     string
	size     int
	compiled wazero.CompiledModule
	imports  []string
	hasFree  bool

	refs int // guarded by h.mu

	mu     sync.Mutex
	idle   []*instance // oldest first
	closed bool

	logMu sync.Mutex
	logs  map[string]logWindow // by tenant

	peakPages   atomic.Uint32
	peakFuel    atomic.Int64
	releaseOnce sync.Once
}

// Hash is the hex SHA-256 of the module's bytes, the name the control
// service and the edge use for it.
func (p *Plugin) Hash() string { return p.hash }

// PeakMemoryPages is the largest linear memory, in 64 KiB pages, that any
// instance of this plugin has had after a successful call.
func (p *Plugin) PeakMemoryPages() uint32 { return p.peakPages.Load() }

// PeakFuel is the most fuel (Config.Fuel) that any successful call of this
// plugin has used; 0 when fuel is off.
func (p *Plugin) PeakFuel() int64 { return p.peakFuel.Load() }

// Close gives back one Load's hold on the plugin; the last one releases its
// compiled code and instances. Calls in flight finish first.
func (p *Plugin) Close(ctx context.Context) error {
	h := p.h
	h.mu.Lock()
	if p.refs == 0 {
		h.mu.Unlock()
		return nil
	}
	p.refs--
	last := p.refs == 0
	if last {
		if l := h.plugins[p.hash]; l != nil && l.p == p {
			delete(h.plugins, p.hash)
		}
	}
	h.mu.Unlock()
	if last {
		return p.release(ctx)
	}
	return nil
}

func (p *Plugin) release(ctx context.Context) error {
	var err error
	p.releaseOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, inst := range idle {
			inst.close()
		}
		err = p.compiled.Close(ctx)
	})
	return err
}

// Route runs the plugin on one request of tenant.
//
// # Errors
//
// A failure inside the plugin is a *CallError, and the instance it happened
// in is discarded. Other errors (an empty tenant, a request over ABI.md's
// size limit, a closed plugin) are plain.
func (p *Plugin) Route(ctx context.Context, tenant string, req *abi.RouteRequest) (*abi.RouteDecision, error) {
	if tenant == "" {
		return nil, errors.New("plugin route: no tenant")
	}
	buf := requestBuffers.Get().(*[]byte)
	defer putRequestBuffer(buf)
	in, err := appendRequest((*buf)[:0], req)
	if err != nil {
		return nil, fmt.Errorf("plugin route: encoding the request: %w", err)
	}
	*buf = in
	if len(in) > abi.MaxRequestBytes {
		return nil, fmt.Errorf("plugin route: the request is %s, over the %s limit", byteSize(int64(len(in))), byteSize(abi.MaxRequestBytes))
	}
	release, err := p.h.slots.acquire(ctx, tenant, p.h.cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	defer release()
	inst, err := p.take(ctx, tenant)
	if err != nil {
		return nil, err
	}
	callCtx, cancel := context.WithTimeout(withCall(ctx, &callState{tenant, p}), p.h.cfg.CallTimeout)
	d, err := p.call(callCtx, inst, in)
	cancel()
	if err != nil {
		inst.close()
		return nil, err
	}
	p.give(inst)
	return d, nil
}

// instance is one instantiation, bound to the tenant it first served so
// that module globals never carry one tenant's data to another.
type instance struct {
	tenant             string
	mod                api.Module
	mem                api.Memory
	alloc, route, free api.Function
	stack              [2]uint64
	linear             *linearMemory
	fuel               api.MutableGlobal // nil when fuel is off
}

func (p *Plugin) take(ctx context.Context, tenant string) (*instance, error) {
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if inst := p.idle[i]; inst.tenant == tenant {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.mu.Unlock()
			return inst, nil
		}
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errors.New("plugin route: the plugin is closed")
	}
	return p.instantiate(ctx, tenant)
}

func (p *Plugin) give(inst *instance) {
	pages := inst.mem.Size() / 65536
	for old := p.peakPages.Load(); pages > old && !p.peakPages.CompareAndSwap(old, pages); old = p.peakPages.Load() {
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		inst.close()
		return
	}
	p.idle = append(p.idle, inst)
	var evict *instance
	if len(p.idle) > p.h.cfg.PoolSize {
		evict = p.idle[0]
		p.idle = slices.Delete(p.idle, 0, 1)
	}
	p.mu.Unlock()
	if evict != nil {
		evict.close()
	}
}

func (p *Plugin) instantiate(ctx context.Context, tenant string) (*instance, error) {
	inst := &instance{tenant: tenant}
	ctx, cancel := context.WithTimeout(withCall(ctx, &callState{tenant, p}), p.h.cfg.InitTimeout)
	defer cancel()
	ctx = experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		inst.linear = &linearMemory{buf: make([]byte, 0, capacity), limit: uint64(p.h.cfg.MaxMemoryPages) * 65536}
		return inst.linear
	}))
	mod, err := p.h.rt.InstantiateModule(ctx, p.compiled, p.h.modCfg)
	if err != nil {
		return nil, p.callError(inst, err, p.h.cfg.InitTimeout, p.h.cfg.InitFuel)
	}
	inst.mod = mod
	if p.h.cfg.Fuel > 0 {
		inst.fuel = mod.ExportedGlobal(fuelExport).(api.MutableGlobal)
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if _, err := init.Call(ctx); err != nil {
			ce := p.callError(inst, err, p.h.cfg.InitTimeout, p.h.cfg.InitFuel)
			inst.close()
			return nil, ce
		}
	}
	inst.mem = mod.Memory()
	inst.alloc = mod.ExportedFunction(abi.ExportAlloc)
	inst.route = mod.ExportedFunction(abi.ExportRoute)
	if p.hasFree {
		inst.free = mod.ExportedFunction(abi.ExportFree)
	}
	return inst, nil
}

func (inst *instance) close() {
	// The caller's context may be done already; closing must still happen.
	_ = inst.mod.Close(context.Background())
}

func (inst *instance) abiVersion(ctx context.Context, timeout time.Duration, fuel int64) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inst.refuel(fuel)
	res, err := inst.mod.ExportedFunction(abi.ExportABIVersion).Call(ctx)
	if err != nil {
		return 0, err
	}
	return uint32(res[0]), nil
}

// call is one round of the calling convention in ABI.md.
func (p *Plugin) call(ctx context.Context, inst *instance, in []byte) (*abi.RouteDecision, error) {
	inst.linear.refused = false // a module may have survived an earlier refusal
	inst.refuel(p.h.cfg.Fuel)
	s := inst.stack[:]
	s[0] = uint64(len(in))
	if err := inst.alloc.CallWithStack(ctx, s); err != nil {
		return nil, p.callError(inst, err, p.h.cfg.CallTimeout, p.h.cfg.Fuel)
	}
	inPtr := uint32(s[0])
	if inPtr == 0 {
		return nil, &CallError{Kind: KindAlloc, Detail: fmt.Sprintf("%s(%d) returned 0", abi.ExportAlloc, len(in))}
	}
	if !inst.mem.Write(inPtr, in) {
		return nil, &CallError{Kind: KindAlloc, Detail: fmt.Sprintf("%s(%d) returned %d, which is outside memory", abi.ExportAlloc, len(in), inPtr)}
	}
	s[0], s[1] = uint64(inPtr), uint64(len(in))
	if err := inst.route.CallWithStack(ctx, s); err != nil {
		return nil, p.callError(inst, err, p.h.cfg.CallTimeout, p.h.cfg.Fuel)
	}
	outPtr, outLen := uint32(s[0]>>32), uint32(s[0])
	if outLen > abi.MaxDecisionBytes {
		return nil, &CallError{Kind: KindInvalidOutput, Detail: fmt.Sprintf("the decision is %s, over the %s limit", byteSize(int64(outLen)), byteSize(abi.MaxDecisionBytes))}
	}
	out, ok := inst.mem.Read(outPtr, outLen)
	if !ok {
		return nil, &CallError{Kind: KindInvalidOutput, Detail: fmt.Sprintf("the decision at %d (%d bytes) is outside memory", outPtr, outLen)}
	}
	d, err := decodeDecision(out)
	if err != nil {
		return nil, &CallError{Kind: KindInvalidOutput, Detail: err.Error()}
	}
	if inst.free != nil {
		for _, buf := range [][2]uint64{{uint64(inPtr), uint64(len(in))}, {uint64(outPtr), uint64(outLen)}} {
			s[0], s[1] = buf[0], buf[1]
			if err := inst.free.CallWithStack(ctx, s); err != nil {
				return nil, p.callError(inst, err, p.h.cfg.CallTimeout, p.h.cfg.Fuel)
			}
		}
	}
	if inst.fuel != nil {
		used := p.h.cfg.Fuel - int64(inst.fuel.Get())
		for old := p.peakFuel.Load(); used > old && !p.peakFuel.CompareAndSwap(old, used); old = p.peakFuel.Load() {
		}
	}
	return d, nil
}

// refuel sets the instance's fuel counter to budget before a call.
func (inst *instance) refuel(budget int64) {
	if inst.fuel != nil {
		inst.fuel.Set(uint64(budget))
	}
}

// decodeDecision refuses unknown fields so that a misspelt field fails
// loudly instead of silently routing as if it were absent.
func decodeDecision(b []byte) (*abi.RouteDecision, error) {
	d, ok := decodePlain(b)
	if !ok {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		d = &abi.RouteDecision{}
		if err := dec.Decode(d); err != nil {
			return nil, fmt.Errorf("the decision is not a valid RouteDecision: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("the decision has data after its JSON object")
		}
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("the decision breaks ABI.md: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return d, nil
}

// callError names what went wrong in plain words. Running out of fuel is
// a timeout, the same limit counted another way. A failure after a refused
// memory.grow is reported as memory, whatever form it took.
func (p *Plugin) callError(inst *instance, err error, timeout time.Duration, fuel int64) *CallError {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return &CallError{Kind: KindTimeout, Detail: fmt.Sprintf("the plugin ran past its %s deadline", timeout)}
		case sys.ExitCodeContextCanceled:
			return &CallError{Kind: KindTimeout, Detail: "the request was cancelled while the plugin ran"}
		}
	}
	if inst.fuel != nil && int64(inst.fuel.Get()) < 0 {
		return &CallError{Kind: KindTimeout, Detail: fmt.Sprintf("the plugin used up its fuel (%d units, about as many bytes of code run)", fuel)}
	}
	if inst.linear != nil && inst.linear.refused {
		return &CallError{Kind: KindMemory, Detail: fmt.Sprintf("the plugin ran out of memory (cap %d pages, %s)", p.h.cfg.MaxMemoryPages, byteSize(int64(p.h.cfg.MaxMemoryPages)*65536))}
	}
	if exit != nil {
		return &CallError{Kind: KindExit, Detail: fmt.Sprintf("the plugin exited with code %d", exit.ExitCode())}
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return &CallError{Kind: KindTrap, Detail: first}
}

// logWindow counts one tenant's log lines in the current second.
type logWindow struct {
	sec int64
	n   int
}

func (p *Plugin) logAllowed(tenant string, sec int64) bool {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if p.logs == nil {
		p.logs = map[string]logWindow{}
	}
	w := p.logs[tenant]
	if w.sec != sec {
		if len(p.logs) > 256 {
			for t, old := range p.logs {
				if old.sec != sec {
					delete(p.logs, t)
				}
			}
		}
		w = logWindow{sec: sec}
	}
	if w.n >= abi.LogLinesPerSecond {
		return false
	}
	w.n++
	p.logs[tenant] = w
	return true
}
