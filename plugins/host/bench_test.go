package host_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// benchPlugin is a module the benchmarks run, built when a benchmark
// first asks for it; an AssemblyScript one skips its own benchmarks where
// the toolchain is missing.
type benchPlugin struct {
	name string
	wasm func(testing.TB) []byte
}

// benchPlugins are the hand-assembled tiny module, the floor of what a
// call costs, and the examples built with Go and with AssemblyScript (as
// `make plugins` does).
var benchPlugins = func() []benchPlugin {
	out := []benchPlugin{{"tiny", func(testing.TB) []byte { return tinyPlugin(routeOK).Bytes() }}}
	for _, name := range []string{"cheapest", "eu-only", "aliases", "user-quota"} {
		out = append(out,
			benchPlugin{name, func(tb testing.TB) []byte { return plugintest.Build(tb, "../examples/"+name) }},
			benchPlugin{name + "-as", func(tb testing.TB) []byte { return astest.Example(tb, name) }})
	}
	return out
}()

// BenchmarkRoute is a warm call on the sample request: encoding the
// request, the guest's work, decoding and checking the decision. p50-ns
// and p99-ns are percentiles of the individual calls; ns/op is their
// mean. The interpreter rows are the Workers edge's engine; the fuel rows
// meter the module (fuel.go), with a budget no example comes near.
func BenchmarkRoute(b *testing.B) {
	for _, m := range benchPlugins {
		for _, interpreter := range []bool{false, true} {
			for _, fuel := range []int64{-1, 1 << 40} {
				name := m.name
				if interpreter {
					name += "/interpreter"
				}
				if fuel > 0 {
					name += "/fuel"
				}
				b.Run(name, func(b *testing.B) { benchRoute(b, m.wasm(b), interpreter, fuel) })
			}
		}
	}
}

func benchRoute(b *testing.B, wasm []byte, interpreter bool, fuel int64) {
	// A long deadline: on a busy machine one call in thousands stalls past
	// 10ms, which would end the benchmark.
	h := plugintest.NewHost(b, host.Config{CallTimeout: time.Second, Interpreter: interpreter, Fuel: fuel, InitFuel: fuel})
	p, err := h.Load(context.Background(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	ctx, req := context.Background(), host.SampleRequest()
	if _, err := p.Route(ctx, "acct_bench", req); err != nil { // instantiate outside the timing
		b.Fatal(err)
	}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := p.Route(ctx, "acct_bench", req); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkLoad is a cold Load: validation, compilation and the start-up
// instance. Each round loads different bytes (a custom section carries the
// round number), so nothing is cached.
func BenchmarkLoad(b *testing.B) {
	for _, m := range benchPlugins {
		b.Run(m.name, func(b *testing.B) {
			module := m.wasm(b)
			ctx := context.Background()
			h, err := host.New(ctx, host.Config{}) // no compilation cache
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(ctx)
			round := 0
			for b.Loop() {
				round++
				wasm := append(slices.Clip(module), 0, 7, 3, 'r', 'u', 'n', byte(round), byte(round>>8), byte(round>>16))
				p, err := h.Load(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				p.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkInstantiate is what a call costs on top of a warm one when the
// pool has no instance for its tenant: instantiation and `_initialize`.
func BenchmarkInstantiate(b *testing.B) {
	for _, m := range benchPlugins {
		b.Run(m.name, func(b *testing.B) {
			h := plugintest.NewHost(b, host.Config{})
			ctx := context.Background()
			p, err := h.Load(ctx, m.wasm(b))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := host.Instantiate(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
