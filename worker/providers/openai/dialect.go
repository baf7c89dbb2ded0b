// Package openai speaks OpenAI's Chat Completions and Embeddings wire format,
// both to clients (it is the canonical shape, so decoding is nearly direct)
// and to upstreams: OpenAI itself and any OpenAI-compatible host.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// Dialect is OpenAI's wire format. The zero value is ready to use.
type Dialect struct {
	// Provider names the upstream in error messages; default "openai".
	Provider string
}

var (
	_ chat.Inbound  = Dialect{}
	_ chat.Outbound = Dialect{}
)

func (d Dialect) name() string {
	if d.Provider == "" {
		return "openai"
	}
	return d.Provider
}

// inboundRequest admits the gateway's extensions beside the canonical fields
// so that strict decoding rejects only what no one understands.
type inboundRequest struct {
	chat.Request
	Models   json.RawMessage `json:"models,omitempty"`
	Provider json.RawMessage `json:"provider,omitempty"`
}

// DecodeRequest parses a chat request strictly: a field the canonical model
// does not know would be silently lost in translation, so it is a 400.
func (Dialect) DecodeRequest(body []byte) (*chat.Request, error) {
	var in inboundRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, chat.BadRequest("", "request body must hold one JSON object")
	}
	r := &in.Request
	if len(r.Messages) == 0 {
		return nil, chat.BadRequest("messages", "messages must be a non-empty array")
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return nil, chat.BadRequest(fmt.Sprintf("messages[%d].role", i), "unknown role %q", m.Role)
		}
		if m.Role == "tool" && m.ToolCallID == "" {
			return nil, chat.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", i), "tool messages need tool_call_id")
		}
	}
	return r, nil
}

// decodeError turns encoding/json's complaints into a client-facing 400
// that names the field without echoing any content.
func decodeError(err error) *chat.Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &syntaxErr):
		return chat.BadRequest("", "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		field := strings.TrimPrefix(typeErr.Field, "Request.")
		return chat.BadRequest(field, "field %q must be %s, not %s", field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
	case strings.HasPrefix(msg, "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		e := chat.BadRequest(field, "unrecognized request argument %q for a translated request", field)
		e.Code = "unsupported_parameter"
		return e
	case errors.Is(err, io.EOF) || msg == "unexpected EOF":
		return chat.BadRequest("", "request body is empty or truncated JSON")
	}
	return chat.BadRequest("", "invalid request body: %s", msg)
}

// EncodeResponse renders a complete response.
func (Dialect) EncodeResponse(r *chat.Response) ([]byte, error) {
	if r.Object == "" {
		r.Object = "chat.completion"
	}
	for i := range r.Choices {
		if r.Choices[i].Logprobs == nil {
			r.Choices[i].Logprobs = json.RawMessage("null")
		}
	}
	return json.Marshal(r)
}

// EncodeError renders OpenAI's error object.
func (Dialect) EncodeError(e *chat.Error) []byte {
	return appendError(nil, e)
}

func appendError(dst []byte, e *chat.Error) []byte {
	type errorObject struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	obj := errorObject{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		obj.Param = &e.Param
	}
	if e.Code != "" {
		obj.Code = &e.Code
	}
	b, _ := json.Marshal(struct {
		Error errorObject `json:"error"`
	}{obj})
	return append(dst, b...)
}

// NewStreamEncoder renders chunks as `data:` events ending with [DONE].
func (Dialect) NewStreamEncoder() chat.StreamEncoder { return streamEncoder{} }

type streamEncoder struct{}

func (streamEncoder) Encode(dst []byte, c *chat.Chunk) []byte {
	if c.Object == "" {
		c.Object = "chat.completion.chunk"
	}
	b, err := json.Marshal(c)
	if err != nil {
		return dst
	}
	return sse.AppendData(dst, b)
}

func (streamEncoder) Finish(dst []byte) []byte { return sse.AppendData(dst, []byte("[DONE]")) }

// Fail sends the error object as a data event, as OpenAI does when a stream
// breaks, so SDKs raise it instead of returning a silently short answer.
func (streamEncoder) Fail(dst []byte, e *chat.Error) []byte {
	return sse.AppendData(dst, appendError(nil, e))
}

// EncodeRequest renders the canonical request with the upstream model name.
func (d Dialect) EncodeRequest(r *chat.Request, model string) ([]byte, error) {
	out := *r
	out.Model = model
	if out.Stream {
		out.StreamOptions = &chat.StreamOptions{IncludeUsage: true}
	}
	return json.Marshal(&out)
}

// DecodeResponse parses a complete response.
func (d Dialect) DecodeResponse(body []byte) (*chat.Response, error) {
	var r chat.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &chat.Error{Status: http.StatusBadGateway, Type: chat.TypeUpstream,
			Message: fmt.Sprintf("provider %s sent a malformed response", d.name()), Cause: err, Retryable: true}
	}
	return &r, nil
}

// NewStreamDecoder decodes OpenAI chunks.
func (d Dialect) NewStreamDecoder() chat.StreamDecoder { return &streamDecoder{provider: d.name()} }

type streamDecoder struct {
	provider string
	usage    chat.Tokens
	hasUsage bool
	done     bool
}

func (s *streamDecoder) Decode(ev *sse.Event) ([]chat.Chunk, error) {
	if isDone(ev.Data) {
		s.done = true
		return nil, nil
	}
	if err := streamError(s.provider, ev.Data); err != nil {
		return nil, err
	}
	var c chat.Chunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return nil, &chat.Error{Status: http.StatusBadGateway, Type: chat.TypeUpstream,
			Message: fmt.Sprintf("provider %s sent a malformed stream event", s.provider), Cause: err}
	}
	if c.Usage != nil {
		s.usage, s.hasUsage = c.Usage.Tokens(), true
	}
	return []chat.Chunk{c}, nil
}

func (s *streamDecoder) Usage() (chat.Tokens, bool) { return s.usage, s.hasUsage }
func (s *streamDecoder) Done() bool                 { return s.done }

func isDone(data []byte) bool { return bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) }

// streamError recognises an error object sent inside a stream.
func streamError(provider string, data []byte) *chat.Error {
	if !bytes.Contains(data, []byte(`"error"`)) {
		return nil
	}
	e := gjson.GetBytes(data, "error")
	if !e.IsObject() {
		return nil
	}
	return &chat.Error{Status: http.StatusBadGateway, Type: chat.TypeUpstream,
		Message: fmt.Sprintf("provider %s reported an error mid-stream", provider),
		Cause:   errors.New(e.Get("type").String())}
}

// PrepareNative sets the upstream model and, for streams, asks for the usage
// chunk so billing is exact. The gateway's own fields (models, provider) are
// removed by the core before any dialect sees the body.
func (Dialect) PrepareNative(body []byte, model string, stream bool) ([]byte, error) {
	var err error
	if body, err = sjson.SetBytes(body, "model", model); err != nil {
		return nil, err
	}
	if stream && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// ResponseUsage reads the usage object of a chat or embeddings response.
func (Dialect) ResponseUsage(body []byte) (chat.Tokens, bool) {
	return usageFrom(gjson.GetBytes(body, "usage"))
}

func usageFrom(u gjson.Result) (chat.Tokens, bool) {
	if !u.IsObject() {
		return chat.Tokens{}, false
	}
	cu := chat.Usage{
		PromptTokens:     int(u.Get("prompt_tokens").Int()),
		CompletionTokens: int(u.Get("completion_tokens").Int()),
		PromptTokensDetails: &chat.PromptTokensDetails{
			CachedTokens:     int(u.Get("prompt_tokens_details.cached_tokens").Int()),
			CacheWriteTokens: int(u.Get("prompt_tokens_details.cache_write_tokens").Int()),
		},
		CompletionTokensDetails: &chat.CompletionTokensDetails{
			ReasoningTokens: int(u.Get("completion_tokens_details.reasoning_tokens").Int()),
		},
	}
	return cu.Tokens(), true
}

// NewStreamTap watches a pass-through stream.
func (d Dialect) NewStreamTap(clientWantsUsage bool) chat.StreamTap {
	return &streamTap{provider: d.name(), wantUsage: clientWantsUsage}
}

type streamTap struct {
	provider  string
	wantUsage bool
	usage     chat.Tokens
	hasUsage  bool
	done      bool
}

func (t *streamTap) Tap(ev *sse.Event) (bool, error) {
	if isDone(ev.Data) {
		t.done = true
		return true, nil
	}
	if err := streamError(t.provider, ev.Data); err != nil {
		return false, err
	}
	// Only the usage chunk carries "usage" with a value (with include_usage
	// every other chunk says "usage":null); a byte search keeps the common
	// case free of JSON parsing.
	if !hasUsageValue(ev.Data) {
		return true, nil
	}
	res := gjson.GetManyBytes(ev.Data, "usage", "choices.#")
	if u, ok := usageFrom(res[0]); ok {
		t.usage, t.hasUsage = u, true
		if !t.wantUsage && res[1].Int() == 0 {
			return false, nil
		}
	}
	return true, nil
}

func (t *streamTap) Usage() (chat.Tokens, bool) { return t.usage, t.hasUsage }
func (t *streamTap) Done() bool                 { return t.done }

// ParseError classifies an upstream error response.
func (d Dialect) ParseError(status int, header http.Header, body []byte) *chat.Error {
	msg := gjson.GetBytes(body, "error.message").String()
	return chat.UpstreamStatusError(d.name(), status, msg, RetryAfter(header))
}

// RetryAfter reads a Retry-After header given in seconds (the form model
// APIs use); dates and garbage count as absent.
func RetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	return 0
}

// jsonKind names a Go kind the way the JSON the client wrote would.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// hasUsageValue reports whether data may hold a non-null "usage" member. It
// errs towards true: a false positive only costs a parse.
func hasUsageValue(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`"usage"`))
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(data[i+len(`"usage"`):], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			data = rest
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if !bytes.HasPrefix(rest, []byte("null")) {
			return true
		}
		data = rest
	}
}
