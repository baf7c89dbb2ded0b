package control

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// ActionPluginTry is the audit action of a tenant trying a plugin.
const ActionPluginTry = "plugin.try"

// PluginTrial is the request a tenant tries a plugin version on. The rest
// of the RouteRequest is the upload check's sample: a chat request from
// Frankfurt (edge FRA, country DE) of about 312 input tokens, with no body.
type PluginTrial struct {
	// Model is the model asked for, a catalog id or a name the plugin
	// rewrites. Default: the catalog's first chat model.
	Model string
	// Headers are request headers by name: x-sy-* ones and those the plugin
	// version listed at upload. Names are lower-cased. Default none.
	Headers map[string]string
	// Stream says the client asked for a stream. Default false.
	Stream bool
}

// PluginRun is one call of a plugin: its decision, or why it failed.
type PluginRun struct {
	// Decision is the plugin's answer; nil when the call failed.
	Decision *abi.RouteDecision
	// Failure says in plain words why the call failed, as the edge would
	// put it before applying the plugin's fail policy; empty on success.
	Failure string
	// CallTime is how long the call took, instantiation included.
	CallTime time.Duration
}

// PluginTrialResult is what TryPlugin answers.
type PluginTrialResult struct {
	Plugin *Plugin `json:"plugin"`
	// Request is what the plugin was given.
	Request *abi.RouteRequest `json:"request"`
	// Decision is the plugin's answer; nil when the call failed.
	Decision *abi.RouteDecision `json:"decision"`
	// Failure is why the call failed, or why the edge would refuse the
	// decision (a model not in the catalog); the edge would then apply
	// the plugin's fail policy (Plugin.Fail).
	Failure        string `json:"failure,omitempty"`
	CallTimeMicros int64  `json:"call_us"`
}

const (
	maxTrialHeaders        = 32
	maxTrialHeaderValueLen = 1024
	maxTrialModelLen       = 256
	// trialInputTokens is the sample request's estimate (plugins/host's
	// SampleRequest), so that a trial differs from the upload check only
	// where the tenant said.
	trialInputTokens = 312
)

// TryPlugin runs one of the account's plugin versions once on a request
// built from in, with the service's catalog, through the configured
// validator under the native edge's limits. Nothing is recorded: a
// trial's decision goes nowhere. It may run an inactive version.
//
// # Errors
//
// ENOTFOUND for a plugin that is not the account's; EINVALID for a bad
// model name or header; EFORBIDDEN when the service has no validator. A
// plugin that fails is not an error: see PluginTrialResult.Failure.
func (s *Service) TryPlugin(ctx context.Context, accountID, pluginID string, in PluginTrial) (*PluginTrialResult, error) {
	if s.cfg.Plugins == nil {
		return nil, Errorf(EFORBIDDEN, "plugins are not enabled on this service")
	}
	if pluginID == "" {
		return nil, Errorf(ENOTFOUND, "plugin not found")
	}
	p, err := s.store.Plugin(ctx, accountID, pluginID)
	if err != nil {
		return nil, err
	}
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	req, err := trialRequest(accountID, p, cat, in)
	if err != nil {
		return nil, err
	}
	module, err := s.store.PluginModule(ctx, p.Hash)
	if err != nil {
		return nil, err
	}
	run, err := s.cfg.Plugins.RunPlugin(ctx, module, req)
	if err != nil {
		return nil, fmt.Errorf("try plugin %s: %w", p.ID, err)
	}
	out := &PluginTrialResult{Plugin: p, Request: req, Decision: run.Decision, Failure: run.Failure,
		CallTimeMicros: run.CallTime.Microseconds()}
	if out.Failure == "" && out.Decision != nil {
		if fault := decisionFault(out.Decision, req, cat); fault != "" {
			out.Failure = fault + ", so the edge would count the call as failed"
		}
	}
	return out, nil
}

// trialRequest builds the RouteRequest as the edge would for in.
func trialRequest(accountID string, p *Plugin, cat *Catalog, in PluginTrial) (*abi.RouteRequest, error) {
	model := strings.TrimSpace(in.Model)
	if model == "" {
		model = DefaultTrialModel(cat)
	}
	if model == "" || len(model) > maxTrialModelLen || strings.ContainsAny(model, "\r\n\x00") {
		return nil, Errorf(EINVALID, "name a model of up to %d characters", maxTrialModelLen)
	}
	if len(in.Headers) > maxTrialHeaders {
		return nil, Errorf(EINVALID, "try at most %d headers", maxTrialHeaders)
	}
	headers := make(map[string]string, len(in.Headers))
	for _, name := range slices.Sorted(maps.Keys(in.Headers)) {
		h, v := strings.ToLower(strings.TrimSpace(name)), in.Headers[name]
		if !headerToken(h) {
			return nil, Errorf(EINVALID, "%q is not a header name", name)
		}
		if !strings.HasPrefix(h, "x-sy-") && !slices.Contains(p.Headers, h) {
			return nil, Errorf(EINVALID, "the plugin does not see header %s: it sees x-sy-* headers and those listed at upload", h)
		}
		if len(v) > maxTrialHeaderValueLen || strings.ContainsAny(v, "\r\n\x00") {
			return nil, Errorf(EINVALID, "header %s: a value is one line of at most %d bytes", h, maxTrialHeaderValueLen)
		}
		headers[h] = v
	}
	endpoint := "chat.completions"
	catalog := make([]abi.Candidate, 0, len(cat.Models))
	var candidates []abi.Candidate
	for _, m := range cat.Models {
		c := abi.Candidate{Model: m.ID, Provider: m.Provider, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice,
			ContextLength: m.ContextLength, Healthy: true}
		catalog = append(catalog, c)
		if m.ID == model {
			candidates = append(candidates, c)
			if m.Kind == ModelEmbedding {
				endpoint = "embeddings"
			}
		}
	}
	if candidates == nil {
		candidates = []abi.Candidate{}
	}
	return &abi.RouteRequest{
		ABI:                  abi.Version,
		RequestID:            newID("req"),
		Tenant:               accountID,
		KeyID:                "key_trial",
		Endpoint:             endpoint,
		Model:                model,
		Models:               []string{},
		Stream:               in.Stream,
		Edge:                 abi.Edge{Location: "FRA", Country: "DE"},
		Headers:              headers,
		EstimatedInputTokens: trialInputTokens,
		Candidates:           candidates,
		Catalog:              catalog,
	}, nil
}

// DefaultTrialModel is the model a trial asks for when the tenant names
// none: the catalog's first chat model, or "" for an empty catalog.
func DefaultTrialModel(cat *Catalog) string {
	for _, m := range cat.Models {
		if m.Kind != ModelEmbedding {
			return m.ID
		}
	}
	return ""
}

// decisionFault is why the edge would refuse a route decision that the
// plugin host accepted, checked against the control service's catalog: a
// named model outside it or of another kind than the request's, or no
// candidate left after providers. It is "" for a decision the edge takes.
// An edge may know aliases the catalog does not, so a name only an alias
// explains is a fault here and not there.
func decisionFault(d *abi.RouteDecision, req *abi.RouteRequest, cat *Catalog) string {
	if d.Action != abi.ActionRoute {
		return ""
	}
	names := []string{req.Model}
	if d.Model != "" {
		names[0] = d.Model
	}
	named := names[:0:0]
	if d.Model != "" {
		named = append(named, d.Model)
	}
	named = append(named, d.Fallbacks...)
	wantEmbedding := req.Endpoint == "embeddings"
	for _, n := range named {
		m := cat.Find(n)
		if m == nil {
			return fmt.Sprintf("the decision names %q, which is not in the catalog", n)
		}
		if (m.Kind == ModelEmbedding) != wantEmbedding {
			return fmt.Sprintf("the decision names %q, which cannot serve %s", n, req.Endpoint)
		}
	}
	if len(d.Providers) == 0 {
		return ""
	}
	names = append(names, d.Fallbacks...)
	for _, n := range names {
		if m := cat.Find(n); m != nil && slices.Contains(d.Providers, m.Provider) {
			return ""
		}
	}
	return "no candidate is left after the decision's providers"
}
