package worker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Request is an inbound request as the core sees it. Body is the whole body,
// already bounded by the adapter to Config.MaxBodyBytes. Header and Body may
// alias the adapter's buffers: the core reads them only until it answers or
// starts a stream.
type Request struct {
	Method string
	Path   string
	Header HeaderGetter
	Body   []byte
	// RemoteIP is the client address, used only for abuse controls.
	RemoteIP string
	// Country is the client's country (ISO 3166-1 alpha-2) as the platform
	// knows it, set by an adapter that can vouch for it (the Workers
	// adapter, from request.cf.country). Routing plugins see it; when set
	// it wins over the CF-IPCountry header. Empty: unknown.
	Country string
	// Context ends when the client goes away; nil means never.
	Context context.Context
}

func (r *Request) ctx() context.Context {
	if r.Context == nil {
		return context.Background()
	}
	return r.Context
}

// HeaderGetter reads a request header case-insensitively. http.Header
// satisfies it.
type HeaderGetter interface {
	Get(name string) string
}

// HeaderLister is an optional ability of a HeaderGetter. Routing plugins
// see every x-sy- header, which cannot be found by name alone; without it
// they see only the headers the tenant listed. http.Header needs no
// adapter: the gateway ranges over it directly.
type HeaderLister interface {
	// EachHeader calls fn for every header; a repeated header may be
	// reported once or once per value.
	EachHeader(fn func(name, value string))
}

// Responder answers one request. Exactly one of its methods is called, once.
// Neither keeps header after it returns.
type Responder interface {
	// Respond sends a complete response.
	Respond(status int, header [][2]string, body []byte)
	// Stream commits status and headers and calls fn to write the body in
	// pieces. Adapters may call fn after Stream returns (fasthttp does), so
	// the caller must not touch the response afterwards.
	Stream(status int, header [][2]string, fn func(StreamWriter))
}

// StreamWriter sends part of a streamed body to the client at once.
type StreamWriter interface {
	// Send writes p and flushes it. An error means the client is gone.
	Send(p []byte) error
}

// Upstream performs upstream HTTP calls. The response body must be read
// incrementally from the network, never buffered whole by the client.
type Upstream interface {
	Do(ctx context.Context, r *chat.HTTPRequest) (*UpstreamResponse, error)
}

// UpstreamResponse is an upstream answer whose body streams.
type UpstreamResponse struct {
	Status int
	Header http.Header
	Body   io.ReadCloser
}

// Key is what the gateway knows about an authenticated API key.
type Key struct {
	// ID identifies the key in usage records; it is not the secret.
	ID        string
	AccountID string
	// AllowedModels restricts the key to these model ids; empty allows all.
	AllowedModels []string
	// Limits are enforced at the edge; zero values mean unlimited.
	Limits KeyLimits
	// ExpiresAt is when the key stops working; nil never.
	ExpiresAt *time.Time
	// BalanceExhausted is set when the account has no credit left.
	BalanceExhausted bool
	// MonthSpendMicros is the key's spend this calendar month, as of the
	// resolver's last look.
	MonthSpendMicros int64
	// PluginHash is the hex SHA-256 of the routing plugin that runs for the
	// key's requests; empty for none.
	PluginHash string
	// PluginFailClosed refuses requests (503) when the plugin fails,
	// instead of routing them as if there were no plugin.
	PluginFailClosed bool
	// PluginHeaders are request headers, beyond the x-sy- ones, that the
	// tenant let its plugin see; names lower-case.
	PluginHeaders []string
	// PluginBody passes the request body to the plugin (RouteRequest.body),
	// as the tenant asked at upload, when it fits the ABI's size limit.
	PluginBody bool
}

// KeyLimits are per-key limits.
type KeyLimits struct {
	RequestsPerMinute     int
	TokensPerMinute       int
	MonthlySpendCapMicros int64
}

// Allows reports whether the key may use model.
func (k *Key) Allows(model string) bool {
	if len(k.AllowedModels) == 0 {
		return true
	}
	for _, m := range k.AllowedModels {
		if m == model {
			return true
		}
	}
	return false
}

// Errors a KeyResolver returns for keys that must be refused.
var (
	ErrUnknownKey   = errors.New("unknown API key")
	ErrKeyRevoked   = errors.New("API key revoked")
	ErrKeyExpired   = errors.New("API key expired")
	ErrKeySuspended = errors.New("API key suspended")
)

// KeyResolver turns a presented secret into a Key.
type KeyResolver interface {
	// Resolve returns ErrUnknownKey, ErrKeyRevoked, ErrKeyExpired or
	// ErrKeySuspended for keys to refuse; any other error means the resolver
	// could not decide (503 to the client).
	Resolve(ctx context.Context, secret string) (*Key, error)
}

// UsageRecord is the metadata kept about one request. It never holds
// request or response content, nor the key's secret.
type UsageRecord struct {
	RequestID string    `json:"request_id"`
	KeyID     string    `json:"key_id"`
	AccountID string    `json:"account_id"`
	StartedAt time.Time `json:"started_at"`
	// Endpoint is the API route: chat.completions, messages or embeddings.
	Endpoint string `json:"endpoint"`
	// Model is the catalog id the client asked for; ServedModel the one
	// that answered (they differ after a fallback).
	Model       string `json:"model"`
	ServedModel string `json:"served_model,omitempty"`
	Provider    string `json:"provider,omitempty"`
	Stream      bool   `json:"stream"`
	Status      int    `json:"status"`
	// ErrorType is the error's type when Status is not 200.
	ErrorType string `json:"error_type,omitempty"`
	// FinishReason is the canonical finish reason (stop, length,
	// tool_calls, content_filter) when the answer said.
	FinishReason string      `json:"finish_reason,omitempty"`
	Tokens       chat.Tokens `json:"tokens"`
	// Estimated is true when the upstream never reported usage (a client
	// hung up before it did) and the counts are the gateway's estimate.
	Estimated bool `json:"estimated"`
	// CostMicros is the catalog price of Tokens in micro-dollars.
	CostMicros int64         `json:"cost_micros"`
	Latency    time.Duration `json:"latency_ns"`
	// TTFB is the time until the first response byte was sent.
	TTFB     time.Duration `json:"ttfb_ns"`
	Attempts int           `json:"attempts"`
	// Tags come from the tenant's routing plugin (short metadata, never
	// content), or are {"plugin_error": kind} when the plugin failed.
	Tags map[string]string `json:"tags,omitempty"`
}

// UsageSink receives usage records. Record must not block the request path
// for long; sinks that ship records elsewhere queue them.
type UsageSink interface {
	Record(r *UsageRecord)
}

// UsageSinkFunc adapts a function to UsageSink.
type UsageSinkFunc func(r *UsageRecord)

func (f UsageSinkFunc) Record(r *UsageRecord) { f(r) }
