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
// does, on the rows of TestEUOnly and a few more.
func TestEUOnlyAS(t *testing.T) {
	p := astest.Load(t, astest.Example(t, "eu-only"), astest.Config)
	mistral := abi.Candidate{Model: "mistral/mistral-large", Provider: "mistral", Healthy: true}
	azure := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "azure-eu", Healthy: true}
	bedrock := abi.Candidate{Model: "anthropic/claude-haiku-4-5", Provider: "bedrock-eu", Healthy: false}
	openai := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "openai", Healthy: true}
	from := func(country string, cs ...abi.Candidate) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Edge.Country = country; r.Candidates = cs })
	}
	astest.SameAsGo(t, p, sdk.RouteJSON, []astest.Case{
		{Name: "sample", Req: host.SampleRequest()},
		{Name: "EU client: EU providers only, in order", Req: from("DE", openai, azure, mistral, azure)},
		{Name: "EU client, nothing EU-hosted", Req: from("FR", openai)},
		{Name: "EU client, no candidates", Req: from("IT")},
		{Name: "EU client, unhealthy EU provider", Req: from("SK", bedrock, openai)},
		{Name: "non-EU client", Req: from("US", openai, mistral)},
		{Name: "EEA but not EU", Req: from("NO", openai)},
		{Name: "unknown country", Req: from("", openai)},
		{Name: "lower case country", Req: from("de", mistral)},
	})
}

// BenchmarkASRouteEUOnly is one warm Route call of the AssemblyScript build
// on the sample request (a client in Germany), JSON in and out included.
func BenchmarkASRouteEUOnly(b *testing.B) {
	astest.BenchModes(b, astest.Example(b, "eu-only"), host.SampleRequest())
}
