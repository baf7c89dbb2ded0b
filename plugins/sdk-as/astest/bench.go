package astest

import (
	"context"
	"slices"
	"testing"

	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// BenchModes runs Bench on wasm twice: with wazero's compiler, as the
// native edge does, and with its interpreter, as the Workers edge must.
func BenchModes(b *testing.B, wasm []byte, req *abi.RouteRequest) {
	for _, mode := range []struct {
		name        string
		interpreter bool
	}{{"compiler", false}, {"interpreter", true}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := Config
			cfg.Interpreter = mode.interpreter
			Bench(b, Load(b, wasm, cfg), req)
		})
	}
}

// Bench measures warm Route calls of p on req, JSON in and out included,
// and reports the median (p50-ns) beside the mean, since on a busy machine
// a few descheduled calls move the mean of short calls a lot.
func Bench(b *testing.B, p *host.Plugin, req *abi.RouteRequest) {
	ctx := context.Background()
	if _, err := p.Route(ctx, Tenant, req); err != nil { // instantiate outside the timing
		b.Fatal(err)
	}
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		_, err := p.Route(ctx, Tenant, req)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
}
