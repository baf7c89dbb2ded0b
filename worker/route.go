package worker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// ProviderPrefs is the OpenRouter-style "provider" request object.
type ProviderPrefs struct {
	// Order tries these providers first, in this order.
	Order []string `json:"order,omitempty"`
	// Only keeps candidates from these providers.
	Only []string `json:"only,omitempty"`
	// Ignore drops candidates from these providers.
	Ignore []string `json:"ignore,omitempty"`
	// AllowFallbacks false keeps only the first candidate. Default true.
	AllowFallbacks *bool `json:"allow_fallbacks,omitempty"`
	// Sort orders candidates by "price" or "latency" before Order applies.
	Sort string `json:"sort,omitempty"`
}

func parsePrefs(raw []byte) (*ProviderPrefs, *chat.Error) {
	var p ProviderPrefs
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, chat.BadRequest("provider", "provider must be an object with order, only, ignore, allow_fallbacks, sort: %v", err)
	}
	switch p.Sort {
	case "", "price", "latency":
	default:
		return nil, chat.BadRequest("provider.sort", `provider.sort must be "price" or "latency"`)
	}
	return &p, nil
}

// candidates lists the catalog models to try, in order: the requested model
// (or alias expansion), then each entry of models, filtered by the key's
// allowance and the provider preferences.
func (g *Gateway) candidates(key *Key, names []string, kind string, prefs *ProviderPrefs) ([]*Model, *chat.Error) {
	var out []*Model
	for i, name := range names {
		ms := g.catalog().expand(name)
		if len(ms) == 0 {
			param := "model"
			if i > 0 {
				param = "models"
			}
			e := chat.Errorf(http.StatusNotFound, chat.TypeNotFound, "model %q does not exist; GET /v1/models lists the available ones", truncate(name, 100))
			e.Param, e.Code = param, "model_not_found"
			return nil, e
		}
		for _, m := range ms {
			if m.Kind != kind {
				return nil, chat.BadRequest("model", "model %q is a %s model and cannot serve this endpoint", m.ID, m.Kind)
			}
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	allowed := out[:0:0]
	for _, m := range out {
		if key.Allows(m.ID) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		e := chat.Errorf(http.StatusForbidden, chat.TypePermission, "this API key may not use model %q", out[0].ID)
		e.Code = "model_not_allowed"
		return nil, e
	}
	out = allowed
	if prefs != nil {
		out = g.applyPrefs(out, prefs)
		if len(out) == 0 {
			return nil, chat.BadRequest("provider", "no provider is left for this model after the provider preferences")
		}
	}
	return out, nil
}

func (g *Gateway) applyPrefs(ms []*Model, p *ProviderPrefs) []*Model {
	kept := make([]*Model, 0, len(ms))
	for _, m := range ms {
		if len(p.Only) > 0 && !slices.Contains(p.Only, m.Provider) {
			continue
		}
		if slices.Contains(p.Ignore, m.Provider) {
			continue
		}
		kept = append(kept, m)
	}
	switch p.Sort {
	case "price":
		sort.SliceStable(kept, func(i, j int) bool {
			return kept[i].InputPrice+kept[i].OutputPrice < kept[j].InputPrice+kept[j].OutputPrice
		})
	case "latency":
		sort.SliceStable(kept, func(i, j int) bool {
			return g.upstream.latency(kept[i].Provider) < g.upstream.latency(kept[j].Provider)
		})
	}
	if len(p.Order) > 0 {
		rank := func(m *Model) int {
			if i := slices.Index(p.Order, m.Provider); i >= 0 {
				return i
			}
			return len(p.Order)
		}
		sort.SliceStable(kept, func(i, j int) bool { return rank(kept[i]) < rank(kept[j]) })
	}
	if p.AllowFallbacks != nil && !*p.AllowFallbacks && len(kept) > 1 {
		kept = kept[:1]
	}
	return kept
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// upstreamStats keeps, per provider, a moving average of time to first
// byte, for sort=latency, and when its last attempt failed, so that plugins
// see the provider as unhealthy for a while. Providers never measured sort
// as fastest so they get tried and measured.
type upstreamStats struct {
	mu       sync.Mutex
	ewma     map[string]time.Duration
	failedAt map[string]time.Time
}

// unhealthyFor is how long a failed attempt marks its provider unhealthy,
// unless an attempt succeeds sooner.
const unhealthyFor = 30 * time.Second

func newUpstreamStats() *upstreamStats {
	return &upstreamStats{ewma: make(map[string]time.Duration), failedAt: make(map[string]time.Time)}
}

// observe records a successful attempt that took d to its first byte.
func (t *upstreamStats) observe(provider string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.ewma[provider]; ok {
		d = (old*4 + d) / 5
	}
	t.ewma[provider] = d
	if len(t.failedAt) > 0 {
		delete(t.failedAt, provider)
	}
}

// failed records an attempt that failed for the provider's sake.
func (t *upstreamStats) failed(provider string, at time.Time) {
	t.mu.Lock()
	t.failedAt[provider] = at
	t.mu.Unlock()
}

func (t *upstreamStats) latency(provider string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ewma[provider]
}

func (t *upstreamStats) healthy(provider string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, failed := t.failedAt[provider]
	return !failed || now.Sub(at) >= unhealthyFor
}
