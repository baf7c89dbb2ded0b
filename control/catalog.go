package control

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Model kinds.
const (
	ModelChat      = "chat"
	ModelEmbedding = "embedding"
)

// Model is one catalog entry. Prices are micro-dollars per million tokens,
// so a price of 150000 is $0.15 per million.
type Model struct {
	// ID is the public name, "provider/model".
	ID string `json:"id"`
	// Provider serves the model; default: ID's prefix.
	Provider string `json:"provider"`
	// Upstream is the provider's own name; default: ID without the prefix.
	Upstream string `json:"upstream"`
	// Kind is ModelChat (default) or ModelEmbedding.
	Kind          string `json:"kind"`
	ContextLength int    `json:"context_length"`
	InputPrice    int64  `json:"input_price"`
	OutputPrice   int64  `json:"output_price"`
	// CachedInputPrice applies to prompt tokens read from a cache; 0 means
	// the input price.
	CachedInputPrice int64 `json:"cached_input_price"`
}

// Catalog is the model catalog at one version. Every change an operator
// makes bumps Version, so edges can tell when to refresh.
type Catalog struct {
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	Models    []Model   `json:"models"`
}

// Find returns the model with id, or nil.
func (c *Catalog) Find(id string) *Model {
	for i := range c.Models {
		if c.Models[i].ID == id {
			return &c.Models[i]
		}
	}
	return nil
}

// Tokens are a request's disjoint token counts, as the edge reports them:
// Input excludes cached and cache-write tokens; Output includes reasoning.
type Tokens struct {
	Input, CachedInput, CacheWrite, Output int64
}

// Cost is the price of t in micro-dollars. It is the edge's formula, so the
// two sides agree: cache writes are priced as input, and the result is
// rounded up so that many small requests never undercharge by truncation.
func (m *Model) Cost(t Tokens) int64 {
	cached := m.CachedInputPrice
	if cached == 0 {
		cached = m.InputPrice
	}
	nano := (t.Input+t.CacheWrite)*m.InputPrice + t.CachedInput*cached + t.Output*m.OutputPrice
	return (nano + 999_999) / 1_000_000
}

// maxPrice is $10,000 per million tokens, some fifteen times the dearest
// price today. With tokens bounded by maxTokens, the sum Cost computes
// stays under 4e18, inside int64.
const maxPrice = 10_000 * 1_000_000

// normalize fills defaults and validates an operator's model edit.
func (m *Model) normalize() error {
	if err := checkIdent("id", m.ID, maxModelIDLen); err != nil {
		return err
	}
	prefix, rest, ok := strings.Cut(m.ID, "/")
	if !ok || prefix == "" || rest == "" {
		return Errorf(EINVALID, `id must look like "provider/model"`)
	}
	if m.Provider == "" {
		m.Provider = prefix
	}
	if m.Upstream == "" {
		m.Upstream = rest
	}
	if m.Kind == "" {
		m.Kind = ModelChat
	}
	if err := checkIdent("provider", m.Provider, 64); err != nil {
		return err
	}
	if err := checkIdent("upstream", m.Upstream, maxModelIDLen); err != nil {
		return err
	}
	if m.Kind != ModelChat && m.Kind != ModelEmbedding {
		return Errorf(EINVALID, "kind must be %q or %q", ModelChat, ModelEmbedding)
	}
	if m.ContextLength < 0 || m.ContextLength > 1<<30 {
		return Errorf(EINVALID, "context_length is out of range")
	}
	for _, p := range []int64{m.InputPrice, m.OutputPrice, m.CachedInputPrice} {
		if p < 0 || p > maxPrice {
			return Errorf(EINVALID, "prices must be between 0 and %d micro-dollars per million tokens", int64(maxPrice))
		}
	}
	return nil
}

//go:embed catalog.json
var seedCatalog []byte

// DefaultCatalog returns the models a new database starts with (the same
// models and prices the edge ships in worker/setup/default.json).
func DefaultCatalog() []Model {
	var models []Model
	dec := json.NewDecoder(bytes.NewReader(seedCatalog))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&models); err != nil {
		panic(fmt.Sprintf("control: embedded catalog: %v", err))
	}
	for i := range models {
		if err := models[i].normalize(); err != nil {
			panic(fmt.Sprintf("control: embedded catalog: %s: %v", models[i].ID, err))
		}
	}
	return models
}
