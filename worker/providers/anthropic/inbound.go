package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// requestFields are the top-level members DecodeRequest accepts. All are
// translated except service_tier and cache_control, which only choose
// Anthropic capacity and prompt caching: cost and speed, never the answer.
// Any other member is a 400, because the request will reach a model that
// cannot honour it and the client would not learn that otherwise.
var requestFields = []string{
	"model", "max_tokens", "messages", "system", "stop_sequences", "temperature",
	"top_p", "top_k", "stream", "tools", "tool_choice", "metadata",
	"output_config", "thinking", "service_tier", "cache_control",
}

// blockFields are the members accepted per content block type; cache_control
// is accepted everywhere and dropped, like the top-level one.
var blockFields = map[string][]string{
	"text":        {"type", "text", "cache_control"},
	"image":       {"type", "source", "cache_control"},
	"tool_use":    {"type", "id", "name", "input", "cache_control"},
	"tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
}

// DecodeRequest translates a Messages request into canonical form. It only
// runs when the request is bound for a non-Anthropic upstream, so it is
// strict: every member is either translated, dropped because it cannot change
// the answer (service_tier, cache_control), or refused with a 400 naming it.
//
// # Notes
//
//   - max_tokens is required, as Anthropic requires it, and becomes
//     max_completion_tokens: both count reasoning and visible output.
//   - system (string or text blocks) becomes a leading system message.
//   - tool_result blocks become "tool" messages in their original order; a
//     result with is_error is prefixed "Error: ", the only way to say so in
//     the other APIs. Only text can appear inside a tool_result.
//   - thinking blocks in earlier assistant turns are dropped: no other API
//     takes prior reasoning back. The thinking parameter itself is refused
//     unless it is {"type":"disabled"}.
//   - output_config.format (json_schema) becomes response_format json_schema,
//     strict as Anthropic's structured outputs always are; output_config.effort
//     is refused.
//   - Images must be base64; url and file sources are refused, since the
//     gateway fetches nothing on a client's behalf.
//   - metadata.user_id becomes user. Streams ask for usage, because an
//     Anthropic stream always reports it.
//
// # Errors
//
// Every error is a *chat.Error with status 400 whose Param is the member's
// path in the body, in Anthropic's dotted form (messages.2.content.0.source).
func (Dialect) DecodeRequest(body []byte) (*chat.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, chat.BadRequest("", "request body is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, chat.BadRequest("", "request body must be a JSON object")
	}
	if err := checkFields(root); err != nil {
		return nil, err
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, decodeError(err)
	}
	switch {
	case in.Model == "":
		return nil, chat.BadRequest("model", "model: Field required")
	case in.MaxTokens == nil:
		return nil, chat.BadRequest("max_tokens", "max_tokens: Field required")
	case *in.MaxTokens < 1:
		return nil, chat.BadRequest("max_tokens", "max_tokens: must be at least 1")
	case len(in.Messages) == 0:
		return nil, chat.BadRequest("messages", "messages: at least one message is required")
	}

	out := &chat.Request{
		Model:               in.Model,
		MaxCompletionTokens: in.MaxTokens,
		Temperature:         in.Temperature,
		TopP:                in.TopP,
		TopK:                in.TopK,
		Stop:                in.StopSequences,
		Stream:              in.Stream,
	}
	if in.Stream {
		out.StreamOptions = &chat.StreamOptions{IncludeUsage: true}
	}
	if in.Metadata != nil {
		out.User = in.Metadata.UserID
	}
	if sys, err := systemMessage(in.System); err != nil {
		return nil, err
	} else if sys != nil {
		out.Messages = append(out.Messages, *sys)
	}
	for i, m := range in.Messages {
		var msgs []chat.Message
		var err error
		switch m.Role {
		case "user":
			msgs, err = userMessages(m.Content, fmt.Sprintf("messages.%d", i))
		case "assistant":
			msgs, err = assistantMessage(m.Content, fmt.Sprintf("messages.%d", i))
		default:
			err = chat.BadRequest(fmt.Sprintf("messages.%d.role", i), "messages.%d.role: must be \"user\" or \"assistant\"", i)
		}
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	if err := decodeTools(&in, out); err != nil {
		return nil, err
	}
	if f := in.OutputConfig; f != nil && f.Format != nil {
		if f.Format.Type != "json_schema" {
			return nil, unsupportedValue("output_config.format.type", "output_config.format.type: only json_schema can be translated")
		}
		if isNull(f.Format.Schema) {
			return nil, chat.BadRequest("output_config.format.schema", "output_config.format.schema: Field required")
		}
		strict := true
		out.ResponseFormat = &chat.ResponseFormat{Type: "json_schema", JSONSchema: &chat.JSONSchema{
			Name: "output", Schema: f.Format.Schema, Strict: &strict,
		}}
	}
	return out, nil
}

// checkFields walks the body for members DecodeRequest would otherwise ignore.
// Blocks of unknown types are left to the translation, which names the type.
func checkFields(root gjson.Result) error {
	if err := onlyFields(root, "", requestFields...); err != nil {
		return err
	}
	if t := root.Get("thinking"); t.Exists() && t.Get("type").String() != "disabled" {
		e := chat.BadRequest("thinking", "thinking: extended thinking cannot be translated to the requested model's API")
		e.Code = "unsupported_parameter"
		return e
	}
	checks := []struct {
		path   string
		fields []string
	}{
		{"metadata", []string{"user_id"}},
		{"tool_choice", []string{"type", "name", "disable_parallel_tool_use"}},
		{"output_config", []string{"format"}},
		{"output_config.format", []string{"type", "schema"}},
	}
	for _, c := range checks {
		if err := onlyFields(root.Get(c.path), c.path, c.fields...); err != nil {
			return err
		}
	}
	for i, t := range root.Get("tools").Array() {
		// eager_input_streaming only changes how tool input is chunked.
		err := onlyFields(t, fmt.Sprintf("tools.%d", i),
			"type", "name", "description", "input_schema", "strict", "cache_control", "eager_input_streaming")
		if err != nil {
			return err
		}
	}
	if err := checkBlocks(root.Get("system"), "system"); err != nil {
		return err
	}
	for i, m := range root.Get("messages").Array() {
		path := fmt.Sprintf("messages.%d", i)
		if err := onlyFields(m, path, "role", "content"); err != nil {
			return err
		}
		if err := checkBlocks(m.Get("content"), path+".content"); err != nil {
			return err
		}
	}
	return nil
}

// checkBlocks checks content that may be a string or an array of blocks.
func checkBlocks(list gjson.Result, path string) error {
	switch {
	case !list.Exists() || list.Type == gjson.String || list.Type == gjson.Null:
		return nil
	case !list.IsArray():
		return chat.BadRequest(path, "%s: must be a string or an array of content blocks", path)
	}
	for j, b := range list.Array() {
		bp := fmt.Sprintf("%s.%d", path, j)
		fields, known := blockFields[b.Get("type").String()]
		if !known {
			continue
		}
		if err := onlyFields(b, bp, fields...); err != nil {
			return err
		}
		// url and file sources are refused by the translation, with advice.
		if err := onlyFields(b.Get("source"), bp+".source", "type", "media_type", "data", "url", "file_id"); err != nil {
			return err
		}
		if err := checkBlocks(b.Get("content"), bp+".content"); err != nil {
			return err
		}
	}
	return nil
}

// onlyFields rejects the first member of obj not in allowed.
func onlyFields(obj gjson.Result, path string, allowed ...string) error {
	if !obj.IsObject() {
		return nil
	}
	var bad string
	obj.ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(allowed, k.String()) {
			bad = k.String()
			return false
		}
		return true
	})
	if bad == "" {
		return nil
	}
	if path != "" {
		bad = path + "." + bad
	}
	e := chat.BadRequest(bad, "%s: unknown field, or one the requested model's API has no equivalent for", bad)
	e.Code = "unsupported_parameter"
	return e
}

// decodeError turns a JSON type mismatch into a 400 that names the member and
// the JSON types involved rather than Go's.
func decodeError(err error) error {
	var ce *chat.Error
	if errors.As(err, &ce) {
		return ce
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return chat.BadRequest(te.Field, "%s: expected %s, got %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return chat.BadRequest("", "invalid request body: %v", err)
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a number"
}

func systemMessage(system blocks) (*chat.Message, error) {
	if s, ok := system.plainString(); ok {
		if s == "" {
			return nil, nil
		}
		return &chat.Message{Role: "system", Content: chat.TextContent(s)}, nil
	}
	if len(system) == 0 {
		return nil, nil
	}
	parts := make([]chat.Part, 0, len(system))
	for j, b := range system {
		if b.Type != "text" {
			return nil, chat.BadRequest(fmt.Sprintf("system.%d.type", j), "system.%d.type: system blocks must be text blocks", j)
		}
		parts = append(parts, chat.Part{Type: "text", Text: b.Text})
	}
	return &chat.Message{Role: "system", Content: chat.Content{IsParts: true, Parts: parts}}, nil
}

// userMessages splits a user turn: text and images stay one user message,
// each tool_result becomes its own tool message, in the order they came.
func userMessages(content blocks, path string) ([]chat.Message, error) {
	if s, ok := content.plainString(); ok {
		return []chat.Message{{Role: "user", Content: chat.TextContent(s)}}, nil
	}
	if len(content) == 0 {
		return nil, chat.BadRequest(path+".content", "%s.content: must not be empty", path)
	}
	var out []chat.Message
	var parts []chat.Part
	flush := func() {
		if len(parts) > 0 {
			out = append(out, chat.Message{Role: "user", Content: chat.Content{IsParts: true, Parts: parts}})
			parts = nil
		}
	}
	for j, b := range content {
		bp := fmt.Sprintf("%s.content.%d", path, j)
		switch b.Type {
		case "text":
			parts = append(parts, chat.Part{Type: "text", Text: b.Text})
		case "image":
			p, err := imagePart(b.Source, bp+".source")
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "tool_result":
			flush()
			m, err := toolMessage(b, bp)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		default:
			return nil, blockTypeError(bp, b.Type, "user")
		}
	}
	flush()
	return out, nil
}

func assistantMessage(content blocks, path string) ([]chat.Message, error) {
	if s, ok := content.plainString(); ok {
		return []chat.Message{{Role: "assistant", Content: chat.TextContent(s)}}, nil
	}
	m := chat.Message{Role: "assistant"}
	var parts []chat.Part
	for j, b := range content {
		bp := fmt.Sprintf("%s.content.%d", path, j)
		switch b.Type {
		case "text":
			parts = append(parts, chat.Part{Type: "text", Text: b.Text})
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return nil, chat.BadRequest(bp, "%s: tool_use needs an id and a name", bp)
			}
			args, err := toolArguments(b.Input, bp+".input")
			if err != nil {
				return nil, err
			}
			m.ToolCalls = append(m.ToolCalls, chat.ToolCall{
				ID: b.ID, Type: "function", Function: chat.FunctionCall{Name: b.Name, Arguments: args},
			})
		case "thinking", "redacted_thinking":
		default:
			return nil, blockTypeError(bp, b.Type, "assistant")
		}
	}
	if len(parts) == 0 {
		m.Content = chat.Content{IsNull: true}
	} else {
		m.Content = chat.Content{IsParts: true, Parts: parts}
	}
	return []chat.Message{m}, nil
}

func blockTypeError(path, typ, role string) *chat.Error {
	return unsupportedValue(path+".type", "%s.type: %q blocks in %s turns cannot be translated to the requested model's API", path, typ, role)
}

// imagePart turns a base64 source into the data URL the canonical form uses.
func imagePart(s *imageSource, path string) (chat.Part, error) {
	switch {
	case s == nil:
		return chat.Part{}, chat.BadRequest(path, "%s: Field required", path)
	case s.Type != "base64":
		return chat.Part{}, unsupportedValue(path+".type", "%s.type: %q image sources are not supported; send the image as base64", path, s.Type)
	case s.MediaType == "" || s.Data == "":
		return chat.Part{}, chat.BadRequest(path, "%s: a base64 source needs media_type and data", path)
	}
	return chat.Part{Type: "image_url", ImageURL: &chat.ImageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}, nil
}

func toolMessage(b block, path string) (chat.Message, error) {
	if b.ToolUseID == "" {
		return chat.Message{}, chat.BadRequest(path+".tool_use_id", "%s.tool_use_id: Field required", path)
	}
	text, ok := b.Content.plainString()
	if !ok {
		texts := make([]string, 0, len(b.Content))
		for k, c := range b.Content {
			if c.Type != "text" {
				p := fmt.Sprintf("%s.content.%d.type", path, k)
				return chat.Message{}, unsupportedValue(p, "%s: only text can be translated inside a tool_result", p)
			}
			texts = append(texts, c.Text)
		}
		text = strings.Join(texts, "\n")
	}
	switch {
	case b.IsError && text == "":
		text = "Error"
	case b.IsError:
		text = "Error: " + text
	}
	return chat.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: chat.TextContent(text)}, nil
}

// toolArguments renders a tool_use input as the JSON string OpenAI-style
// arguments are.
func toolArguments(input json.RawMessage, path string) (string, error) {
	if isNull(input) {
		return "{}", nil
	}
	var b bytes.Buffer
	if json.Compact(&b, input) != nil || b.Bytes()[0] != '{' {
		return "", chat.BadRequest(path, "%s: must be a JSON object", path)
	}
	return b.String(), nil
}

func decodeTools(in *request, out *chat.Request) error {
	for i, t := range in.Tools {
		path := fmt.Sprintf("tools.%d", i)
		switch {
		case t.Type != "" && t.Type != "custom":
			return unsupportedValue(path+".type", "%s.type: Anthropic server tool %q cannot be translated to the requested model's API", path, t.Type)
		case t.Name == "":
			return chat.BadRequest(path+".name", "%s.name: Field required", path)
		case isNull(t.InputSchema):
			return chat.BadRequest(path+".input_schema", "%s.input_schema: Field required", path)
		}
		out.Tools = append(out.Tools, chat.Tool{Type: "function", Function: chat.FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: t.InputSchema, Strict: t.Strict,
		}})
	}
	tc := in.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = &chat.ToolChoice{Mode: "auto"}
	case "any":
		out.ToolChoice = &chat.ToolChoice{Mode: "required"}
	case "none":
		out.ToolChoice = &chat.ToolChoice{Mode: "none"}
	case "tool":
		if tc.Name == "" {
			return chat.BadRequest("tool_choice.name", "tool_choice.name: Field required")
		}
		out.ToolChoice = &chat.ToolChoice{Function: tc.Name}
	default:
		return chat.BadRequest("tool_choice.type", "tool_choice.type: must be auto, any, tool or none")
	}
	if tc.DisableParallelToolUse && tc.Type != "none" {
		parallel := false
		out.ParallelToolCalls = &parallel
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// EncodeResponse renders a canonical response as an Anthropic Message.
//
// # Notes
//
//   - Only the first choice is rendered; a translated request never asks
//     for more.
//   - A refusal becomes a text block with stop_reason "refusal".
//   - stop_sequence is always null: the canonical finish reason "stop" does
//     not say whether a stop sequence was hit.
//   - usage.input_tokens counts uncached prompt tokens only, as Anthropic's
//     does; cached and cache-write tokens go to their own fields.
func (Dialect) EncodeResponse(r *chat.Response) ([]byte, error) {
	out := messageResponse{
		ID:      messageID(r.ID),
		Type:    "message",
		Role:    "assistant",
		Model:   r.Model,
		Content: []responseBlock{},
		Usage:   usageOf(r.Usage.Tokens()),
	}
	var finish string
	var refused bool
	if len(r.Choices) > 0 {
		c := r.Choices[0]
		if s := c.Message.Content; s != nil && *s != "" {
			out.Content = append(out.Content, responseBlock{Type: "text", Text: *s})
		}
		if s := c.Message.Refusal; s != nil && *s != "" {
			out.Content = append(out.Content, responseBlock{Type: "text", Text: *s})
			refused = true
		}
		for _, tc := range c.Message.ToolCalls {
			out.Content = append(out.Content, responseBlock{
				Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments),
			})
		}
		finish = c.FinishReason
	}
	stop := stopReason(finish, refused)
	out.StopReason = &stop
	return marshal(out)
}

// EncodeError renders e as Anthropic's error object. The error type follows
// e.Status through Anthropic's documented table: 402 (the gateway's "no
// credits") is billing_error, 503 is overloaded_error, 502 and other 5xx are
// api_error, 504 is timeout_error.
func (Dialect) EncodeError(e *chat.Error) []byte { return errorBody(e) }
