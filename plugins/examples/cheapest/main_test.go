package main

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestCheapest(t *testing.T) {
	p := plugintest.Load(t, ".", host.Config{})
	mini := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "openai", InputPrice: 150000, OutputPrice: 600000, Healthy: true}
	haiku := abi.Candidate{Model: "anthropic/claude-haiku-4-5", Provider: "anthropic", InputPrice: 1000000, OutputPrice: 5000000, Healthy: true}
	flash := abi.Candidate{Model: "google/gemini-2.5-flash", Provider: "google", InputPrice: 300000, OutputPrice: 2500000, Healthy: true}
	sick := func(c abi.Candidate) abi.Candidate { c.Healthy = false; return c }
	with := func(cs ...abi.Candidate) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Candidates = cs })
	}
	tags := map[string]string{"policy": "cheapest"}
	plugintest.Run(t, p, []plugintest.Case{
		{
			Name: "cheapest first",
			Req:  with(haiku, flash, mini),
			Want: &abi.RouteDecision{Action: "route", Model: mini.Model, Fallbacks: []string{flash.Model, haiku.Model}, Providers: []string{"openai", "google", "anthropic"}, Tags: tags},
		},
		{
			Name: "unhealthy last",
			Req:  with(haiku, sick(mini), flash),
			Want: &abi.RouteDecision{Action: "route", Model: flash.Model, Fallbacks: []string{haiku.Model, mini.Model}, Providers: []string{"google", "anthropic", "openai"}, Tags: tags},
		},
		{
			Name: "one model, two providers: cheaper offer first",
			Req:  with(haiku, abi.Candidate{Model: haiku.Model, Provider: "bedrock", InputPrice: 800000, OutputPrice: 4000000, Healthy: true}),
			Want: &abi.RouteDecision{Action: "route", Model: haiku.Model, Providers: []string{"bedrock", "anthropic"}, Tags: tags},
		},
		{
			Name: "nothing healthy: unchanged",
			Req:  with(sick(haiku), sick(mini)),
			Want: &abi.RouteDecision{Action: "route"},
		},
		{
			Name: "no candidates: unchanged",
			Req:  with(),
			Want: &abi.RouteDecision{Action: "route"},
		},
	})
}
