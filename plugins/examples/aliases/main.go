// Command aliases is a Switchyard routing plugin that lets clients name
// models by the tenant's own aliases ("fast", "smart", "cheap") instead of
// catalog ids. See README.md.
package main

import (
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

// aliases is the tenant's setting: edit and rebuild.
var aliases = map[string]string{
	"fast":  "google/gemini-2.5-flash",
	"smart": "anthropic/claude-sonnet-4-5",
	"cheap": "openai/gpt-4o-mini",
}

func init() { sdk.Handle(route) }

func main() {}

func route(req *abi.RouteRequest) *abi.RouteDecision {
	d := &abi.RouteDecision{Action: abi.ActionRoute}
	if target, ok := aliases[req.Model]; ok {
		if !inCatalog(req.Catalog, target) {
			return sdk.Reject(403, "the alias "+req.Model+" names a model this API key may not use")
		}
		d.Model = target
		d.Tags = map[string]string{"alias": req.Model}
	}
	changed := false
	fallbacks := make([]string, len(req.Models))
	for i, m := range req.Models {
		fallbacks[i] = m
		if target, ok := aliases[m]; ok && inCatalog(req.Catalog, target) {
			fallbacks[i], changed = target, true
		}
	}
	if changed {
		d.Fallbacks = fallbacks
	}
	if d.Model == "" && !changed {
		return nil
	}
	return d
}

func inCatalog(catalog []abi.Candidate, model string) bool {
	for _, c := range catalog {
		if c.Model == model {
			return true
		}
	}
	return false
}
