// Command cheapest is a Switchyard routing plugin that tries the candidate
// expected to cost least for this request first, healthy ones before
// unhealthy ones. See README.md.
package main

import (
	"cmp"
	"slices"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

// expectedOutputTokens stands in for the answer's length, which is unknown
// before the call; a typical chat answer.
const expectedOutputTokens = 500

func init() { sdk.Handle(route) }

func main() {}

func route(req *abi.RouteRequest) *abi.RouteDecision {
	cands := slices.Clone(req.Candidates)
	cost := func(c abi.Candidate) int64 {
		return c.InputPrice*int64(req.EstimatedInputTokens) + c.OutputPrice*expectedOutputTokens
	}
	slices.SortStableFunc(cands, func(a, b abi.Candidate) int {
		if a.Healthy != b.Healthy {
			if a.Healthy {
				return -1
			}
			return 1
		}
		return cmp.Compare(cost(a), cost(b))
	})
	if len(cands) == 0 || !cands[0].Healthy {
		return nil // nothing healthy: the gateway's own order is as good as any
	}
	var models, providers []string
	for _, c := range cands {
		if !slices.Contains(models, c.Model) {
			models = append(models, c.Model)
		}
		if !slices.Contains(providers, c.Provider) {
			providers = append(providers, c.Provider)
		}
	}
	return &abi.RouteDecision{
		Action:    abi.ActionRoute,
		Model:     models[0],
		Fallbacks: models[1:],
		Providers: providers,
		Tags:      map[string]string{"policy": "cheapest"},
	}
}
