package main

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// The AssemblyScript build (as/index.ts) must decide as this Go plugin
// does, on the rows of TestAliases and a few more.
func TestAliasesAS(t *testing.T) {
	p := astest.Load(t, astest.Example(t, "aliases"), astest.Config)
	asking := func(model string, fallbacks ...string) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Model = model; r.Models = fallbacks })
	}
	noSonnet := asking("smart", "fast")
	noSonnet.Catalog = noSonnet.Catalog[:3]
	noFlash := asking("openai/gpt-4o", "fast", "cheap")
	noFlash.Catalog = noFlash.Catalog[:4]
	emptyCatalog := asking("cheap")
	emptyCatalog.Catalog = nil
	astest.SameAsGo(t, p, sdk.RouteJSON, []astest.Case{
		{Name: "sample", Req: host.SampleRequest()},
		{Name: "alias", Req: asking("fast")},
		{Name: "alias and fallbacks", Req: asking("smart", "cheap", "openai/gpt-4o", "unknown")},
		{Name: "fallback alias only", Req: asking("openai/gpt-4o", "fast")},
		{Name: "catalog id: unchanged", Req: asking("openai/gpt-4o")},
		{Name: "alias the key may not use", Req: noSonnet},
		{Name: "fallback alias the key may not use", Req: noFlash},
		{Name: "no catalog", Req: emptyCatalog},
		{Name: "alias as its own fallback", Req: asking("fast", "fast", "smart")},
		{Name: "case matters", Req: asking("Fast", "CHEAP")},
		{Name: "empty model", Req: asking("")},
	})
}

// BenchmarkASRouteAliases is one warm Route call of the AssemblyScript
// build on the sample request, JSON in and out included.
func BenchmarkASRouteAliases(b *testing.B) {
	req := plugintest.Request(func(r *abi.RouteRequest) { r.Model = "fast"; r.Models = []string{"cheap"} })
	astest.BenchModes(b, astest.Example(b, "aliases"), req)
}
