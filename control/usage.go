package control

import (
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// Pricing sources of a usage record's cost.
const (
	// PricedByCatalog: the control catalog's price of the served model.
	PricedByCatalog = "catalog"
	// PricedByEdge: the catalog does not know the model (an operator
	// removed it while edges still served it), so the edge's own estimate
	// is charged rather than nothing; operators can find these rows.
	PricedByEdge = "edge"
)

// UsageRecord is a stored usage record: the edge's metadata plus what the
// control service made of it. It holds no request or response content.
type UsageRecord struct {
	edgeapi.UsageRecord
	// CostMicros is what the account was charged.
	CostMicros int64 `json:"cost_micros"`
	// PricedBy is PricedByCatalog or PricedByEdge.
	PricedBy string `json:"priced_by"`
	// EdgeID names the edge that reported the record.
	EdgeID string `json:"edge_id,omitempty"`
	// IngestID ties the record to the ledger entry that charged it.
	IngestID   string    `json:"ingest_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// Usage groupings.
const (
	GroupByDay   = "day"
	GroupByModel = "model"
	GroupByKey   = "key"
)

// UsageQuery selects usage records for aggregation: those started in
// [From, To).
type UsageQuery struct {
	// AccountID limits the query to one account; empty means all accounts
	// (operators only).
	AccountID string
	From, To  time.Time
	// GroupBy is GroupByDay (UTC days), GroupByModel (the served model) or
	// GroupByKey.
	GroupBy string
}

// UsageAggregate sums the records of one group.
type UsageAggregate struct {
	// Group is the day ("2006-01-02"), model id or key id.
	Group             string `json:"group"`
	Requests          int64  `json:"requests"`
	InputTokens       int64  `json:"input_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	CacheWriteTokens  int64  `json:"cache_write_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	ReasoningTokens   int64  `json:"reasoning_tokens"`
	CostMicros        int64  `json:"cost_micros"`
}

// UsageCell is the usage of one day, model and key.
type UsageCell struct {
	Day   string // "2006-01-02", UTC
	Model string // served model, else the requested one
	KeyID string
	UsageAggregate
}

// UsageBreakdown is an account's usage over a range three ways at once, as
// a usage page shows it; each list is in ascending order of its group.
type UsageBreakdown struct {
	ByDay, ByModel, ByKey []UsageAggregate
	Total                 UsageAggregate
	// Models and KeyIDs are every model and key with usage in the range,
	// in ascending order, whatever the filter (the choices a page offers).
	Models, KeyIDs []string
}

func (a *UsageAggregate) add(b *UsageAggregate) {
	a.Requests += b.Requests
	a.InputTokens += b.InputTokens
	a.CachedInputTokens += b.CachedInputTokens
	a.CacheWriteTokens += b.CacheWriteTokens
	a.OutputTokens += b.OutputTokens
	a.ReasoningTokens += b.ReasoningTokens
	a.CostMicros += b.CostMicros
}

// UsageReport is an aggregate query's answer, with the range and grouping
// it was computed for.
type UsageReport struct {
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	GroupBy string           `json:"group_by"`
	Data    []UsageAggregate `json:"data"`
	Total   UsageAggregate   `json:"total"`
}

// Bounds on what an edge may report. Tokens per count are capped at 100
// million (ten times the largest context window today) so that pricing
// cannot overflow (see maxPrice).
const (
	maxRequestIDLen = 128
	maxKeyIDLen     = 64
	maxShortText    = 64
	maxTokens       = 100_000_000
	maxDurationMs   = 24 * 60 * 60 * 1000
	maxAttempts     = 100
	maxTags         = 16
	maxTagKeyLen    = 64
	maxTagValueLen  = 256
	// maxFutureSkew tolerates edge clocks running ahead of ours.
	maxFutureSkew = time.Hour
	// maxUsageRange bounds an aggregate query's span.
	maxUsageRange = 400 * 24 * time.Hour
)

// Endpoints the edge reports.
var knownEndpoints = map[string]bool{
	"chat.completions": true,
	"messages":         true,
	"embeddings":       true,
	"other":            true,
}

// checkUsageRecord validates one record from an edge. The reason it returns
// goes back to the edge; like every message here it names fields, never
// values.
func checkUsageRecord(r *edgeapi.UsageRecord, now time.Time) error {
	if err := checkIdent("request_id", r.RequestID, maxRequestIDLen); err != nil {
		return err
	}
	if err := checkIdent("key_id", r.KeyID, maxKeyIDLen); err != nil {
		return err
	}
	if err := checkIdent("account_id", r.AccountID, maxKeyIDLen); err != nil {
		return err
	}
	if r.StartedAt.IsZero() {
		return Errorf(EINVALID, "started_at is required")
	}
	if r.StartedAt.After(now.Add(maxFutureSkew)) {
		return Errorf(EINVALID, "started_at is in the future")
	}
	if r.StartedAt.Year() < 2000 {
		return Errorf(EINVALID, "started_at is out of range")
	}
	if !knownEndpoints[r.Endpoint] {
		return Errorf(EINVALID, "endpoint is unknown")
	}
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"model", r.Model, maxModelIDLen},
		{"served_model", r.ServedModel, maxModelIDLen},
		{"provider", r.Provider, maxShortText},
		{"error_type", r.ErrorType, maxShortText},
		{"finish_reason", r.FinishReason, maxShortText},
	} {
		if f.value == "" {
			continue
		}
		if err := checkIdent(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if r.Status < 100 || r.Status > 599 {
		return Errorf(EINVALID, "status is not an HTTP status")
	}
	for _, f := range []struct {
		name  string
		value int
	}{
		{"input_tokens", r.InputTokens},
		{"cached_input_tokens", r.CachedInputTokens},
		{"cache_write_tokens", r.CacheWriteTokens},
		{"output_tokens", r.OutputTokens},
		{"reasoning_tokens", r.ReasoningTokens},
	} {
		if f.value < 0 || f.value > maxTokens {
			return Errorf(EINVALID, "%s is out of range", f.name)
		}
	}
	if r.LatencyMs < 0 || r.LatencyMs > maxDurationMs {
		return Errorf(EINVALID, "latency_ms is out of range")
	}
	if r.TTFBMs < 0 || r.TTFBMs > maxDurationMs {
		return Errorf(EINVALID, "ttfb_ms is out of range")
	}
	if r.Attempts < 0 || r.Attempts > maxAttempts {
		return Errorf(EINVALID, "attempts is out of range")
	}
	if r.EdgeCostMicros < 0 || r.EdgeCostMicros > maxSpendCap {
		return Errorf(EINVALID, "edge_cost_micros is out of range")
	}
	if len(r.Tags) > maxTags {
		return Errorf(EINVALID, "more than %d tags", maxTags)
	}
	for k, v := range r.Tags {
		if err := checkIdent("tag name", k, maxTagKeyLen); err != nil {
			return err
		}
		if err := checkText("tag value", v, maxTagValueLen, false); err != nil {
			return err
		}
	}
	return nil
}
