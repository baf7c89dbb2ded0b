package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// skipSignature is the placeholder Google documents for function calls the
// caller cannot sign: Gemini 3 answers 400 when the first function call of a
// model step comes back without a thought signature, and OpenAI-shaped
// clients have nowhere to keep the real one.
const skipSignature = "skip_thought_signature_validator"

// EncodeRequest renders r as a GenerateContentRequest. The model name is not
// part of the body: Gemini takes it from the URL (see Provider.NewRequest).
//
// # Errors
//
// A *chat.Error (400) for parameters Gemini cannot honour (n > 1, logprobs,
// logit_bias), for remote image URLs, and for messages that do not fit
// Gemini's conversation model (a tool result whose call id is unknown,
// arguments that are not a JSON object).
func (Dialect) EncodeRequest(r *chat.Request, model string) ([]byte, error) {
	if err := refuseUnsupported(r); err != nil {
		return nil, err
	}
	var g generateContentRequest
	var system []part
	// Gemini pairs function responses with calls by name, OpenAI by id; ids
	// are resolved against the calls seen so far, so a later call reusing an
	// id wins for the results that follow it.
	callNames := map[string]string{}
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case "system", "developer":
			text, err := textOnly(m.Content, i)
			if err != nil {
				return nil, err
			}
			if text != "" {
				system = append(system, part{Text: text})
			}
		case "user":
			parts, err := userParts(m.Content, i)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, "user", parts)
		case "assistant":
			parts, err := assistantParts(m, i, callNames)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, "model", parts)
		case "tool":
			p, err := toolResultPart(m, i, callNames)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, "user", []part{p})
		default:
			return nil, chat.BadRequest(fmt.Sprintf("messages[%d].role", i), "role %q is not supported", m.Role)
		}
	}
	if len(g.Contents) == 0 {
		return nil, chat.BadRequest("messages", "at least one user or assistant message with content is required")
	}
	if len(system) > 0 {
		g.SystemInstruction = &content{Parts: system}
	}
	var err error
	if g.Tools, g.ToolConfig, err = encodeTools(r); err != nil {
		return nil, err
	}
	if g.GenerationConfig, err = encodeGenerationConfig(r, model); err != nil {
		return nil, err
	}
	return marshal(&g)
}

// refuseUnsupported rejects what Gemini cannot do rather than dropping it,
// because each changes what the client gets back.
func refuseUnsupported(r *chat.Request) error {
	if r.N != nil && *r.N > 1 {
		// Gemini can return several candidates, but the stream decoder and
		// the gateway's accounting follow one choice.
		return chat.Unsupported(vendor, "n")
	}
	if r.N != nil && *r.N < 1 {
		return chat.BadRequest("n", "n must be at least 1")
	}
	if r.Logprobs != nil && *r.Logprobs {
		return chat.Unsupported(vendor, "logprobs")
	}
	if r.TopLogprobs != nil && *r.TopLogprobs > 0 {
		return chat.Unsupported(vendor, "top_logprobs")
	}
	if lb := bytes.TrimSpace(r.LogitBias); len(lb) > 0 && !bytes.Equal(lb, []byte("null")) && !bytes.Equal(lb, []byte("{}")) {
		return chat.Unsupported(vendor, "logit_bias")
	}
	return nil
}

// appendTurn merges consecutive turns of one role, because Gemini expects
// user and model turns to alternate and OpenAI conversations often do not
// (several tool results in a row, a tool result followed by a user note).
// Turns without parts are dropped: Gemini rejects empty turns.
func appendTurn(contents []content, role string, parts []part) []content {
	if len(parts) == 0 {
		return contents
	}
	if n := len(contents); n > 0 && contents[n-1].Role == role {
		contents[n-1].Parts = append(contents[n-1].Parts, parts...)
		return contents
	}
	return append(contents, content{Role: role, Parts: parts})
}

// textOnly returns content that may hold only text (system and tool
// messages).
func textOnly(c chat.Content, msg int) (string, error) {
	for j, p := range c.Parts {
		if p.Type != "text" {
			return "", chat.BadRequest(fmt.Sprintf("messages[%d].content[%d].type", msg, j), "content part type %q is not allowed in this message", p.Type)
		}
	}
	return c.PlainText(), nil
}

func userParts(c chat.Content, msg int) ([]part, error) {
	if !c.IsParts {
		if c.Text == "" {
			return nil, nil
		}
		return []part{{Text: c.Text}}, nil
	}
	parts := make([]part, 0, len(c.Parts))
	for j, p := range c.Parts {
		switch p.Type {
		case "text":
			if p.Text != "" {
				parts = append(parts, part{Text: p.Text})
			}
		case "image_url":
			b, err := imageBlob(p.ImageURL, msg, j)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{InlineData: b})
		default:
			return nil, chat.BadRequest(fmt.Sprintf("messages[%d].content[%d].type", msg, j), "content part type %q is not supported by provider %s", p.Type, vendor)
		}
	}
	return parts, nil
}

// imageBlob accepts base64 data URLs only. Gemini cannot fetch arbitrary
// URLs itself, and the gateway will not fetch them for it (that would make
// the edge an open proxy).
func imageBlob(img *chat.ImageURL, msg, idx int) (*blob, error) {
	param := fmt.Sprintf("messages[%d].content[%d].image_url.url", msg, idx)
	if img == nil {
		return nil, chat.BadRequest(param, "image_url is required")
	}
	rest, ok := strings.CutPrefix(img.URL, "data:")
	if !ok {
		return nil, chat.BadRequest(param, "only base64 data URLs are accepted for images; the gateway does not fetch remote URLs")
	}
	meta, data, ok := strings.Cut(rest, ",")
	mime, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isBase64 || mime == "" || data == "" {
		return nil, chat.BadRequest(param, "image data URL must have the form data:<mime type>;base64,<data>")
	}
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = mime[:i] // parameters such as charset mean nothing to Gemini
	}
	return &blob{MIMEType: mime, Data: data}, nil
}

func assistantParts(m *chat.Message, msg int, callNames map[string]string) ([]part, error) {
	text, err := textOnly(m.Content, msg)
	if err != nil {
		return nil, err
	}
	var parts []part
	if text != "" {
		parts = append(parts, part{Text: text})
	}
	for j, tc := range m.ToolCalls {
		param := fmt.Sprintf("messages[%d].tool_calls[%d]", msg, j)
		if tc.Type != "" && tc.Type != "function" {
			return nil, chat.BadRequest(param+".type", "tool call type %q is not supported", tc.Type)
		}
		if tc.Function.Name == "" {
			return nil, chat.BadRequest(param+".function.name", "tool call has no function name")
		}
		args, err := argumentsObject(tc.Function.Arguments, param+".function.arguments")
		if err != nil {
			return nil, err
		}
		p := part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: args}}
		if j == 0 {
			p.ThoughtSignature = skipSignature
		}
		parts = append(parts, p)
		if tc.ID != "" {
			callNames[tc.ID] = tc.Function.Name
		}
	}
	return parts, nil
}

// argumentsObject parses tool call arguments, which Gemini takes as a JSON
// object rather than a string. A call without arguments gets no args field,
// as Gemini itself writes it; clients send "" or "{}" for one.
func argumentsObject(args, param string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return nil, nil
	}
	var a bytes.Buffer
	if err := json.Compact(&a, []byte(args)); err != nil || a.Bytes()[0] != '{' {
		return nil, chat.BadRequest(param, "tool call arguments must be a JSON object")
	}
	if a.String() == "{}" {
		return nil, nil
	}
	return a.Bytes(), nil
}

// toolResultPart turns a tool message into a functionResponse. A result
// that is a JSON object is passed as the response itself; anything else is
// wrapped as {"output": text}, the key Gemini documents for function output.
func toolResultPart(m *chat.Message, msg int, callNames map[string]string) (part, error) {
	name, ok := callNames[m.ToolCallID]
	if !ok {
		return part{}, chat.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", msg), "tool_call_id %q does not match any earlier assistant tool call", m.ToolCallID)
	}
	text, err := textOnly(m.Content, msg)
	if err != nil {
		return part{}, err
	}
	var response json.RawMessage
	if t := bytes.TrimSpace([]byte(text)); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		response = t
	} else if response, err = marshal(map[string]string{"output": text}); err != nil {
		return part{}, err
	}
	return part{FunctionResponse: &functionResponse{Name: name, Response: response}}, nil
}

func encodeTools(r *chat.Request) ([]tool, *toolConfig, error) {
	if len(r.Tools) == 0 {
		if tc := r.ToolChoice; tc != nil && (tc.Function != "" || tc.Mode == "required") {
			return nil, nil, chat.BadRequest("tool_choice", "tool_choice requires tools")
		}
		return nil, nil, nil
	}
	decls := make([]functionDeclaration, len(r.Tools))
	declared := make(map[string]bool, len(r.Tools))
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, nil, chat.BadRequest(fmt.Sprintf("tools[%d].type", i), "tool type %q is not supported by provider %s", t.Type, vendor)
		}
		if t.Function.Name == "" {
			return nil, nil, chat.BadRequest(fmt.Sprintf("tools[%d].function.name", i), "function name is required")
		}
		decls[i] = functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
			decls[i].ParametersJSONSchema = p
		}
		declared[t.Function.Name] = true
	}
	tools := []tool{{FunctionDeclarations: decls}}
	tc := r.ToolChoice
	if tc == nil {
		return tools, nil, nil
	}
	cfg := &toolConfig{}
	switch {
	case tc.Function != "":
		if !declared[tc.Function] {
			return nil, nil, chat.BadRequest("tool_choice", "tool_choice names function %q, which is not in tools", tc.Function)
		}
		cfg.FunctionCallingConfig = functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{tc.Function}}
	case tc.Mode == "required":
		cfg.FunctionCallingConfig.Mode = "ANY"
	case tc.Mode == "none":
		cfg.FunctionCallingConfig.Mode = "NONE"
	default:
		cfg.FunctionCallingConfig.Mode = "AUTO"
	}
	return tools, cfg, nil
}

func encodeGenerationConfig(r *chat.Request, model string) (*generationConfig, error) {
	var c generationConfig
	if n, ok := r.MaxOutput(); ok {
		c.MaxOutputTokens = &n
	}
	c.Temperature, c.TopP, c.TopK = r.Temperature, r.TopP, r.TopK
	c.PresencePenalty, c.FrequencyPenalty = r.PresencePenalty, r.FrequencyPenalty
	if len(r.Stop) > 0 {
		c.StopSequences = r.Stop
	}
	if r.Seed != nil {
		if *r.Seed < math.MinInt32 || *r.Seed > math.MaxInt32 {
			return nil, chat.BadRequest("seed", "seed must fit in 32 bits for provider %s", vendor)
		}
		c.Seed = r.Seed
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			c.ResponseMIMEType = "application/json"
		case "json_schema":
			if rf.JSONSchema == nil || len(bytes.TrimSpace(rf.JSONSchema.Schema)) == 0 {
				return nil, chat.BadRequest("response_format.json_schema.schema", "json_schema response format requires a schema")
			}
			c.ResponseMIMEType = "application/json"
			c.ResponseJSONSchema = bytes.TrimSpace(rf.JSONSchema.Schema)
		default:
			return nil, chat.BadRequest("response_format.type", "response format %q is not supported", rf.Type)
		}
	}
	if r.ReasoningEffort != "" {
		tc, err := thinking(r.ReasoningEffort, model)
		if err != nil {
			return nil, err
		}
		c.ThinkingConfig = tc
	}
	if reflect.ValueOf(c).IsZero() {
		return nil, nil
	}
	return &c, nil
}

// efforts maps reasoning_effort. Gemini 3 and later take a thinking level;
// earlier models only a token budget (the budgets are the ones Google uses
// for its own OpenAI-compatible endpoint). Gemini 3 cannot switch thinking
// off, so "none" asks for the least it allows.
var efforts = map[string]struct {
	budget int
	level  string
}{
	"none":    {0, "MINIMAL"},
	"minimal": {1024, "MINIMAL"},
	"low":     {1024, "LOW"},
	"medium":  {8192, "MEDIUM"},
	"high":    {24576, "HIGH"},
	"xhigh":   {24576, "HIGH"},
}

func thinking(effort, model string) (*thinkingConfig, error) {
	e, ok := efforts[effort]
	if !ok {
		return nil, chat.BadRequest("reasoning_effort", "reasoning_effort %q is not one of none, minimal, low, medium, high, xhigh", effort)
	}
	if geminiMajor(model) >= 3 {
		return &thinkingConfig{ThinkingLevel: e.level}, nil
	}
	return &thinkingConfig{ThinkingBudget: &e.budget}, nil
}

// geminiMajor reads the major version from names like "gemini-2.5-flash";
// names without one (aliases such as "gemini-flash-latest") give 0, so they
// get a thinking budget, which every thinking model accepts.
func geminiMajor(model string) int {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(model, "models/"), "gemini-")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}
