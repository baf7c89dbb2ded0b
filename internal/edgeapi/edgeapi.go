// Package edgeapi holds the wire types the edge and the control service
// exchange over the control service's edge API. It is the only package both
// sides import: worker/ never imports control/ and control/ never imports
// worker/.
//
// Routes (all under the control service, bearer edge token required):
//
//	GET  /edge/v1/keys/{sha256-hex}  → 200 KeySnapshot, 404 Error (unknown key)
//	GET  /edge/v1/plugins/{sha256-hex} → 200 module bytes, 404 Error
//	GET  /edge/v1/catalog            → 200 Catalog
//	POST /edge/v1/usage              → 200 UsageResult for a UsageBatch
//
// Keys are looked up by the hex SHA-256 of the secret, so the secret itself
// never travels past the edge.
package edgeapi

import "time"

// Key states.
const (
	KeyActive    = "active"
	KeyRevoked   = "revoked"
	KeyExpired   = "expired"
	KeySuspended = "suspended"
)

// Balance states.
const (
	BalanceOK        = "ok"
	BalanceLow       = "low"
	BalanceExhausted = "exhausted"
)

// KeySnapshot is everything the edge needs to authorise and limit a key.
type KeySnapshot struct {
	KeyID     string `json:"key_id"`
	AccountID string `json:"account_id"`
	// Status is one of the Key* states; only active keys are served.
	Status string `json:"status"`
	// AllowedModels restricts the key; empty allows every model.
	AllowedModels []string `json:"allowed_models,omitempty"`
	// ExpiresAt is when the key stops working; nil never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Limits    Limits     `json:"limits"`
	// PluginHash is the hex SHA-256 of the routing plugin that runs for
	// this key (the key's own activation, else the account's), empty when
	// none.
	PluginHash string `json:"plugin_hash,omitempty"`
	// PluginFail is the plugin's fail policy, abi.FailOpen ("open") or
	// abi.FailClosed ("closed"); empty means open.
	PluginFail string `json:"plugin_fail,omitempty"`
	// PluginHeaders are request headers, beyond the x-sy- ones, that the
	// tenant allowed the plugin to see; names lower-case.
	PluginHeaders []string `json:"plugin_headers,omitempty"`
	// PluginBody passes the request body to the plugin, as the tenant
	// asked at upload (plugins/ABI.md, RouteRequest.body).
	PluginBody bool `json:"plugin_body,omitempty"`
	// Balance is one of the Balance* states.
	Balance string `json:"balance"`
	// BalanceMicros is the account's credit balance in micro-dollars.
	BalanceMicros int64 `json:"balance_micros"`
	// MonthSpendMicros is what the key has spent this calendar month (UTC).
	MonthSpendMicros int64 `json:"month_spend_micros"`
}

// Limits are per-key limits; zero means unlimited.
type Limits struct {
	RequestsPerMinute     int   `json:"requests_per_minute,omitempty"`
	TokensPerMinute       int   `json:"tokens_per_minute,omitempty"`
	MonthlySpendCapMicros int64 `json:"monthly_spend_cap_micros,omitempty"`
}

// UsageRecord is the metadata of one request, as the edge reports it. It
// carries no content.
type UsageRecord struct {
	RequestID   string    `json:"request_id"`
	KeyID       string    `json:"key_id"`
	AccountID   string    `json:"account_id"`
	StartedAt   time.Time `json:"started_at"`
	Endpoint    string    `json:"endpoint"`
	Model       string    `json:"model,omitempty"`
	ServedModel string    `json:"served_model,omitempty"`
	Provider    string    `json:"provider,omitempty"`
	Stream      bool      `json:"stream"`
	Status      int       `json:"status"`
	ErrorType   string    `json:"error_type,omitempty"`
	// FinishReason is the canonical finish reason when known.
	FinishReason      string `json:"finish_reason,omitempty"`
	InputTokens       int    `json:"input_tokens"`
	CachedInputTokens int    `json:"cached_input_tokens"`
	CacheWriteTokens  int    `json:"cache_write_tokens"`
	OutputTokens      int    `json:"output_tokens"`
	ReasoningTokens   int    `json:"reasoning_tokens"`
	Estimated         bool   `json:"estimated"`
	LatencyMs         int64  `json:"latency_ms"`
	TTFBMs            int64  `json:"ttfb_ms"`
	Attempts          int    `json:"attempts"`
	// Tags are set by the tenant's routing plugin; short metadata only.
	Tags map[string]string `json:"tags,omitempty"`
	// EdgeCostMicros is the edge's own price estimate; the control service
	// recomputes cost from its catalog and keeps its own figure.
	EdgeCostMicros int64 `json:"edge_cost_micros,omitempty"`
}

// UsageBatch is a POST /edge/v1/usage body.
type UsageBatch struct {
	// EdgeID names the sending edge, for diagnostics.
	EdgeID  string        `json:"edge_id"`
	Records []UsageRecord `json:"records"`
}

// UsageResult reports per record what happened. A record already stored
// (same request id) counts as Duplicate and changes nothing, so a batch may
// be resent safely.
type UsageResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected,omitempty"`
}

// Rejection says why one record of a batch was refused; the rest of the
// batch is kept.
type Rejection struct {
	Index     int    `json:"index"`
	RequestID string `json:"request_id,omitempty"`
	Reason    string `json:"reason"`
}

// CatalogModel is one model with its prices in micro-dollars per million
// tokens.
type CatalogModel struct {
	ID               string `json:"id"`
	Provider         string `json:"provider"`
	Upstream         string `json:"upstream,omitempty"`
	Kind             string `json:"kind,omitempty"`
	ContextLength    int    `json:"context_length,omitempty"`
	InputPrice       int64  `json:"input_price"`
	OutputPrice      int64  `json:"output_price"`
	CachedInputPrice int64  `json:"cached_input_price,omitempty"`
}

// Catalog is the versioned model catalog.
type Catalog struct {
	Version int            `json:"version"`
	Models  []CatalogModel `json:"models"`
}

// Error is the edge API's error body.
type Error struct {
	Error struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}
