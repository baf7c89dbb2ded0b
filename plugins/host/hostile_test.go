package host_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	wt "github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

const routeOK = `{"action":"route"}`

// Modules that break ABI.md are refused at Load, and so at upload, with a
// reason a tenant can act on.
func TestLoadRefuses(t *testing.T) {
	spin := wt.Code([]byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd})
	huge := make([]byte, 16<<20+1)
	copy(huge, "\x00asm\x01\x00\x00\x00")
	for _, c := range []struct {
		name   string
		wasm   []byte
		reason string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "not a WebAssembly module"},
		{"empty", nil, "not a WebAssembly module"},
		{"magic and nothing else", []byte("\x00asm"), "not valid WebAssembly"},
		{"too large", huge, "is 16.0 MiB, over the 16.0 MiB limit"},
		{"truncated", tinyPlugin(routeOK).Bytes()[:40], "not valid WebAssembly"},
		{"missing sy_route", tinyPlugin(routeOK).Without("sy_route").Bytes(), "does not export sy_route (i32, i32) -> (i64)"},
		{"missing sy_alloc", tinyPlugin(routeOK).Without("sy_alloc").Bytes(), "does not export sy_alloc"},
		{"missing sy_abi_version", tinyPlugin(routeOK).Without("sy_abi_version").Bytes(), "does not export sy_abi_version"},
		{"memory not exported", func() []byte { m := tinyPlugin(routeOK); m.ExportMemory = false; return m.Bytes() }(), `does not export its memory as "memory"`},
		{"mistyped export", tinyPlugin(routeOK).With(wt.Func{Name: "sy_route", Params: []byte{wt.TypeI32}, Results: []byte{wt.TypeI64}, Body: wt.I64(0)}).Bytes(),
			"exports sy_route as (i32) -> (i64); ABI.md says (i32, i32) -> (i64)"},
		{"wrong ABI version", tinyPlugin(routeOK).With(wt.Func{Name: "sy_abi_version", Results: []byte{wt.TypeI32}, Body: wt.I32(2)}).Bytes(),
			"sy_abi_version returned 2; this host speaks ABI version 1"},
		{"import the host does not offer", tinyPlugin(routeOK).Importing(wt.Func{Module: "env", Name: "foo"}).Bytes(),
			"imports env.foo, which the host does not offer"},
		{"WASI function that does not exist", tinyPlugin(routeOK).Importing(wt.Func{Module: "wasi_snapshot_preview1", Name: "sock_open"}).Bytes(),
			"imports wasi_snapshot_preview1.sock_open, which the host does not offer"},
		{"mistyped import", tinyPlugin(routeOK).Importing(wt.Func{Module: "sy", Name: "log", Params: []byte{wt.TypeI32}}).Bytes(),
			"imports sy.log as (i32) -> (), but the host offers (i32, i32, i32) -> ()"},
		{"memory over the cap", func() []byte { m := tinyPlugin(routeOK); m.MemoryPages = 513; return m.Bytes() }(), "memory starts at 513 pages, over the cap of 512"},
		{"_initialize spins", tinyPlugin(routeOK).With(wt.Func{Name: "_initialize", Body: spin}).Bytes(), "fails to start: plugin timeout: the plugin ran past its 200ms deadline"},
		{"_initialize traps", tinyPlugin(routeOK).With(wt.Func{Name: "_initialize", Body: []byte{wt.OpUnreachable}}).Bytes(), "fails to start: plugin trap"},
		{"sy_abi_version spins", tinyPlugin(routeOK).With(wt.Func{Name: "sy_abi_version", Results: []byte{wt.TypeI32}, Body: wt.Code(spin, wt.I32(1))}).Bytes(),
			"sy_abi_version failed: plugin timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := plugintest.NewHost(t, host.Config{InitTimeout: 200 * time.Millisecond})
			_, err := h.Load(context.Background(), c.wasm)
			var le *host.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load: %v, want a *LoadError", err)
			}
			if !strings.Contains(le.Reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", le.Reason, c.reason)
			}
			if _, err := h.Validate(context.Background(), c.wasm); !errors.As(err, &le) {
				t.Errorf("Validate: %v, want a *LoadError", err)
			}
		})
	}
}

// Misbehaviour at call time is contained: the call fails with the right
// kind, the instance is dropped, and the next call gets a fresh one.
func TestRouteContains(t *testing.T) {
	answer := wt.Packed(wt.DecisionAt, uint32(len(routeOK)))
	// Each of these runs for about 2^40 calls with no loop anywhere: only
	// the entry checks that Load inserts can stop them.
	recursing := tinyPlugin(routeOK).
		With(wt.Func{Name: "rec", Params: []byte{wt.TypeI32}, Body: twice(wt.Call(3))}).
		With(wt.Route(wt.I32(40), wt.Call(3), answer))
	mutual := tinyPlugin(routeOK).
		With(wt.Func{Name: "ping", Params: []byte{wt.TypeI32}, Body: twice(wt.Call(4))}).
		With(wt.Func{Name: "pong", Params: []byte{wt.TypeI32}, Body: twice(wt.Call(3))}).
		With(wt.Route(wt.I32(40), wt.Call(3), answer))
	indirect := tinyPlugin(routeOK).
		With(wt.Func{Name: "rec", Params: []byte{wt.TypeI32}, Body: twice(wt.Code(wt.I32(0), wt.CallIndirect(3)))}).
		With(wt.Route(wt.I32(40), wt.Call(3), answer))
	indirect.Table = []uint32{3}
	chain := tinyPlugin(routeOK) // f0 calls f1 twice, f1 calls f2 twice, … f39
	for i := range 40 {
		body := wt.Code(wt.Call(uint32(4+i)), wt.Call(uint32(4+i)))
		if i == 39 {
			body = nil
		}
		chain = chain.With(wt.Func{Name: fmt.Sprintf("f%d", i), Body: body})
	}
	chain = chain.With(wt.Route(wt.Call(3), answer))
	growing := wt.Route([]byte{wt.OpLoop, wt.BlockVoid}, wt.I32(16), []byte{wt.OpMemoryGrow, 0x00}, wt.I32(-1), []byte{wt.OpI32Ne, wt.OpBrIf, 0, wt.OpEnd, wt.OpUnreachable}, wt.I64(0))
	for _, c := range []struct {
		name   string
		module *wt.Raw
		kind   string
		detail string
	}{
		{"infinite loop", tinyPlugin(routeOK).With(wt.Route([]byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd}, wt.I64(0))), host.KindTimeout, "ran past its 10ms deadline"},
		{"exponential recursion without loops", recursing, host.KindTimeout, "ran past its 10ms deadline"},
		{"exponential mutual recursion", mutual, host.KindTimeout, "ran past its 10ms deadline"},
		{"exponential recursion through call_indirect", indirect, host.KindTimeout, "ran past its 10ms deadline"},
		{"exponential chain of calls without recursion", chain, host.KindTimeout, "ran past its 10ms deadline"},
		{"unbounded memory growth", tinyPlugin(routeOK).With(growing), host.KindMemory, "ran out of memory (cap 64 pages, 4.0 MiB)"},
		{"trap", tinyPlugin(routeOK).With(wt.Route([]byte{wt.OpUnreachable})), host.KindTrap, "unreachable"},
		{"output over the limit", tinyPlugin(routeOK).With(wt.Route(wt.Packed(0, 64<<10+1))), host.KindInvalidOutput, "64.0 KiB, over the 64.0 KiB limit"},
		{"output outside memory", tinyPlugin(routeOK).With(wt.Route(wt.Packed(17<<16-4, 8))), host.KindInvalidOutput, "outside memory"},
		{"output not JSON", tinyPlugin("not json"), host.KindInvalidOutput, "not a valid RouteDecision"},
		{"output with trailing data", tinyPlugin(routeOK + "{}"), host.KindInvalidOutput, "data after its JSON object"},
		{"misspelt field", tinyPlugin(`{"action":"route","provider":["openai"]}`), host.KindInvalidOutput, `unknown field "provider"`},
		{"decision breaking the rules", tinyPlugin(`{"action":"route","headers":{"set-cookie":"a=b"}}`), host.KindInvalidOutput, "names must start with x-"},
		{"no action", tinyPlugin(`{}`), host.KindInvalidOutput, "action must be"},
		{"sy_alloc returns 0", tinyPlugin(routeOK).With(wt.Func{Name: "sy_alloc", Params: []byte{wt.TypeI32}, Results: []byte{wt.TypeI32}, Body: wt.I32(0)}), host.KindAlloc, "returned 0"},
		{"sy_alloc outside memory", tinyPlugin(routeOK).With(wt.Func{Name: "sy_alloc", Params: []byte{wt.TypeI32}, Results: []byte{wt.TypeI32}, Body: wt.I32(17<<16 - 10)}), host.KindAlloc, "outside memory"},
		{"proc_exit", tinyPlugin(routeOK).Importing(wt.Func{Module: "wasi_snapshot_preview1", Name: "proc_exit", Params: []byte{wt.TypeI32}}).
			With(wt.Route(wt.I32(3), []byte{wt.OpCall, 0}, wt.I64(0))), host.KindExit, "exited with code 3"},
		{"sy_free traps", tinyPlugin(routeOK).With(wt.Func{Name: "sy_free", Params: []byte{wt.TypeI32, wt.TypeI32}, Body: []byte{wt.OpUnreachable}}), host.KindTrap, "unreachable"},
		{"counter window out of range", tinyPlugin(routeOK).Importing(wt.Func{Module: "sy", Name: "counter_add", Params: []byte{wt.TypeI32, wt.TypeI32, wt.TypeI64, wt.TypeI32}, Results: []byte{wt.TypeI64}}).
			With(wt.Route(wt.I32(0), wt.I32(1), wt.I64(1), wt.I32(0), []byte{wt.OpCall, 0, wt.OpDrop}, wt.Packed(wt.DecisionAt, uint32(len(routeOK))))), host.KindTrap, "window_s 0 is outside 1..86400"},
		{"counter key too long", tinyPlugin(routeOK).Importing(wt.Func{Module: "sy", Name: "counter_add", Params: []byte{wt.TypeI32, wt.TypeI32, wt.TypeI64, wt.TypeI32}, Results: []byte{wt.TypeI64}}).
			With(wt.Route(wt.I32(0), wt.I32(129), wt.I64(1), wt.I32(60), []byte{wt.OpCall, 0, wt.OpDrop}, wt.Packed(wt.DecisionAt, uint32(len(routeOK))))), host.KindTrap, "key is 129 bytes, over 128"},
	} {
		for _, interpreter := range []bool{false, true} { // the native edge's engine, and the Workers edge's
			t.Run(c.name+map[bool]string{false: "", true: " (interpreter)"}[interpreter], func(t *testing.T) {
				cfg := host.Config{Interpreter: interpreter}
				if c.kind == host.KindMemory {
					// Growing memory means zeroing and copying it, which can
					// take longer than 10ms, most of all under -race; the
					// point here is the kind of failure.
					cfg.MaxMemoryPages, cfg.CallTimeout = 64, time.Second
				}
				h := plugintest.NewHost(t, cfg)
				p, err := h.Load(context.Background(), c.module.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // the second call runs in a fresh instance
					_, err = p.Route(context.Background(), "acct_a", host.SampleRequest())
					var ce *host.CallError
					if !errors.As(err, &ce) {
						t.Fatalf("Route: %v, want a *CallError", err)
					}
					if ce.Kind != c.kind || !strings.Contains(ce.Detail, c.detail) {
						t.Errorf("got %s %q, want %s containing %q", ce.Kind, ce.Detail, c.kind, c.detail)
					}
				}
			})
		}
	}
}

// Recursion a billion calls deep ends in a trap when the stack runs out,
// or in a timeout if the deadline comes first; either way it is contained.
func TestDeepRecursion(t *testing.T) {
	deep := tinyPlugin(routeOK).
		With(wt.Func{Name: "rec", Params: []byte{wt.TypeI32}, Body: wt.Code(
			[]byte{wt.OpLocalGet, 0, wt.OpIf, wt.BlockVoid, wt.OpLocalGet, 0}, wt.I32(1), []byte{wt.OpI32Sub}, wt.Call(3), []byte{wt.OpEnd})}).
		With(wt.Route(wt.I32(1e9), wt.Call(3), wt.Packed(wt.DecisionAt, uint32(len(routeOK)))))
	for _, interpreter := range []bool{false, true} {
		p, err := plugintest.NewHost(t, host.Config{Interpreter: interpreter}).Load(context.Background(), deep.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			_, err := p.Route(context.Background(), "acct_a", host.SampleRequest())
			if !isKind(err, host.KindTimeout) && !isKind(err, host.KindTrap) {
				t.Errorf("interpreter %v: %v, want a timeout or a trap", interpreter, err)
			}
		}
	}
}

// A timed-out instance is discarded and the plugin keeps serving.
func TestTimeoutThenSuccess(t *testing.T) {
	// The module spins only when its request is larger than 2 KiB.
	spinBig := wt.Route([]byte{wt.OpLocalGet, 1}, wt.I32(2048), []byte{wt.OpI32GtU, wt.OpIf, wt.BlockVoid, wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd, wt.OpEnd}, wt.Packed(wt.DecisionAt, uint32(len(routeOK))))
	h := plugintest.NewHost(t, host.Config{})
	p, err := h.Load(context.Background(), tinyPlugin(routeOK).With(spinBig).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	big := host.SampleRequest()
	big.Headers["x-sy-padding"] = strings.Repeat("x", 4096)
	for i := range 6 {
		req := host.SampleRequest()
		if i%2 == 0 {
			req = big
		}
		d, err := p.Route(context.Background(), "acct_a", req)
		switch {
		case i%2 == 0 && !isKind(err, host.KindTimeout):
			t.Errorf("call %d: %v, want a timeout", i, err)
		case i%2 == 1 && (err != nil || d.Action != "route"):
			t.Errorf("call %d after a timeout: %+v, %v", i, d, err)
		}
	}
}

func isKind(err error, kind string) bool {
	var ce *host.CallError
	return errors.As(err, &ce) && ce.Kind == kind
}

// The Go hostile plugin: memory exhaustion in a Go runtime, a panic, and
// attempts to reach files, environment and arguments through WASI.
func TestHostileGo(t *testing.T) {
	p := goProbe(t)
	asking := func(model string) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Model = model })
	}
	t.Run("WASI sees no files, environment or arguments", func(t *testing.T) {
		d, err := p.Route(context.Background(), "acct_snoop", asking("snoop"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"read": "refused", "list": "refused", "create": "refused", "env": "0", "args": "0", "stdin": "0", "stdout": "allowed"}
		for k, v := range want {
			if d.Tags[k] != v {
				t.Errorf("%s: %q, want %q (all: %v)", k, d.Tags[k], v, d.Tags)
			}
		}
	})
	probe.logs.take()
	for _, c := range []struct{ model, kind, detail string }{
		{"grow", host.KindMemory, "ran out of memory"},
		{"huge", host.KindMemory, "ran out of memory"},
		{"panic", host.KindTrap, "unreachable"},
	} {
		t.Run(c.model, func(t *testing.T) {
			_, err := p.Route(context.Background(), "acct_hostile", asking(c.model))
			var ce *host.CallError
			if !errors.As(err, &ce) || ce.Kind != c.kind || !strings.Contains(ce.Detail, c.detail) {
				t.Fatalf("%v, want %s: %s", err, c.kind, c.detail)
			}
			if d, err := p.Route(context.Background(), "acct_hostile", asking("fine")); err != nil || d.Action != "route" {
				t.Errorf("next call: %+v, %v", d, err)
			}
		})
	}
	want := map[string]string{"level": "ERROR", "msg": "plugin log", "tenant": "acct_hostile", "plugin": p.Hash(), "message": "panic: boom in route"}
	if logs := probe.logs.take(); !slices.ContainsFunc(logs, func(l map[string]string) bool { return maps.Equal(l, want) }) {
		t.Errorf("the panic did not reach the tenant's plugin log: %v", logs)
	}
}

// One tenant's plugin spinning on every call, from more goroutines than
// there are CPUs, does not make another tenant's calls fail, and barely
// slows them. The deadline is 50ms rather than the edge's 10ms because
// under -race on a small machine a few calls in a thousand stall for
// several milliseconds whether or not anything spins.
func TestSpinningTenantDoesNotHurtOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	h := plugintest.NewHost(t, host.Config{CallTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	spinner, err := h.Load(ctx, tinyPlugin(routeOK).With(wt.Route([]byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd}, wt.I64(0))).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	good, err := h.Load(ctx, tinyPlugin(routeOK).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	req := host.SampleRequest()
	p50 := func(n int) time.Duration {
		times := make([]time.Duration, n)
		for i := range times {
			start := time.Now()
			if _, err := good.Route(ctx, "acct_b", req); err != nil {
				t.Errorf("tenant B, call %d: %v", i, err)
			}
			times[i] = time.Since(start)
		}
		slices.Sort(times)
		t.Logf("p50 %v p99 %v max %v", times[n/2], times[n*99/100], times[n-1])
		return times[n/2]
	}
	solo := p50(300)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var spins, spinFailures int
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := spinner.Route(ctx, "acct_a", req)
				mu.Lock()
				spins++
				if !isKind(err, host.KindTimeout) {
					spinFailures++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	loaded := p50(2000)
	close(stop)
	wg.Wait()
	t.Logf("tenant B p50: %v alone, %v while tenant A spins (%d calls of A, all timed out: %v)", solo, loaded, spins, spinFailures == 0)
	if spinFailures > 0 {
		t.Errorf("%d of tenant A's calls did not time out", spinFailures)
	}
	if loaded > 5*solo+time.Millisecond {
		t.Errorf("tenant B p50 went from %v to %v", solo, loaded)
	}
}

// twice is the body of a function of one i32 that, unless it is 0, makes
// call twice with it less one.
func twice(call []byte) []byte {
	less := wt.Code([]byte{wt.OpLocalGet, 0}, wt.I32(1), []byte{wt.OpI32Sub}, call)
	return wt.Code([]byte{wt.OpLocalGet, 0, wt.OpIf, wt.BlockVoid}, less, less, []byte{wt.OpEnd})
}

// tinyPlugin is about the smallest module that follows ABI.md, answering
// decision; tests swap out one piece to make it misbehave in one way.
func tinyPlugin(decision string) *wt.Raw { return wt.Module{Decision: decision}.Raw() }
