package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// DefaultMaxTokens is the max_tokens sent when the client set no limit.
// Anthropic requires one; 4096 is the largest every Claude model accepts.
const DefaultMaxTokens = 4096

// emptySchema is the input_schema of a function declared without parameters;
// Anthropic requires one.
const emptySchema = `{"type":"object","properties":{}}`

// EncodeRequest translates a canonical request into a Messages request for
// the upstream model name model.
//
// # Notes
//
//   - System and developer messages, wherever they appear, join the
//     top-level system prompt in order.
//   - Consecutive messages of one role merge into one turn, since Anthropic
//     requires turns to alternate; tool messages become tool_result blocks in
//     a user turn, so a run of them is one turn.
//   - max_tokens is the client's max_completion_tokens or max_tokens, else
//     DefaultMaxTokens.
//   - response_format json_schema becomes output_config.format (Anthropic's
//     structured outputs); models without structured outputs answer 400.
//   - user becomes metadata.user_id. metadata, store, service_tier and
//     stream_options are dropped: they only concern OpenAI's storage, billing
//     and usage reporting, and Anthropic streams always report usage.
//   - Parameters at the value that asks for nothing (presence_penalty 0,
//     logprobs false, n 1) are accepted; any other use of n, logprobs,
//     top_logprobs, logit_bias, seed, presence_penalty, frequency_penalty or
//     reasoning_effort is a 400, as are json_object, image URLs (the gateway
//     fetches nothing), message names and temperatures above 1.
func (Dialect) EncodeRequest(r *chat.Request, model string) ([]byte, error) {
	if err := checkUnsupported(r); err != nil {
		return nil, err
	}
	if t := r.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, unsupportedValue("temperature", "temperature %g is outside provider anthropic's range of 0 to 1", *t)
	}
	maxTokens := DefaultMaxTokens
	if n, ok := r.MaxOutput(); ok {
		maxTokens = n
	}
	out := request{
		Model:         model,
		MaxTokens:     &maxTokens,
		Temperature:   r.Temperature,
		TopP:          r.TopP,
		TopK:          r.TopK,
		StopSequences: r.Stop,
		Stream:        r.Stream,
	}
	var err error
	if out.System, out.Messages, err = encodeMessages(r.Messages); err != nil {
		return nil, err
	}
	if err := encodeTools(r, &out); err != nil {
		return nil, err
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text":
		case "json_schema":
			if rf.JSONSchema == nil || isNull(rf.JSONSchema.Schema) {
				return nil, chat.BadRequest("response_format.json_schema.schema", "response_format.json_schema.schema is required")
			}
			out.OutputConfig = &outputConfig{Format: &outputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}}
		default:
			return nil, unsupportedValue("response_format", "response_format %q is not supported by provider anthropic; use json_schema", rf.Type)
		}
	}
	if r.User != "" {
		out.Metadata = &metadata{UserID: r.User}
	}
	return marshal(out)
}

func checkUnsupported(r *chat.Request) error {
	nonZero := func(f *float64) bool { return f != nil && *f != 0 }
	var param string
	switch {
	case r.N != nil && *r.N != 1:
		param = "n"
	case r.Logprobs != nil && *r.Logprobs:
		param = "logprobs"
	case r.TopLogprobs != nil && *r.TopLogprobs != 0:
		param = "top_logprobs"
	case len(gjson.ParseBytes(r.LogitBias).Map()) > 0:
		param = "logit_bias"
	case r.Seed != nil:
		param = "seed"
	case nonZero(r.PresencePenalty):
		param = "presence_penalty"
	case nonZero(r.FrequencyPenalty):
		param = "frequency_penalty"
	case r.ReasoningEffort != "":
		param = "reasoning_effort"
	default:
		return nil
	}
	return chat.Unsupported(providerName, param)
}

func encodeMessages(msgs []chat.Message) (blocks, []message, error) {
	var system blocks
	var turns []message
	add := func(role string, bs ...block) {
		if len(bs) == 0 {
			return
		}
		if n := len(turns); n > 0 && turns[n-1].Role == role {
			turns[n-1].Content = append(turns[n-1].Content, bs...)
			return
		}
		turns = append(turns, message{Role: role, Content: bs})
	}
	for i, m := range msgs {
		path := fmt.Sprintf("messages[%d]", i)
		if m.Name != "" {
			return nil, nil, chat.Unsupported(providerName, path+".name")
		}
		switch m.Role {
		case "system", "developer":
			bs, err := textBlocks(m.Content, path)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, bs...)
		case "user":
			bs, err := userBlocks(m.Content, path)
			if err != nil {
				return nil, nil, err
			}
			add("user", bs...)
		case "assistant":
			bs, err := assistantBlocks(m, path)
			if err != nil {
				return nil, nil, err
			}
			add("assistant", bs...)
		case "tool":
			if m.ToolCallID == "" {
				return nil, nil, chat.BadRequest(path+".tool_call_id", "%s.tool_call_id is required", path)
			}
			content, err := textBlocks(m.Content, path)
			if err != nil {
				return nil, nil, err
			}
			add("user", block{Type: "tool_result", ToolUseID: m.ToolCallID, Content: content})
		default:
			return nil, nil, unsupportedValue(path+".role", "role %q is not supported by provider anthropic", m.Role)
		}
	}
	return system, turns, nil
}

// textBlocks renders content that may only hold text. Empty text is left
// out: Anthropic rejects empty text blocks.
func textBlocks(c chat.Content, path string) (blocks, error) {
	if !c.IsParts {
		if c.Text == "" {
			return nil, nil
		}
		return blocks{{Type: "text", Text: c.Text}}, nil
	}
	var out blocks
	for j, p := range c.Parts {
		if p.Type != "text" {
			return nil, unsupportedValue(fmt.Sprintf("%s.content[%d].type", path, j), "content part type %q is not allowed in this message", p.Type)
		}
		if p.Text != "" {
			out = append(out, block{Type: "text", Text: p.Text})
		}
	}
	return out, nil
}

func userBlocks(c chat.Content, path string) (blocks, error) {
	if !c.IsParts {
		return textBlocks(c, path)
	}
	var out blocks
	for j, p := range c.Parts {
		pp := fmt.Sprintf("%s.content[%d]", path, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, block{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, chat.BadRequest(pp+".image_url", "%s.image_url is required", pp)
			}
			src, err := imageSourceOf(p.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			out = append(out, block{Type: "image", Source: src})
		default:
			return nil, unsupportedValue(pp+".type", "content part type %q is not supported by provider anthropic", p.Type)
		}
	}
	return out, nil
}

// imageSourceOf reads a base64 data URL. The gateway never fetches remote
// images: that would make it an open proxy.
func imageSourceOf(url, param string) (*imageSource, error) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return nil, unsupportedValue(param, "image URLs are not fetched; send the image as a base64 data URL")
	}
	mediaType, data, ok := strings.Cut(rest, ";base64,")
	if !ok || mediaType == "" || data == "" {
		return nil, chat.BadRequest(param, "image data URL must have the form data:<media type>;base64,<data>")
	}
	return &imageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
}

func assistantBlocks(m chat.Message, path string) (blocks, error) {
	out, err := textBlocks(m.Content, path)
	if err != nil {
		return nil, err
	}
	for j, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", path, j)
		switch {
		case tc.Type != "" && tc.Type != "function":
			return nil, unsupportedValue(tp+".type", "tool call type %q is not supported by provider anthropic", tc.Type)
		case tc.ID == "":
			return nil, chat.BadRequest(tp+".id", "%s.id is required", tp)
		}
		args := []byte(strings.TrimSpace(tc.Function.Arguments))
		if len(args) == 0 {
			args = []byte("{}")
		}
		var b bytes.Buffer
		if json.Compact(&b, args) != nil || b.Bytes()[0] != '{' {
			return nil, chat.BadRequest(tp+".function.arguments", "%s.function.arguments must be a JSON object", tp)
		}
		out = append(out, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: b.Bytes()})
	}
	return out, nil
}

// encodeTools sets tools and tool_choice. Without tools, tool_choice and
// parallel_tool_calls are left out: Anthropic refuses a tool_choice with no
// tools, and with nothing to call they cannot change the answer.
func encodeTools(r *chat.Request, out *request) error {
	for j, t := range r.Tools {
		if t.Type != "function" {
			return unsupportedValue(fmt.Sprintf("tools[%d].type", j), "tool type %q is not supported by provider anthropic", t.Type)
		}
		schema := t.Function.Parameters
		if isNull(schema) {
			schema = json.RawMessage(emptySchema)
		}
		out.Tools = append(out.Tools, tool{
			Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema, Strict: t.Function.Strict,
		})
	}
	if len(out.Tools) == 0 {
		return nil
	}
	if c := r.ToolChoice; c != nil {
		switch {
		case c.Function != "":
			out.ToolChoice = &toolChoice{Type: "tool", Name: c.Function}
		case c.Mode == "required":
			out.ToolChoice = &toolChoice{Type: "any"}
		case c.Mode == "none", c.Mode == "auto":
			out.ToolChoice = &toolChoice{Type: c.Mode}
		}
	}
	if p := r.ParallelToolCalls; p != nil && !*p {
		if out.ToolChoice == nil {
			out.ToolChoice = &toolChoice{Type: "auto"}
		}
		out.ToolChoice.DisableParallelToolUse = out.ToolChoice.Type != "none"
	}
	return nil
}

// DecodeResponse translates a Message into a canonical response. Text
// blocks are joined; thinking and server-tool blocks have no canonical place
// and are skipped.
func (Dialect) DecodeResponse(body []byte) (*chat.Response, error) {
	var m messageResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &chat.Error{
			Status:  http.StatusBadGateway,
			Type:    chat.TypeUpstream,
			Message: "provider anthropic sent a response the gateway could not read",
			Cause:   err,
		}
	}
	var text strings.Builder
	var calls []chat.ToolCall
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			calls = append(calls, chat.ToolCall{
				ID: b.ID, Type: "function",
				Function: chat.FunctionCall{Name: b.Name, Arguments: string(toolInput(string(b.Input)))},
			})
		}
	}
	msg := chat.ResponseMessage{Role: "assistant", ToolCalls: calls}
	if text.Len() > 0 || len(calls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	var stop string
	if m.StopReason != nil {
		stop = *m.StopReason
	}
	var mt meter
	mt.read(gjson.GetBytes(body, "usage"))
	return &chat.Response{
		ID:      m.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   m.Model,
		Choices: []chat.Choice{{Index: 0, Message: msg, FinishReason: finishReason(stop)}},
		Usage:   mt.tokens.Usage(),
	}, nil
}
