package host

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// Report is what Validate learnt about a module, for the uploader.
type Report struct {
	Hash        string
	Size        int
	Imports     []string // "module.name", sorted
	MemoryPages uint32   // linear memory after the sample calls
	CallTime    time.Duration
	Decision    *abi.RouteDecision // the answer to SampleRequest
}

// validateTenant owns the counters of upload checks; no account id has
// this form.
const validateTenant = "sy:validate"

// validateCalls warm calls are timed; the median is reported.
const validateCalls = 5

// validateTimeouts is how many of the sample calls may run past the
// deadline before the module is refused. A module that always does is
// refused; one that did once on a busy machine (a Go plugin's collector,
// another process) is not.
const validateTimeouts = 2

// Validate is the upload check: Load, then SampleRequest under the same
// limits a request gets, once cold and validateCalls times warm.
//
// # Errors
//
// Everything that refuses the module, including a failing sample call, is
// a *LoadError; a failed call's *CallError is its Err.
func (h *Host) Validate(ctx context.Context, wasm []byte) (*Report, error) {
	p, err := h.Load(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer p.Close(ctx)
	var (
		first    *abi.RouteDecision
		times    []time.Duration
		timeouts int
	)
	for len(times) < validateCalls {
		start := time.Now()
		d, err := p.Route(ctx, validateTenant, SampleRequest())
		elapsed := time.Since(start)
		if err != nil {
			if isKind(err, KindTimeout) && ctx.Err() == nil && timeouts < validateTimeouts {
				timeouts++
				continue
			}
			return nil, &LoadError{Reason: "the sample request failed: " + err.Error(), Err: err}
		}
		if first == nil {
			first = d // the cold call, which also instantiated, is not timed
			continue
		}
		times = append(times, elapsed)
	}
	slices.Sort(times)
	return &Report{
		Hash:        p.hash,
		Size:        p.size,
		Imports:     p.imports,
		MemoryPages: p.PeakMemoryPages(),
		CallTime:    times[len(times)/2],
		Decision:    first,
	}, nil
}

func isKind(err error, kind string) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.Kind == kind
}

// SampleRequest is a typical chat request from Frankfurt with three
// candidates, one of them unhealthy. Validate sends it; tests start from it.
func SampleRequest() *abi.RouteRequest {
	catalog := []abi.Candidate{
		{Model: "openai/gpt-4o-mini", Provider: "openai", InputPrice: 150000, OutputPrice: 600000, ContextLength: 128000, Healthy: true, LatencyMs: 180},
		{Model: "openai/gpt-4o", Provider: "openai", InputPrice: 2500000, OutputPrice: 10000000, ContextLength: 128000, Healthy: true, LatencyMs: 320},
		{Model: "anthropic/claude-haiku-4-5", Provider: "anthropic", InputPrice: 1000000, OutputPrice: 5000000, ContextLength: 200000, Healthy: true, LatencyMs: 240},
		{Model: "anthropic/claude-sonnet-4-5", Provider: "anthropic", InputPrice: 3000000, OutputPrice: 15000000, ContextLength: 200000, Healthy: true, LatencyMs: 410},
		{Model: "google/gemini-2.5-flash", Provider: "google", InputPrice: 300000, OutputPrice: 2500000, ContextLength: 1048576, Healthy: false, LatencyMs: 0},
		{Model: "google/gemini-2.5-pro", Provider: "google", InputPrice: 1250000, OutputPrice: 10000000, ContextLength: 1048576, Healthy: true, LatencyMs: 520},
	}
	return &abi.RouteRequest{
		ABI:                  abi.Version,
		RequestID:            "req_5f0c6d1e9a3b4c2d8e7f6a5b",
		Tenant:               "acct_sample",
		KeyID:                "key_sample",
		Endpoint:             "chat.completions",
		Model:                "anthropic/claude-haiku-4-5",
		Models:               []string{"google/gemini-2.5-flash", "openai/gpt-4o-mini"},
		Stream:               true,
		Edge:                 abi.Edge{Location: "FRA", Country: "DE"},
		Headers:              map[string]string{"x-sy-user": "user-42"},
		EstimatedInputTokens: 312,
		Candidates:           []abi.Candidate{catalog[2], catalog[4], catalog[0]},
		Catalog:              catalog,
	}
}
