package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Model is one entry of the model catalog.
type Model struct {
	// ID is the public name, "provider/model".
	ID string `json:"id"`
	// Provider names the upstream serving it.
	Provider string `json:"provider"`
	// Upstream is the model name the provider knows; default: ID without
	// the provider prefix.
	Upstream string `json:"upstream,omitempty"`
	// Kind is "chat" (default) or "embedding".
	Kind string `json:"kind,omitempty"`
	// ContextLength in tokens; 0 when unknown.
	ContextLength int `json:"context_length,omitempty"`
	// Prices in micro-dollars per million tokens.
	InputPrice       int64 `json:"input_price,omitempty"`
	OutputPrice      int64 `json:"output_price,omitempty"`
	CachedInputPrice int64 `json:"cached_input_price,omitempty"`
}

// Cost is the price of t in micro-dollars, rounded up so that the sum of
// many small requests never undercharges by truncation. Cache writes are
// priced as input.
func (m *Model) Cost(t chat.Tokens) int64 {
	cached := m.CachedInputPrice
	if cached == 0 {
		cached = m.InputPrice
	}
	nano := int64(t.Input+t.CacheWrite)*m.InputPrice + int64(t.CachedInput)*cached + int64(t.Output)*m.OutputPrice
	return (nano + 999_999) / 1_000_000
}

// Config is the gateway's configuration. It is validated by New and must not
// be changed afterwards.
type Config struct {
	// Providers by name. Required.
	Providers []chat.Provider
	// Models is the catalog. Required.
	Models []Model
	// Aliases map a public name to an ordered list of model ids, tried in
	// order as fallbacks. Default none.
	Aliases map[string][]string
	// Keys resolves API keys. Required.
	Keys KeyResolver
	// Usage receives one record per request. Default: discard.
	Usage UsageSink
	// Upstream carries upstream calls. Required.
	Upstream Upstream
	// Logger gets one line per request, metadata only. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies. Default 10 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds a whole request before its first response byte,
	// every retry and fallback included. Default 120s.
	RequestTimeout time.Duration
	// StreamIdleTimeout ends a stream when the upstream sends nothing for
	// this long. Default 120s.
	StreamIdleTimeout time.Duration
	// ProviderTimeouts bound a single upstream attempt until its response
	// headers, per provider name. Default 60s.
	ProviderTimeouts map[string]time.Duration
	// MaxAttempts is the number of tries per candidate (1 = no retry).
	// Default 2.
	MaxAttempts int
	// RetryBackoff is the base of the jittered exponential backoff.
	// Default 200ms.
	RetryBackoff time.Duration
	// TopUpURL is shown in the 402 answer when an account has no credit.
	// Default none.
	TopUpURL string
	// Plugins runs tenants' routing plugins for keys that name one.
	// Default nil: plugins are not run, and keys whose plugin is fail-closed
	// are refused rather than routed around their tenant's policy.
	Plugins Plugins
	// AuthFailuresPerMinute is how many failed authentications one client
	// address may make per minute (as a burst, refilled continuously)
	// before all its attempts get 429 until it refills. Default 30;
	// negative disables.
	AuthFailuresPerMinute int
	// EdgeLocation names where this edge runs (a Cloudflare colo, or the
	// operator's name for a native edge); plugins see it. Default empty.
	EdgeLocation string
	// TrustCountryHeader lets the CF-IPCountry request header tell plugins
	// the client's country, for an edge that only Cloudflare can reach
	// (which sets the header and drops a client's own). Default false: any
	// client can send the header, so it is ignored, and plugins see the
	// country only when the adapter sets Request.Country.
	TrustCountryHeader bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Usage == nil {
		c.Usage = UsageSinkFunc(func(*UsageRecord) {})
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 120 * time.Second
	}
	if c.StreamIdleTimeout == 0 {
		c.StreamIdleTimeout = 120 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 2
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AuthFailuresPerMinute == 0 {
		c.AuthFailuresPerMinute = 30
	}
}

// catalog is the validated, indexed form of Config's models.
type catalog struct {
	models    map[string]*Model
	ordered   []*Model
	providers map[string]chat.Provider
	aliases   map[string][]string
}

func newCatalog(c *Config) (*catalog, error) {
	cat := &catalog{
		models:    make(map[string]*Model, len(c.Models)),
		providers: make(map[string]chat.Provider, len(c.Providers)),
		aliases:   c.Aliases,
	}
	var errs []error
	for _, p := range c.Providers {
		if _, dup := cat.providers[p.Name()]; dup {
			errs = append(errs, fmt.Errorf("provider %q configured twice", p.Name()))
		}
		cat.providers[p.Name()] = p
	}
	for i := range c.Models {
		m := c.Models[i]
		prefix, rest, ok := strings.Cut(m.ID, "/")
		switch {
		case !ok || prefix == "" || rest == "":
			errs = append(errs, fmt.Errorf("model %q: id must be provider/model", m.ID))
			continue
		case cat.models[m.ID] != nil:
			errs = append(errs, fmt.Errorf("model %q listed twice", m.ID))
			continue
		}
		if m.Provider == "" {
			m.Provider = prefix
		}
		if m.Upstream == "" {
			m.Upstream = rest
		}
		if m.Kind == "" {
			m.Kind = "chat"
		}
		if m.Kind != "chat" && m.Kind != "embedding" {
			errs = append(errs, fmt.Errorf("model %q: kind must be chat or embedding", m.ID))
		}
		if cat.providers[m.Provider] == nil {
			errs = append(errs, fmt.Errorf("model %q: provider %q is not configured", m.ID, m.Provider))
		}
		cat.models[m.ID] = &m
		cat.ordered = append(cat.ordered, &m)
	}
	for name, ids := range c.Aliases {
		if cat.models[name] != nil {
			errs = append(errs, fmt.Errorf("alias %q shadows a model id", name))
		}
		for _, id := range ids {
			if cat.models[id] == nil {
				errs = append(errs, fmt.Errorf("alias %q: unknown model %q", name, id))
			}
		}
	}
	sort.Slice(cat.ordered, func(i, j int) bool { return cat.ordered[i].ID < cat.ordered[j].ID })
	return cat, errors.Join(errs...)
}

// expand resolves a requested name into catalog models.
func (c *catalog) expand(name string) []*Model {
	if m := c.models[name]; m != nil {
		return []*Model{m}
	}
	ids := c.aliases[name]
	out := make([]*Model, 0, len(ids))
	for _, id := range ids {
		out = append(out, c.models[id])
	}
	return out
}
