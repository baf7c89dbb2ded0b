package main

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestAliases(t *testing.T) {
	p := plugintest.Load(t, ".", host.Config{})
	asking := func(model string, fallbacks ...string) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Model = model; r.Models = fallbacks })
	}
	noSonnet := asking("smart")
	noSonnet.Catalog = noSonnet.Catalog[:3]
	plugintest.Run(t, p, []plugintest.Case{
		{Name: "alias", Req: asking("fast"), Want: &abi.RouteDecision{Action: "route", Model: "google/gemini-2.5-flash", Tags: map[string]string{"alias": "fast"}}},
		{Name: "alias and fallbacks", Req: asking("smart", "cheap", "openai/gpt-4o", "unknown"), Want: &abi.RouteDecision{Action: "route",
			Model: "anthropic/claude-sonnet-4-5", Fallbacks: []string{"openai/gpt-4o-mini", "openai/gpt-4o", "unknown"}, Tags: map[string]string{"alias": "smart"}}},
		{Name: "fallback alias only", Req: asking("openai/gpt-4o", "fast"), Want: &abi.RouteDecision{Action: "route", Fallbacks: []string{"google/gemini-2.5-flash"}}},
		{Name: "catalog id: unchanged", Req: asking("openai/gpt-4o"), Want: &abi.RouteDecision{Action: "route"}},
		{Name: "alias the key may not use", Req: noSonnet, Want: &abi.RouteDecision{Action: "reject", Status: 403, Message: "the alias smart names a model this API key may not use"}},
	})
}
