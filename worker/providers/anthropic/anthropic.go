// Package anthropic speaks Anthropic's Messages API in both directions: as an
// inbound dialect, so Anthropic SDKs can call the gateway's POST /v1/messages
// and reach any upstream, and as the outbound dialect of Anthropic's own API.
//
// When client and upstream both speak Messages the gateway passes bodies and
// events through (PrepareNative, NewStreamTap) and none of the translation
// below runs; it exists for the cross-dialect paths only. The choices it makes
// where the two formats disagree are listed in RATIONALE.md.
package anthropic

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Dialect is the Messages API wire format. The zero value is ready to use and
// holds no state; per-stream state lives in the encoders and decoders it makes.
type Dialect struct{}

var (
	_ chat.Inbound       = Dialect{}
	_ chat.Outbound      = Dialect{}
	_ chat.StreamEncoder = (*streamEncoder)(nil)
	_ chat.StreamDecoder = (*streamDecoder)(nil)
	_ chat.StreamTap     = (*streamTap)(nil)
	_ chat.Provider      = (*Provider)(nil)
)

// providerName names Anthropic in error messages the dialect builds; the
// dialect serves every Provider, whatever id the operator gave it.
const providerName = "anthropic"

// now stamps the created field OpenAI-shaped results carry and Anthropic's do
// not; tests replace it.
var now = time.Now

// request is the body of POST /v1/messages, decoded from clients and encoded
// for the upstream.
type request struct {
	Model         string        `json:"model"`
	MaxTokens     *int          `json:"max_tokens,omitempty"`
	System        blocks        `json:"system,omitempty"`
	Messages      []message     `json:"messages"`
	Tools         []tool        `json:"tools,omitempty"`
	ToolChoice    *toolChoice   `json:"tool_choice,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	TopK          *int          `json:"top_k,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Metadata      *metadata     `json:"metadata,omitempty"`
	OutputConfig  *outputConfig `json:"output_config,omitempty"`
}

type message struct {
	Role    string `json:"role"`
	Content blocks `json:"content"`
}

// block is one request content block; Type says which fields apply.
type block struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	// image
	Source *imageSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string `json:"tool_use_id,omitempty"`
	Content   blocks `json:"content,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`

	// fromString marks the one text block a string content decoded into, so
	// the canonical message keeps the client's plain-string form.
	fromString bool
}

// blocks is content that Anthropic accepts either as a string or as an array
// of blocks; it always encodes as an array.
type blocks []block

func (b *blocks) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*b = nil
		return nil
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*b = blocks{{Type: "text", Text: s, fromString: true}}
		return nil
	case len(data) > 0 && data[0] == '[':
		return json.Unmarshal(data, (*[]block)(b))
	}
	return chat.BadRequest("", "content and system must be a string or an array of content blocks")
}

// plainString reports the content a client sent as a bare string.
func (b blocks) plainString() (string, bool) {
	if len(b) == 1 && b[0].fromString {
		return b[0].Text, true
	}
	return "", false
}

type imageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
}

type tool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id,omitempty"`
}

type outputConfig struct {
	Format *outputFormat `json:"format,omitempty"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// messageResponse is the Message object: a complete response, and the
// skeleton message_start carries.
type messageResponse struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []responseBlock `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        usage           `json:"usage"`
}

// responseBlock is a response content block. It is not block: response-only
// block types (server tool results) reuse "content" with other shapes, and
// decoding them must not fail.
type responseBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type usage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// usageOf renders normalised tokens in Anthropic's convention, where
// input_tokens counts only the prompt tokens no cache touched.
func usageOf(t chat.Tokens) usage {
	return usage{
		InputTokens:              t.Input,
		CacheCreationInputTokens: t.CacheWrite,
		CacheReadInputTokens:     t.CachedInput,
		OutputTokens:             t.Output,
	}
}

// meter follows usage as Anthropic reports it. Every report is a cumulative
// total for the fields it carries (message_start has them all, message_delta
// some, a null means "unchanged"), so a later value replaces an earlier one.
type meter struct {
	tokens chat.Tokens
	seen   bool
}

func (m *meter) read(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	m.seen = true
	set := func(dst *int, path string) {
		if v := u.Get(path); v.Type == gjson.Number {
			*dst = int(v.Int())
		}
	}
	set(&m.tokens.Input, "input_tokens")
	set(&m.tokens.CachedInput, "cache_read_input_tokens")
	set(&m.tokens.CacheWrite, "cache_creation_input_tokens")
	set(&m.tokens.Output, "output_tokens")
	set(&m.tokens.Reasoning, "output_tokens_details.thinking_tokens")
}

func (m *meter) Usage() (chat.Tokens, bool) { return m.tokens, m.seen }

// stopReason maps a canonical finish reason to Anthropic's. A refusal is
// reported as Anthropic's "refusal", which its docs define as the model
// declining for safety reasons, the same meaning as content_filter.
func stopReason(finish string, refused bool) string {
	switch finish {
	case chat.FinishLength:
		return "max_tokens"
	case chat.FinishToolCalls, "function_call":
		return "tool_use"
	case chat.FinishContentFilter:
		return "refusal"
	}
	if refused {
		return "refusal"
	}
	return "end_turn"
}

// finishReason maps Anthropic's stop reason to the canonical one. pause_turn
// only follows server tools, which the gateway never sends, and is read as an
// ordinary stop; running out of context window is a length limit.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return chat.FinishLength
	case "tool_use":
		return chat.FinishToolCalls
	case "refusal":
		return chat.FinishContentFilter
	}
	return chat.FinishStop
}

// errorTypes is Anthropic's documented status ↔ error type table. 503 is not
// in it (Anthropic says overloaded with 529) but means the same.
var errorTypes = []struct {
	status int
	typ    string
}{
	{http.StatusBadRequest, "invalid_request_error"},
	{http.StatusUnauthorized, "authentication_error"},
	{http.StatusPaymentRequired, "billing_error"},
	{http.StatusForbidden, "permission_error"},
	{http.StatusNotFound, "not_found_error"},
	{http.StatusRequestEntityTooLarge, "request_too_large"},
	{http.StatusTooManyRequests, "rate_limit_error"},
	{http.StatusInternalServerError, "api_error"},
	{http.StatusGatewayTimeout, "timeout_error"},
	{529, "overloaded_error"},
	{http.StatusServiceUnavailable, "overloaded_error"},
}

// errorType names the Anthropic error type for an HTTP status; statuses the
// table lacks fall back the way Anthropic's own docs do (other 4xx are
// invalid_request_error) or to api_error.
func errorType(status int) string {
	for _, t := range errorTypes {
		if t.status == status {
			return t.typ
		}
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// errorStatus is errorType's inverse, for in-stream errors that carry a type
// but no status. Unknown types are server errors.
func errorStatus(typ string) int {
	for _, t := range errorTypes {
		if t.typ == typ {
			return t.status
		}
	}
	return http.StatusInternalServerError
}

// errorBody is Anthropic's error object, both as a response body and as the
// data of an in-stream error event.
func errorBody(e *chat.Error) []byte {
	type detail struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	b, _ := marshal(struct {
		Type  string `json:"type"`
		Error detail `json:"error"`
	}{"error", detail{errorType(e.Status), e.Message}})
	return b
}

// messageID gives a response an Anthropic-looking id while keeping the
// upstream's id inside it, so the two can be matched in logs.
func messageID(id string) string {
	switch {
	case strings.HasPrefix(id, "msg_"):
		return id
	case id == "":
		return "msg_" + rand.Text()
	}
	return "msg_" + id
}

// toolUseID returns id, or a fresh one when the upstream gave none: Anthropic
// clients must echo an id back in their tool_result.
func toolUseID(id string) string {
	if id == "" {
		return "toolu_" + rand.Text()
	}
	return id
}

// toolInput turns canonical tool arguments into a tool_use input. Arguments
// that are not a JSON object (an upstream cut off by max_tokens mid-call)
// become {}, which is also what Anthropic's own SDK accumulator does with a
// cut-off input; the stop reason tells the client the call is incomplete.
func toolInput(arguments string) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, []byte(arguments)) == nil && b.Len() > 0 && b.Bytes()[0] == '{' {
		return b.Bytes()
	}
	return json.RawMessage(`{}`)
}

// marshal is json.Marshal without HTML escaping: the bodies go to APIs, not
// browsers, and escaping <, > and & only makes them longer.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// unsupportedValue is the 400 for a parameter the other side can take in
// general but not with this value or in this form.
func unsupportedValue(param, format string, args ...any) *chat.Error {
	e := chat.BadRequest(param, format, args...)
	e.Code = "unsupported_value"
	return e
}
