package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// openaiModels is what GET /v1/models lists; any model name is accepted
// elsewhere.
var openaiModels = []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "text-embedding-3-small", "text-embedding-3-large"}

type openaiErrorBody struct {
	Error openaiErrorObject `json:"error"`
}

type openaiErrorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func strPtr(s string) *string { return &s }

// openaiError writes OpenAI's error object. The type and code follow what
// OpenAI returns for each status (429 is type "requests", code
// "rate_limit_exceeded"; 5xx are "server_error").
func openaiError(w http.ResponseWriter, status int, msg, param string) {
	obj := openaiErrorObject{Message: msg, Type: "invalid_request_error"}
	if param != "" {
		obj.Param = strPtr(param)
	}
	switch {
	case status == http.StatusUnauthorized:
		obj.Code = strPtr("invalid_api_key")
	case status == http.StatusNotFound && param == "model":
		obj.Code = strPtr("model_not_found")
	case status == http.StatusTooManyRequests:
		obj.Type, obj.Code = "requests", strPtr("rate_limit_exceeded")
	case status >= 500:
		obj.Type = "server_error"
	}
	writeJSON(w, status, openaiErrorBody{Error: obj})
}

func serveOpenAI(ex *exchange) {
	key, ok := strings.CutPrefix(ex.r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(key) == "" {
		openaiError(ex.w, http.StatusUnauthorized, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "")
		return
	}
	route := ex.r.Method + " " + ex.r.URL.Path
	switch route {
	case "POST /v1/chat/completions":
		ex.openaiChat()
	case "POST /v1/embeddings":
		ex.openaiEmbeddings()
	case "GET /v1/models":
		if !ex.applyRule("", ex.openaiStatus) {
			return
		}
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list"}
		for _, id := range openaiModels {
			list.Data = append(list.Data, model{ID: id, Object: "model", Created: 1700000000, OwnedBy: "system"})
		}
		writeJSON(ex.w, http.StatusOK, list)
	default:
		openaiError(ex.w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s)", route), "")
	}
}

func (ex *exchange) openaiStatus(status int, msg string) {
	param := ""
	if status == http.StatusNotFound {
		param = "model"
	}
	openaiError(ex.w, status, msg, param)
}

type openaiChatRequest struct {
	Model               string              `json:"model"`
	Messages            []openaiMessage     `json:"messages"`
	Tools               []openaiTool        `json:"tools"`
	ToolChoice          json.RawMessage     `json:"tool_choice"`
	N                   *int                `json:"n"`
	MaxTokens           *int                `json:"max_tokens"`
	MaxCompletionTokens *int                `json:"max_completion_tokens"`
	ResponseFormat      *openaiRespFormat   `json:"response_format"`
	Stop                json.RawMessage     `json:"stop"`
	Stream              bool                `json:"stream"`
	StreamOptions       *openaiStreamOption `json:"stream_options"`
}

type openaiMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		Function struct {
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type openaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name       string         `json:"name"`
		Parameters map[string]any `json:"parameters"`
	} `json:"function"`
}

type openaiRespFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema map[string]any `json:"schema"`
	} `json:"json_schema"`
}

type openaiStreamOption struct {
	IncludeUsage bool `json:"include_usage"`
}

// openaiContent reads a message content: a string or an array of parts.
func openaiContent(raw json.RawMessage) (texts []string, images int, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return []string{s}, 0, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, 0, err
	}
	for _, p := range parts {
		switch p.Type {
		case "text", "refusal":
			texts = append(texts, p.Text)
		case "image_url":
			images++
		}
	}
	return texts, images, nil
}

// parse turns the request into a conversation, or returns the message and
// param of the 400 OpenAI would answer.
func (req *openaiChatRequest) parse(seed string) (*conversation, string, string) {
	if req.Model == "" {
		return nil, "you must provide a model parameter", ""
	}
	if len(req.Messages) == 0 {
		return nil, "[] is too short - 'messages'", "messages"
	}
	if req.N != nil && *req.N != 1 {
		return nil, "The Switchyard emulator only supports n=1.", "n"
	}
	if req.StreamOptions != nil && !req.Stream {
		return nil, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
	}
	c := &conversation{model: req.Model, seed: seed}
	for _, lim := range []struct {
		v     *int
		param string
	}{{req.MaxTokens, "max_tokens"}, {req.MaxCompletionTokens, "max_completion_tokens"}} {
		if lim.v == nil {
			continue
		}
		if *lim.v < 1 {
			return nil, fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", lim.param, *lim.v), lim.param
		}
		c.maxTokens = *lim.v
	}
	var pc promptCounter
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return nil, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'.", m.Role), fmt.Sprintf("messages[%d].role", i)
		}
		texts, images, err := openaiContent(m.Content)
		if err != nil {
			return nil, fmt.Sprintf("Invalid type for 'messages[%d].content'.", i), fmt.Sprintf("messages[%d].content", i)
		}
		pc.message()
		for _, t := range texts {
			pc.text(t)
		}
		for _, tc := range m.ToolCalls {
			pc.text(tc.Function.Arguments)
		}
		pc.images(images)
		if m.Role == "user" {
			c.lastUserText, c.lastImages = strings.Join(texts, " "), images
		}
	}
	c.promptTokens = pc.tokens
	last := req.Messages[len(req.Messages)-1].Role
	c.lastIsUser = last == "user"
	for i := len(req.Messages) - 1; i >= 0 && req.Messages[i].Role == "tool"; i-- {
		c.toolResults++
	}
	for _, t := range req.Tools {
		if t.Type == "function" {
			c.tools = append(c.tools, toolSpec{name: t.Function.Name, schema: t.Function.Parameters})
		}
	}
	if msg := c.openaiToolChoice(req.ToolChoice, len(req.Tools) > 0); msg != "" {
		return nil, msg, "tool_choice"
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			c.jsonMode = true
		case "json_schema":
			if rf.JSONSchema == nil {
				return nil, "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema"
			}
			c.jsonMode, c.jsonSchema = true, rf.JSONSchema.Schema
			if c.jsonSchema == nil {
				c.jsonSchema = map[string]any{}
			}
		case "text", "":
		default:
			return nil, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", rf.Type), "response_format.type"
		}
	}
	stop, err := stringOrList(req.Stop)
	if err != nil {
		return nil, "Invalid type for 'stop'.", "stop"
	}
	c.stop = stop
	return c, "", ""
}

// openaiToolChoice applies tool_choice; it returns a 400 message or "".
func (c *conversation) openaiToolChoice(raw json.RawMessage, haveTools bool) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if !haveTools {
		return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none":
			c.toolMode = toolNone
		case "auto":
		case "required":
			c.toolMode = toolRequired
		default:
			return fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode)
		}
		return ""
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		AllowedTools struct {
			Mode  string `json:"mode"`
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		} `json:"allowed_tools"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "Invalid type for 'tool_choice'."
	}
	switch obj.Type {
	case "function":
		c.toolMode, c.allowed = toolRequired, []string{obj.Function.Name}
	case "allowed_tools":
		if obj.AllowedTools.Mode == "required" {
			c.toolMode = toolRequired
		}
		for _, t := range obj.AllowedTools.Tools {
			c.allowed = append(c.allowed, t.Function.Name)
		}
	default:
		return fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function' and 'allowed_tools'.", obj.Type)
	}
	for _, name := range c.allowed {
		if !c.hasTool(name) {
			return fmt.Sprintf("Invalid value for 'tool_choice': tool '%s' is not in 'tools'.", name)
		}
	}
	return ""
}

// stringOrList reads OpenAI's and others' "string or array of strings".
func stringOrList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	err := json.Unmarshal(raw, &list)
	return list, err
}

type openaiUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

func (rp *reply) openaiUsage() *openaiUsage {
	u := &openaiUsage{
		PromptTokens:     rp.promptTokens + rp.cached,
		CompletionTokens: rp.outputTokens + rp.reasoning,
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	u.PromptTokensDetails.CachedTokens = rp.cached
	u.CompletionTokensDetails.ReasoningTokens = rp.reasoning
	return u
}

func (rp *reply) openaiFinish() string {
	switch rp.finish {
	case finishLength:
		return "length"
	case finishToolCalls:
		return "tool_calls"
	default:
		return "stop"
	}
}

type openaiFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type openaiToolCall struct {
	ID       string             `json:"id"`
	Type     string             `json:"type"`
	Function openaiFunctionCall `json:"function"`
}

type openaiResponseMessage struct {
	Role        string           `json:"role"`
	Content     *string          `json:"content"`
	Refusal     *string          `json:"refusal"`
	ToolCalls   []openaiToolCall `json:"tool_calls,omitempty"`
	Annotations []any            `json:"annotations"`
}

type openaiChoice struct {
	Index        int                   `json:"index"`
	Message      openaiResponseMessage `json:"message"`
	Logprobs     any                   `json:"logprobs"`
	FinishReason string                `json:"finish_reason"`
}

type openaiCompletion struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []openaiChoice `json:"choices"`
	Usage             *openaiUsage   `json:"usage"`
	ServiceTier       string         `json:"service_tier"`
	SystemFingerprint string         `json:"system_fingerprint"`
}

type openaiChunkChoice struct {
	Index        int            `json:"index"`
	Delta        map[string]any `json:"delta"`
	Logprobs     any            `json:"logprobs"`
	FinishReason *string        `json:"finish_reason"`
}

type openaiChunk struct {
	ID                string              `json:"id"`
	Object            string              `json:"object"`
	Created           int64               `json:"created"`
	Model             string              `json:"model"`
	ServiceTier       string              `json:"service_tier"`
	SystemFingerprint string              `json:"system_fingerprint"`
	Choices           []openaiChunkChoice `json:"choices"`
	Usage             any                 `json:"usage,omitempty"`
}

const openaiFingerprint = "fp_switchyard_emulator"

func (ex *exchange) openaiChat() {
	var req openaiChatRequest
	if err := json.Unmarshal(ex.body, &req); err != nil {
		openaiError(ex.w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error(), "")
		return
	}
	if !ex.applyRule(req.Model, ex.openaiStatus) {
		return
	}
	c, msg, param := req.parse(requestSeed(ProviderOpenAI, req.Model, ex.body))
	if c == nil {
		openaiError(ex.w, http.StatusBadRequest, msg, param)
		return
	}
	rp := c.respond(ex.rule, "call_")
	id := newID("chatcmpl-", c.seed, "id")
	ex.w.Header().Set("x-request-id", newID("req_", c.seed, "request"))
	created := time.Now().Unix()
	if req.Stream {
		ex.openaiStream(req, rp, id, created)
		return
	}
	msgOut := openaiResponseMessage{Role: "assistant", Annotations: []any{}}
	if len(rp.toolCalls) == 0 {
		msgOut.Content = &rp.text
	}
	for _, tc := range rp.toolCalls {
		msgOut.ToolCalls = append(msgOut.ToolCalls, openaiToolCall{ID: tc.id, Type: "function", Function: openaiFunctionCall{Name: tc.name, Arguments: tc.args}})
	}
	writeJSON(ex.w, http.StatusOK, openaiCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: req.Model,
		Choices:     []openaiChoice{{Index: 0, Message: msgOut, FinishReason: rp.openaiFinish()}},
		Usage:       rp.openaiUsage(),
		ServiceTier: "default", SystemFingerprint: openaiFingerprint,
	})
}

func (ex *exchange) openaiStream(req openaiChatRequest, rp reply, id string, created int64) {
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(delta map[string]any, finish *string) openaiChunk {
		ch := openaiChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			ServiceTier: "default", SystemFingerprint: openaiFingerprint,
			Choices: []openaiChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
		}
		if includeUsage {
			ch.Usage = json.RawMessage("null") // as OpenAI does on every chunk but the last
		}
		return ch
	}
	var chunks []openaiChunk
	if len(rp.toolCalls) == 0 {
		chunks = append(chunks, chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
		for _, p := range rp.pieces {
			chunks = append(chunks, chunk(map[string]any{"content": p}, nil))
		}
	} else {
		for i, tc := range rp.toolCalls {
			delta := map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "id": tc.id, "type": "function",
				"function": map[string]any{"name": tc.name, "arguments": ""},
			}}}
			if i == 0 {
				delta["role"], delta["content"], delta["refusal"] = "assistant", nil, nil
			}
			chunks = append(chunks, chunk(delta, nil))
			for _, frag := range splitJSON(tc.args) {
				chunks = append(chunks, chunk(map[string]any{"tool_calls": []any{map[string]any{
					"index": i, "function": map[string]any{"arguments": frag},
				}}}, nil))
			}
		}
	}
	finish := rp.openaiFinish()
	chunks = append(chunks, chunk(map[string]any{}, &finish))
	if includeUsage {
		last := chunk(nil, nil)
		last.Choices = []openaiChunkChoice{}
		last.Usage = rp.openaiUsage()
		chunks = append(chunks, last)
	}
	ew := ex.startStream("text/event-stream; charset=utf-8")
	for _, ch := range chunks {
		if !ew.send(sseData(ch, "\n\n")) {
			return
		}
	}
	ew.send([]byte("data: [DONE]\n\n"))
}

func (ex *exchange) openaiEmbeddings() {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     *int            `json:"dimensions"`
	}
	if err := json.Unmarshal(ex.body, &req); err != nil {
		openaiError(ex.w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error(), "")
		return
	}
	if !ex.applyRule(req.Model, ex.openaiStatus) {
		return
	}
	if req.Model == "" {
		openaiError(ex.w, http.StatusBadRequest, "you must provide a model parameter", "")
		return
	}
	inputs, err := stringOrList(req.Input)
	if err != nil {
		openaiError(ex.w, http.StatusBadRequest, "The Switchyard emulator accepts 'input' as a string or an array of strings; token arrays are not supported.", "input")
		return
	}
	if len(inputs) == 0 {
		openaiError(ex.w, http.StatusBadRequest, "'input' must not be empty.", "input")
		return
	}
	for _, in := range inputs {
		if in == "" {
			openaiError(ex.w, http.StatusBadRequest, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
			return
		}
	}
	dims := defaultDimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > maxDimensions {
			openaiError(ex.w, http.StatusBadRequest, fmt.Sprintf("Invalid 'dimensions': expected a value between 1 and %d, got %d.", maxDimensions, *req.Dimensions), "dimensions")
			return
		}
		dims = *req.Dimensions
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		openaiError(ex.w, http.StatusBadRequest, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat), "encoding_format")
		return
	}
	type embedding struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	resp := struct {
		Object string      `json:"object"`
		Data   []embedding `json:"data"`
		Model  string      `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: req.Model}
	for i, in := range inputs {
		vec := embedVector(in, dims)
		var enc any = vec
		if req.EncodingFormat == "base64" {
			enc = base64Floats(vec)
		}
		resp.Data = append(resp.Data, embedding{Object: "embedding", Index: i, Embedding: enc})
		resp.Usage.PromptTokens += ceilDiv(len(in), 4)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	writeJSON(ex.w, http.StatusOK, resp)
}
