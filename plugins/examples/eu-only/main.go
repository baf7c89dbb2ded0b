// Command eu-only is a Switchyard routing plugin that keeps requests from
// EU clients (or, if the tenant says so, every request) on EU-hosted
// providers, and refuses them rather than send them elsewhere. See
// README.md.
package main

import (
	"slices"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

// The tenant's settings: edit and rebuild.
var (
	// euProviders are the providers whose endpoints, as this tenant has
	// configured them, process data inside the EU.
	euProviders = []string{"mistral", "azure-eu", "bedrock-eu"}
	// alwaysEU applies the rule to every request, wherever the client is.
	alwaysEU = false
)

// euCountries are the EU's member states (ISO 3166-1 alpha-2).
var euCountries = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}

func init() { sdk.Handle(route) }

func main() {}

func route(req *abi.RouteRequest) *abi.RouteDecision {
	if !alwaysEU && !slices.Contains(euCountries, req.Edge.Country) {
		return nil
	}
	var providers []string
	for _, c := range req.Candidates {
		if slices.Contains(euProviders, c.Provider) && !slices.Contains(providers, c.Provider) {
			providers = append(providers, c.Provider)
		}
	}
	if len(providers) == 0 {
		return sdk.Reject(403, "this request must stay in the EU, and no EU-hosted provider serves the model it asks for")
	}
	return &abi.RouteDecision{
		Action:    abi.ActionRoute,
		Providers: providers,
		Headers:   map[string]string{"x-sy-routed-by": "eu-only"},
		Tags:      map[string]string{"policy": "eu-only"},
	}
}
