// Package controlclient connects the edge to the control service's edge API:
// a KeyResolver with an in-memory cache and a UsageSink that batches usage
// records, retries, and spills to a local file so none is lost while the
// control service is away.
//
// It speaks HTTP through worker.Upstream, so the same code runs on the
// native edge (fasthttp or net/http) and inside workerd (fetch).
package controlclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Conn is an authenticated connection to the control service's edge API.
type Conn struct {
	base  string
	auth  string
	http  worker.Upstream
	maxRx int64
}

// NewConn returns a connection; it does no I/O. baseURL is the control
// service's root (for example http://127.0.0.1:8081).
func NewConn(baseURL, edgeToken string, up worker.Upstream) *Conn {
	return &Conn{base: strings.TrimRight(baseURL, "/"), auth: "Bearer " + edgeToken, http: up, maxRx: 8 << 20}
}

// StatusError is a non-2xx answer from the control service.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("control service answered %d: %s", e.Status, e.Message)
}

// do sends a request and decodes a JSON answer into out.
func (c *Conn) do(ctx context.Context, method, path string, body []byte, out any) error {
	h := [][2]string{{"Authorization", c.auth}, {"Accept", "application/json"}}
	if body != nil {
		h = append(h, [2]string{"Content-Type", "application/json"})
	}
	resp, err := c.http.Do(ctx, &chat.HTTPRequest{Method: method, URL: c.base + path, Header: h, Body: body})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxRx))
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		var e edgeapi.Error
		_ = json.Unmarshal(b, &e)
		return &StatusError{Status: resp.Status, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Snapshot fetches a key's snapshot by the hex SHA-256 of its secret. An
// unknown key is a *StatusError with status 404.
func (c *Conn) Snapshot(ctx context.Context, hash string) (*edgeapi.KeySnapshot, error) {
	var s edgeapi.KeySnapshot
	if err := c.do(ctx, http.MethodGet, "/edge/v1/keys/"+hash, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SendUsage posts one batch.
func (c *Conn) SendUsage(ctx context.Context, batch *edgeapi.UsageBatch) (*edgeapi.UsageResult, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return nil, err
	}
	var res edgeapi.UsageResult
	if err := c.do(ctx, http.MethodPost, "/edge/v1/usage", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Catalog fetches the model catalog.
func (c *Conn) Catalog(ctx context.Context) (*edgeapi.Catalog, error) {
	var cat edgeapi.Catalog
	if err := c.do(ctx, http.MethodGet, "/edge/v1/catalog", nil, &cat); err != nil {
		return nil, err
	}
	return &cat, nil
}

// MaxPluginBytes bounds a plugin module fetched from the control service:
// the native edge's module size limit (plugins/ABI.md, "Limits").
const MaxPluginBytes = 16 << 20

// Plugin fetches a routing plugin's module by the hex SHA-256 of its
// bytes, and checks that the bytes have that hash. An unknown module is a
// *StatusError with status 404.
func (c *Conn) Plugin(ctx context.Context, hash string) ([]byte, error) {
	resp, err := c.http.Do(ctx, &chat.HTTPRequest{Method: http.MethodGet, URL: c.base + "/edge/v1/plugins/" + hash,
		Header: [][2]string{{"Authorization", c.auth}, {"Accept", "application/wasm"}}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxPluginBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		var e edgeapi.Error
		_ = json.Unmarshal(b, &e)
		return nil, &StatusError{Status: resp.Status, Message: e.Error.Message}
	}
	if len(b) > MaxPluginBytes {
		return nil, fmt.Errorf("plugin %s is larger than %d bytes", hash, MaxPluginBytes)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hash {
		return nil, fmt.Errorf("plugin %s: the bytes received do not have that hash", hash)
	}
	return b, nil
}

// WireRecord converts a gateway usage record to the edge API's form.
func WireRecord(r *worker.UsageRecord) edgeapi.UsageRecord {
	return edgeapi.UsageRecord{
		RequestID:         r.RequestID,
		KeyID:             r.KeyID,
		AccountID:         r.AccountID,
		StartedAt:         r.StartedAt.UTC(),
		Endpoint:          r.Endpoint,
		Model:             r.Model,
		ServedModel:       r.ServedModel,
		Provider:          r.Provider,
		Stream:            r.Stream,
		Status:            r.Status,
		ErrorType:         r.ErrorType,
		FinishReason:      r.FinishReason,
		InputTokens:       r.Tokens.Input,
		CachedInputTokens: r.Tokens.CachedInput,
		CacheWriteTokens:  r.Tokens.CacheWrite,
		OutputTokens:      r.Tokens.Output,
		ReasoningTokens:   r.Tokens.Reasoning,
		Estimated:         r.Estimated,
		LatencyMs:         r.Latency.Milliseconds(),
		TTFBMs:            r.TTFB.Milliseconds(),
		Attempts:          r.Attempts,
		Tags:              r.Tags,
		EdgeCostMicros:    r.CostMicros,
	}
}

// CatalogModels converts the control service's catalog into the gateway's
// models, keeping those whose provider this edge has (has reports that).
func CatalogModels(cat *edgeapi.Catalog, has func(provider string) bool) []worker.Model {
	out := make([]worker.Model, 0, len(cat.Models))
	for _, m := range cat.Models {
		if !has(m.Provider) {
			continue
		}
		out = append(out, worker.Model{
			ID: m.ID, Provider: m.Provider, Upstream: m.Upstream, Kind: m.Kind, ContextLength: m.ContextLength,
			InputPrice: m.InputPrice, OutputPrice: m.OutputPrice, CachedInputPrice: m.CachedInputPrice,
		})
	}
	return out
}
