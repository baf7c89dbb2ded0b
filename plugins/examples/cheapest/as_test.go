package main

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// The AssemblyScript build (as/index.ts) must decide as this Go plugin
// does: on the sample request, on the rows of TestCheapest, and on random
// candidate lists full of ties, duplicate models and shared providers,
// where sort stability and de-duplication show.
func TestCheapestAS(t *testing.T) {
	p := astest.Load(t, astest.Example(t, "cheapest"), astest.Config)
	mini := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "openai", InputPrice: 150000, OutputPrice: 600000, Healthy: true}
	haiku := abi.Candidate{Model: "anthropic/claude-haiku-4-5", Provider: "anthropic", InputPrice: 1000000, OutputPrice: 5000000, Healthy: true}
	flash := abi.Candidate{Model: "google/gemini-2.5-flash", Provider: "google", InputPrice: 300000, OutputPrice: 2500000, Healthy: true}
	bedrock := abi.Candidate{Model: haiku.Model, Provider: "bedrock", InputPrice: 800000, OutputPrice: 4000000, Healthy: true}
	sick := func(c abi.Candidate) abi.Candidate { c.Healthy = false; return c }
	with := func(cs ...abi.Candidate) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Candidates = cs })
	}
	cases := []astest.Case{
		{Name: "sample", Req: host.SampleRequest()},
		{Name: "cheapest first", Req: with(haiku, flash, mini)},
		{Name: "unhealthy last", Req: with(haiku, sick(mini), flash)},
		{Name: "one model, two providers", Req: with(haiku, bedrock)},
		{Name: "nothing healthy", Req: with(sick(haiku), sick(mini))},
		{Name: "no candidates", Req: with()},
		{Name: "null candidates", Req: plugintest.Request(func(r *abi.RouteRequest) { r.Candidates = nil })},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	models := []string{mini.Model, haiku.Model, flash.Model, "openai/gpt-4o"}
	providers := []string{"openai", "anthropic", "google", "bedrock"}
	prices := []int64{0, 150000, 300000, 1000000}
	for i := range 200 {
		cs := make([]abi.Candidate, rng.IntN(7))
		for j := range cs {
			cs[j] = abi.Candidate{
				Model:       models[rng.IntN(len(models))],
				Provider:    providers[rng.IntN(len(providers))],
				InputPrice:  prices[rng.IntN(len(prices))],
				OutputPrice: prices[rng.IntN(len(prices))],
				Healthy:     rng.IntN(4) != 0,
			}
		}
		req := with(cs...)
		req.EstimatedInputTokens = rng.IntN(3) * 1000
		cases = append(cases, astest.Case{Name: fmt.Sprintf("random %d", i), Req: req})
	}
	astest.SameAsGo(t, p, sdk.RouteJSON, cases)
}

// BenchmarkASRouteCheapest is one warm Route call of the AssemblyScript
// build on the sample request: JSON encoding in Go, the call, and decoding
// and checking the decision.
func BenchmarkASRouteCheapest(b *testing.B) {
	astest.BenchModes(b, astest.Example(b, "cheapest"), host.SampleRequest())
}
