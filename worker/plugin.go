package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Plugins runs tenants' routing plugins (plugins/ABI.md). The gateway asks
// it once per request of a key that names a plugin, after authentication
// and limits and before it picks candidates. The gateway checks the
// decision itself, so implementations need not.
type Plugins interface {
	// Route runs the plugin whose module has the hex SHA-256 hash, on
	// behalf of tenant (the account id). Any error is a plugin failure and
	// falls under the key's fail policy; wrap it in a *PluginError to say
	// what kind.
	//
	// When req.Body is set the plugin sees request content, so the
	// plugin's log lines (sy.log) of that call, and of every later call
	// of the module's instances for tenant, must not reach the operator's
	// log (ABI.md, "Request content"): the instances may keep what they
	// read.
	Route(ctx context.Context, hash, tenant string, req *abi.RouteRequest) (*abi.RouteDecision, error)
}

// PluginError classifies a plugin failure. The usage record's plugin_error
// tag and the failure metric carry Kind and nothing else: the failure's own
// text may come from the plugin, which could put anything there.
type PluginError struct {
	// Kind is a short lower-case word (trap, timeout, unavailable…) chosen
	// by the runtime, never by the plugin.
	Kind string
	Err  error
}

func (e *PluginError) Error() string { return "plugin " + e.Kind + ": " + e.Err.Error() }
func (e *PluginError) Unwrap() error { return e.Err }

// Plugin failure kinds the gateway itself reports.
const (
	// PluginUnavailable: the module could not be fetched or loaded, or
	// this edge runs no plugins.
	PluginUnavailable = "unavailable"
	// PluginInvalidDecision: the decision broke the rules of ABI.md.
	PluginInvalidDecision = "invalid_decision"
	// pluginFailed is the kind of errors that carry none.
	pluginFailed = "failed"
)

// TagPluginError is the usage tag of a request whose plugin failed; its
// value is the failure's kind.
const TagPluginError = "plugin_error"

// Bounds on what a plugin sees of the request headers, which keep the
// RouteRequest far under its 1 MiB limit whatever the client sends.
const (
	maxPluginHeaders     = 32
	maxPluginHeaderValue = 1024
)

// secretHeaders are never shown to a plugin, even if the tenant listed
// them: they carry the API key or a session, which usage tags or plugin
// logs could then leak.
var secretHeaders = []string{"authorization", "proxy-authorization", "x-api-key", "cookie"}

// route lists the candidates to try: the client's choice, as the tenant's
// routing plugin amends it when the key has one.
func (c *call) route(key *Key, rt *routing) ([]*Model, *chat.Error) {
	g := c.g
	cands, cerr := g.candidates(key, rt.names, rt.kind, rt.prefs)
	if key.PluginHash == "" {
		return cands, cerr
	}
	d, err := c.callPlugin(key, rt, cands)
	if err != nil {
		if c.req.ctx().Err() != nil {
			return nil, &chat.Error{Status: StatusClientClosed, Type: chat.TypeInvalidRequest, Message: "client closed the request", Cause: err}
		}
		return c.pluginFailed(key, err, cands, cerr)
	}
	if d.Action == abi.ActionReject {
		g.metrics.pluginCall(abi.ActionReject)
		return nil, rejection(d)
	}
	out, clientErr, err := c.applyDecision(key, rt, d, cands, cerr)
	if err != nil {
		return c.pluginFailed(key, err, cands, cerr)
	}
	g.metrics.pluginCall(abi.ActionRoute)
	return out, clientErr
}

func (c *call) callPlugin(key *Key, rt *routing, cands []*Model) (*abi.RouteDecision, error) {
	if c.g.cfg.Plugins == nil {
		return nil, &PluginError{Kind: PluginUnavailable, Err: errors.New("this edge runs no plugins")}
	}
	d, err := c.g.cfg.Plugins.Route(c.req.ctx(), key.PluginHash, key.AccountID, c.routeRequest(key, rt, cands))
	switch {
	case err != nil:
		return nil, err
	case d == nil:
		return nil, invalidDecision("no decision")
	}
	if err := d.Check(); err != nil {
		return nil, &PluginError{Kind: PluginInvalidDecision, Err: err}
	}
	return d, nil
}

func invalidDecision(msg string) error {
	return &PluginError{Kind: PluginInvalidDecision, Err: errors.New(msg)}
}

// applyDecision turns a route decision into candidates. A decision naming
// a model the key cannot use, or leaving no candidate, is the plugin's
// failure (err). An error left in the client's own request, such as an
// unknown model among the fallbacks the plugin kept, stays the client's
// (clientErr). Headers and tags take effect only for a valid decision.
func (c *call) applyDecision(key *Key, rt *routing, d *abi.RouteDecision, cands []*Model, cerr *chat.Error) ([]*Model, *chat.Error, error) {
	g := c.g
	if d.Model != "" || d.Fallbacks != nil {
		names := slices.Clone(rt.names)
		if d.Model != "" {
			names[0] = d.Model
			if err := c.usable(key, d.Model, rt.kind); err != nil {
				return nil, nil, err
			}
		}
		if d.Fallbacks != nil {
			names = append(names[:1], d.Fallbacks...)
			for _, name := range d.Fallbacks {
				if err := c.usable(key, name, rt.kind); err != nil {
					return nil, nil, err
				}
			}
		}
		cands, cerr = g.candidates(key, names, rt.kind, rt.prefs)
	}
	if cerr == nil && len(d.Providers) > 0 {
		cands = g.applyPrefs(cands, &ProviderPrefs{Only: d.Providers, Order: d.Providers})
		if len(cands) == 0 {
			return nil, nil, invalidDecision("no candidate is left after providers")
		}
	}
	c.pluginHdr = decisionHeaders(d.Headers)
	if len(d.Tags) > 0 {
		c.rec.Tags = maps.Clone(d.Tags)
	}
	return cands, cerr, nil
}

// usable checks a model a decision names: known, right for the endpoint,
// and allowed for the key. An alias counts as allowed when the key may use
// one of its models, as it does when a client names it. The messages name
// no model: they may be logged, and the name came from the plugin.
func (c *call) usable(key *Key, name, kind string) error {
	ms := c.g.catalog().expand(name)
	if len(ms) == 0 {
		return invalidDecision("the decision names a model that is not in the catalog")
	}
	allowed := false
	for _, m := range ms {
		if m.Kind != kind {
			return invalidDecision("the decision names a model that cannot serve this endpoint")
		}
		allowed = allowed || key.Allows(m.ID)
	}
	if !allowed {
		return invalidDecision("the decision names a model the key may not use")
	}
	return nil
}

// pluginFailed applies the key's fail policy: closed refuses the request,
// open routes it as if there were no plugin. Either way the usage record
// says the plugin failed.
func (c *call) pluginFailed(key *Key, err error, cands []*Model, cerr *chat.Error) ([]*Model, *chat.Error) {
	kind := pluginErrorKind(err)
	policy := abi.FailOpen
	if key.PluginFailClosed {
		policy = abi.FailClosed
	}
	c.g.metrics.pluginFailure(kind, policy)
	c.rec.Tags = map[string]string{TagPluginError: kind}
	// Only the kind is logged: the error's text may come from the plugin.
	c.g.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "plugin failed",
		slog.String("request_id", c.rec.RequestID), slog.String("account_id", key.AccountID),
		slog.String("plugin", key.PluginHash), slog.String("kind", kind), slog.String("fail", policy))
	if key.PluginFailClosed {
		e := chat.Errorf(http.StatusServiceUnavailable, chat.TypeServer,
			"the account's routing plugin failed, and its policy is to refuse requests then; the request was not sent")
		e.Code = "plugin_failed"
		return nil, e
	}
	return cands, cerr
}

// pluginErrorKind reads a failure's kind, keeping it a bounded label.
func pluginErrorKind(err error) string {
	var pe *PluginError
	if !errors.As(err, &pe) || pe.Kind == "" || len(pe.Kind) > 32 {
		return pluginFailed
	}
	for i := 0; i < len(pe.Kind); i++ {
		if c := pe.Kind[i]; (c < 'a' || c > 'z') && c != '_' {
			return pluginFailed
		}
	}
	return pe.Kind
}

// rejectTypes gives a rejection the error type its status usually has.
var rejectTypes = map[int]string{
	http.StatusUnauthorized:          chat.TypeAuthentication,
	http.StatusPaymentRequired:       chat.TypeInsufficient,
	http.StatusForbidden:             chat.TypePermission,
	http.StatusNotFound:              chat.TypeNotFound,
	http.StatusRequestEntityTooLarge: chat.TypeTooLarge,
	http.StatusTooManyRequests:       chat.TypeRateLimit,
}

func rejection(d *abi.RouteDecision) *chat.Error {
	status := d.RejectStatus()
	typ, ok := rejectTypes[status]
	if !ok {
		typ = chat.TypeInvalidRequest
	}
	msg := d.Message
	if msg == "" {
		msg = "the account's routing policy refused this request"
	}
	e := chat.Errorf(status, typ, "%s", msg)
	e.Code = "plugin_rejected"
	return e
}

// decisionHeaders orders a decision's headers by name, so responses do not
// depend on map order.
func decisionHeaders(h map[string]string) [][2]string {
	if len(h) == 0 {
		return nil
	}
	out := make([][2]string, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		out = append(out, [2]string{k, h[k]})
	}
	return out
}

// withPluginHeaders appends the plugin's headers to h, except those the
// gateway already sets: X-Request-Id and the like are the gateway's word.
func withPluginHeaders(h, extra [][2]string) [][2]string {
	n := len(h)
	for _, kv := range extra {
		if !slices.ContainsFunc(h[:n], func(have [2]string) bool { return strings.EqualFold(have[0], kv[0]) }) {
			h = append(h, kv)
		}
	}
	return h
}

// routeRequest is what the plugin sees of the request: metadata, and the
// body when the tenant asked for it and it fits.
func (c *call) routeRequest(key *Key, rt *routing, cands []*Model) *abi.RouteRequest {
	g := c.g
	now := g.cfg.Now()
	var usable []*Model
	for _, m := range g.catalog().ordered {
		if m.Kind == rt.kind && key.Allows(m.ID) {
			usable = append(usable, m)
		}
	}
	req := &abi.RouteRequest{
		ABI:                  abi.Version,
		RequestID:            c.rec.RequestID,
		Tenant:               key.AccountID,
		KeyID:                key.ID,
		Endpoint:             c.ep.name,
		Model:                rt.names[0],
		Models:               append([]string{}, rt.names[1:]...),
		Stream:               c.stream,
		Edge:                 abi.Edge{Location: g.cfg.EdgeLocation, Country: c.clientCountry()},
		Headers:              pluginHeaders(c.req.Header, key.PluginHeaders),
		EstimatedInputTokens: len(c.req.Body) / 4,
		Candidates:           g.describe(cands, now),
		Catalog:              g.describe(usable, now),
	}
	if key.PluginBody {
		req.Body = bodyWithin(req, c.req.Body)
	}
	return req
}

// bodyWithin returns body for req's Body field, or nil when req would then
// be over ABI.md's RouteRequest limit: a plugin that asked for the body and
// gets null knows it was too large. The body is the client's, as sent
// (gateway fields such as models included); it is valid JSON, parse
// checked it. The bound counts what the host's JSON encoder adds to a raw
// value (it escapes <, >, & and U+2028/U+2029) and not the whitespace it
// removes, so it is never too small.
func bodyWithin(req *abi.RouteRequest, body []byte) abi.RawJSON {
	if len(body) == 0 || len(body) > abi.MaxRequestBytes {
		return nil
	}
	rest, err := json.Marshal(req)
	if err != nil || len(rest)-len("null")+encodedLen(body) > abi.MaxRequestBytes {
		return nil
	}
	return abi.RawJSON(body)
}

// encodedLen is len(b) after encoding/json's HTML-safe escaping.
func encodedLen(b []byte) int {
	n := len(b)
	for i, c := range b {
		switch {
		case c == '<' || c == '>' || c == '&':
			n += len(`\u003c`) - 1
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
			n += len(`\u2028`) - len("\u2028")
		}
	}
	return n
}

func (g *Gateway) describe(ms []*Model, now time.Time) []abi.Candidate {
	out := make([]abi.Candidate, len(ms))
	for i, m := range ms {
		out[i] = abi.Candidate{Model: m.ID, Provider: m.Provider, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice,
			ContextLength: m.ContextLength, Healthy: g.upstream.healthy(m.Provider, now),
			LatencyMs: g.upstream.latency(m.Provider).Milliseconds()}
	}
	return out
}

// clientCountry is the country the adapter vouches for, else, on an edge
// configured to trust it, Cloudflare's CF-IPCountry header. Elsewhere a
// client could claim any country with that header, and a plugin keeping
// EU traffic in the EU would believe it.
func (c *call) clientCountry() string {
	v := c.req.Country
	if v == "" && c.g.cfg.TrustCountryHeader {
		v = c.req.Header.Get("CF-IPCountry")
	}
	return countryCode(v)
}

// countryCode keeps an ISO 3166-1 alpha-2 code and drops Cloudflare's XX
// (unknown) and T1 (Tor), which are not countries.
func countryCode(v string) string {
	if len(v) != 2 || v == "XX" || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z' {
		return ""
	}
	return v
}

// pluginHeaders collects the x-sy- headers and those the tenant listed,
// names lower-cased.
func pluginHeaders(h HeaderGetter, listed []string) map[string]string {
	out := map[string]string{}
	add := func(name, value string) {
		name = strings.ToLower(name)
		if len(out) < maxPluginHeaders && len(value) <= maxPluginHeaderValue && !slices.Contains(secretHeaders, name) {
			out[name] = value
		}
	}
	eachHeader(h, func(name, value string) {
		if len(name) > 5 && strings.EqualFold(name[:5], "x-sy-") {
			add(name, value)
		}
	})
	for _, name := range listed {
		if v := h.Get(name); v != "" {
			add(name, v)
		}
	}
	return out
}

func eachHeader(h HeaderGetter, fn func(name, value string)) {
	switch h := h.(type) {
	case HeaderLister:
		h.EachHeader(fn)
	case http.Header:
		for name, values := range h {
			if len(values) > 0 {
				fn(name, values[0])
			}
		}
	}
}
