package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	wt "github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// noDeadline stands for the Workers edge, where the deadline cannot stop
// a call: only fuel can.
const noDeadline = time.Hour

// call runs one Route and fails the test, rather than hang it, when the
// call does not end.
func call(t *testing.T, p *host.Plugin, tenant string, req func(*host.Plugin) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- req(p) }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("tenant %s: the call did not stop", tenant)
		return nil
	}
}

func route(t *testing.T, p *host.Plugin, tenant string) error {
	t.Helper()
	return call(t, p, tenant, func(p *host.Plugin) error {
		_, err := p.Route(context.Background(), tenant, host.SampleRequest())
		return err
	})
}

// Everything that the deadline stops, fuel stops alone.
func TestFuelStops(t *testing.T) {
	answer := wt.Packed(wt.DecisionAt, uint32(len(routeOK)))
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
	chain := tinyPlugin(routeOK)
	for i := range 40 {
		body := wt.Code(wt.Call(uint32(4+i)), wt.Call(uint32(4+i)))
		if i == 39 {
			body = nil
		}
		chain = chain.With(wt.Func{Name: fmt.Sprintf("f%d", i), Body: body})
	}
	chain = chain.With(wt.Route(wt.Call(3), answer))
	// memory.fill of the whole memory, over and over: few instructions,
	// much work, charged by its size.
	filling := tinyPlugin(routeOK).With(wt.Route([]byte{wt.OpLoop, wt.BlockVoid}, wt.I32(0), wt.I32(0), wt.I32(17<<16),
		[]byte{0xfc, 11, 0x00, wt.OpBr, 0, wt.OpEnd}, wt.I64(0)))
	deep := tinyPlugin(routeOK).
		With(wt.Func{Name: "rec", Params: []byte{wt.TypeI32}, Body: wt.Code(
			[]byte{wt.OpLocalGet, 0, wt.OpIf, wt.BlockVoid, wt.OpLocalGet, 0}, wt.I32(1), []byte{wt.OpI32Sub}, wt.Call(3), []byte{wt.OpEnd})}).
		With(wt.Route(wt.I32(1e9), wt.Call(3), answer))
	spin := []byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd}
	for _, c := range []struct {
		name   string
		module *wt.Raw
		trapOK bool // the stack may run out first
	}{
		{"infinite loop", tinyPlugin(routeOK).With(wt.Route(spin, wt.I64(0))), false},
		{"infinite loop in sy_alloc", tinyPlugin(routeOK).With(wt.Func{Name: "sy_alloc", Params: []byte{wt.TypeI32}, Results: []byte{wt.TypeI32}, Body: wt.Code(spin, wt.I32(0))}), false},
		{"infinite loop in sy_free", tinyPlugin(routeOK).With(wt.Func{Name: "sy_free", Params: []byte{wt.TypeI32, wt.TypeI32}, Body: spin}), false},
		{"exponential recursion", recursing, false},
		{"exponential mutual recursion", mutual, false},
		{"exponential recursion through call_indirect", indirect, false},
		{"exponential chain of calls", chain, false},
		{"memory.fill in a loop", filling, false},
		{"deep recursion", deep, true},
	} {
		for _, interpreter := range []bool{true, false} {
			t.Run(c.name+map[bool]string{false: " (compiler)", true: ""}[interpreter], func(t *testing.T) {
				h := plugintest.NewHost(t, host.Config{Interpreter: interpreter, Fuel: host.DefaultFuel, CallTimeout: noDeadline})
				p, err := h.Load(context.Background(), c.module.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					start := time.Now()
					err := route(t, p, "acct_a")
					var ce *host.CallError
					switch {
					case c.trapOK && isKind(err, host.KindTrap):
					case !errors.As(err, &ce) || ce.Kind != host.KindTimeout || !strings.Contains(ce.Detail, "used up its fuel"):
						t.Fatalf("%v, want a timeout for fuel", err)
					}
					t.Logf("stopped after %v", time.Since(start))
				}
			})
		}
	}
}

// Starting is bounded too: a start function or `_initialize` that spins
// is refused at Load, with no deadline to help.
func TestFuelStopsStart(t *testing.T) {
	spin := wt.Code([]byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd})
	h := plugintest.NewHost(t, host.Config{Interpreter: true, Fuel: host.DefaultFuel, CallTimeout: noDeadline, InitTimeout: noDeadline})
	done := make(chan error, 1)
	go func() {
		_, err := h.Load(context.Background(), tinyPlugin(routeOK).With(wt.Func{Name: "_initialize", Body: spin}).Bytes())
		done <- err
	}()
	select {
	case err := <-done:
		var le *host.LoadError
		if !errors.As(err, &le) || !strings.Contains(le.Reason, "fails to start: plugin timeout: the plugin used up its fuel") {
			t.Errorf("%v, want a refusal for fuel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load did not stop")
	}
}

// The examples run under the default budget with a wide margin, and the
// fuel they use is the same on both engines.
func TestFuelExamples(t *testing.T) {
	for _, name := range []string{"cheapest", "eu-only", "aliases", "user-quota"} {
		t.Run(name+"-as", func(t *testing.T) {
			wasm := astest.Example(t, name)
			var used [2]int64
			for i, interpreter := range []bool{true, false} {
				h := plugintest.NewHost(t, host.Config{Interpreter: interpreter, Fuel: host.DefaultFuel, CallTimeout: noDeadline})
				p, err := h.Load(context.Background(), wasm)
				if err != nil {
					t.Fatal(err)
				}
				for range 3 {
					if d, err := p.Route(context.Background(), "acct_a", host.SampleRequest()); err != nil || d.Action == "" {
						t.Fatalf("%+v, %v", d, err)
					}
				}
				used[i] = p.PeakFuel()
			}
			t.Logf("%d units a call, %.0fx under the budget", used[0], float64(host.DefaultFuel)/float64(used[0]))
			if used[0] != used[1] {
				t.Errorf("interpreter used %d, compiler %d", used[0], used[1])
			}
			if used[0] == 0 || used[0]*50 > host.DefaultFuel {
				t.Errorf("%d units a call: not 50 times under the %d budget", used[0], host.DefaultFuel)
			}
		})
	}
}

// Each call gets the whole budget again: a plugin that needs 90% of it
// succeeds call after call, in the same instance.
func TestFuelPerCall(t *testing.T) {
	// sy_route counts local 2 up to 1000, then answers.
	loop := tinyPlugin(routeOK).With(wt.Func{Name: "sy_route", Params: []byte{wt.TypeI32, wt.TypeI32}, Results: []byte{wt.TypeI64},
		Locals: []byte{wt.TypeI32}, Body: wt.Code(
			[]byte{wt.OpLoop, wt.BlockVoid, wt.OpLocalGet, 2}, wt.I32(1), []byte{0x6a, 0x22, 2}, wt.I32(1000),
			[]byte{wt.OpI32Ne, wt.OpBrIf, 0, wt.OpEnd}, wt.Packed(wt.DecisionAt, uint32(len(routeOK))))})
	measure := plugintest.NewHost(t, host.Config{Interpreter: true, Fuel: host.DefaultFuel})
	p, err := measure.Load(context.Background(), loop.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := route(t, p, "acct_a"); err != nil {
		t.Fatal(err)
	}
	need := p.PeakFuel()
	for _, c := range []struct {
		budget int64
		ok     bool
	}{{need * 10 / 9, true}, {need * 9 / 10, false}} {
		h := plugintest.NewHost(t, host.Config{Interpreter: true, Fuel: c.budget, CallTimeout: noDeadline})
		p, err := h.Load(context.Background(), loop.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			err := route(t, p, "acct_a")
			if c.ok && err != nil || !c.ok && !isKind(err, host.KindTimeout) {
				t.Errorf("budget %d for a call needing %d, call %d: %v", c.budget, need, i, err)
			}
		}
	}
}

// A plugin that spins only on requests with a header passes the upload
// check and is stopped on those requests; the others still route.
func TestFuelSpinOnHeader(t *testing.T) {
	wasm := wt.Module{Decision: routeOK, Route: wt.Spin, Containing: "x-sy-spin"}.Bytes()
	h := plugintest.NewHost(t, host.Config{Interpreter: true, Fuel: host.DefaultFuel, CallTimeout: noDeadline})
	if _, err := h.Validate(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	spinning := host.SampleRequest()
	spinning.Headers["x-sy-spin"] = "1"
	for i := range 4 {
		err := call(t, p, "acct_a", func(p *host.Plugin) error {
			req := host.SampleRequest()
			if i%2 == 0 {
				req = spinning
			}
			_, err := p.Route(context.Background(), "acct_a", req)
			return err
		})
		if i%2 == 0 && !isKind(err, host.KindTimeout) || i%2 == 1 && err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
}
