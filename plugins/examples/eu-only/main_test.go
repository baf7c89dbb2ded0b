package main

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestEUOnly(t *testing.T) {
	p := plugintest.Load(t, ".", host.Config{})
	mistral := abi.Candidate{Model: "mistral/mistral-large", Provider: "mistral", Healthy: true}
	azure := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "azure-eu", Healthy: true}
	openai := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "openai", Healthy: true}
	from := func(country string, cs ...abi.Candidate) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Edge.Country = country; r.Candidates = cs })
	}
	eu := func(providers ...string) *abi.RouteDecision {
		return &abi.RouteDecision{Action: "route", Providers: providers,
			Headers: map[string]string{"x-sy-routed-by": "eu-only"}, Tags: map[string]string{"policy": "eu-only"}}
	}
	unchanged := &abi.RouteDecision{Action: "route"}
	plugintest.Run(t, p, []plugintest.Case{
		{Name: "EU client: EU providers only, in order", Req: from("DE", openai, azure, mistral, azure), Want: eu("azure-eu", "mistral")},
		{Name: "EU client, nothing EU-hosted: refused", Req: from("FR", openai), Want: &abi.RouteDecision{Action: "reject", Status: 403,
			Message: "this request must stay in the EU, and no EU-hosted provider serves the model it asks for"}},
		{Name: "non-EU client: unchanged", Req: from("US", openai, mistral), Want: unchanged},
		{Name: "EEA but not EU: unchanged", Req: from("NO", openai), Want: unchanged},
		{Name: "unknown country: unchanged", Req: from("", openai), Want: unchanged},
	})
}
