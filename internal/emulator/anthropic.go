package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// anthropicErrorType maps a status to the error type Anthropic documents.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func (ex *exchange) anthropicError(status int, msg string) {
	reqID := "req_" + hashHex(ex.r.URL.Path, string(ex.body), msg)[:24]
	ex.w.Header().Set("request-id", reqID)
	writeJSON(ex.w, status, map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": anthropicErrorType(status), "message": msg},
		"request_id": reqID,
	})
}

func serveAnthropic(ex *exchange) {
	if strings.TrimSpace(ex.r.Header.Get("x-api-key")) == "" {
		ex.anthropicError(http.StatusUnauthorized, "x-api-key header is required")
		return
	}
	if ex.r.Header.Get("anthropic-version") == "" {
		ex.anthropicError(http.StatusBadRequest, "anthropic-version: header is required")
		return
	}
	if ex.r.Method != http.MethodPost || ex.r.URL.Path != "/v1/messages" {
		ex.anthropicError(http.StatusNotFound, "Not Found")
		return
	}
	var req anthropicRequest
	if err := json.Unmarshal(ex.body, &req); err != nil {
		ex.anthropicError(http.StatusBadRequest, "There was an issue with your request body: "+err.Error())
		return
	}
	if !ex.applyRule(req.Model, ex.anthropicError) {
		return
	}
	c, msg := req.parse(requestSeed(ProviderAnthropic, req.Model, ex.body))
	if c == nil {
		ex.anthropicError(http.StatusBadRequest, msg)
		return
	}
	rp := c.respond(ex.rule, "toolu_")
	id := newID("msg_", c.seed, "id")
	ex.w.Header().Set("request-id", newID("req_", c.seed, "request"))
	if req.Stream {
		ex.anthropicStream(req.Model, id, rp)
		return
	}
	writeJSON(ex.w, http.StatusOK, anthropicMessage{
		ID: id, Type: "message", Role: "assistant", Model: req.Model,
		Content:    rp.anthropicContent(),
		StopReason: strPtr(rp.anthropicStopReason()), StopSequence: rp.anthropicStopSequence(),
		Usage: rp.anthropicUsage(),
	})
}

type anthropicRequest struct {
	Model     string               `json:"model"`
	MaxTokens *int                 `json:"max_tokens"`
	Messages  []anthropicMessageIn `json:"messages"`
	System    json.RawMessage      `json:"system"`
	Tools     []struct {
		Type        string         `json:"type"`
		Name        string         `json:"name"`
		InputSchema map[string]any `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	StopSequences []string `json:"stop_sequences"`
	Stream        bool     `json:"stream"`
}

type anthropicMessageIn struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Input   json.RawMessage `json:"input"`
	Content json.RawMessage `json:"content"` // tool_result: string or blocks
	Source  *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
	} `json:"source"`
}

// anthropicBlocks reads "string or array of content blocks".
func anthropicBlocks(raw json.RawMessage) ([]anthropicBlock, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return []anthropicBlock{{Type: "text", Text: s}}, err
	}
	var blocks []anthropicBlock
	err := json.Unmarshal(raw, &blocks)
	return blocks, err
}

// blockSummary counts what a list of blocks shows the model.
type blockSummary struct {
	texts       []string
	images      int
	toolResults int
}

func summarizeBlocks(blocks []anthropicBlock, pc *promptCounter) (blockSummary, error) {
	var s blockSummary
	for _, b := range blocks {
		switch b.Type {
		case "text":
			s.texts = append(s.texts, b.Text)
			pc.text(b.Text)
		case "image":
			if b.Source == nil {
				return s, fmt.Errorf("image.source: Field required")
			}
			if b.Source.Type == "base64" {
				switch b.Source.MediaType {
				case "image/jpeg", "image/png", "image/gif", "image/webp":
				default:
					return s, fmt.Errorf("image.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
				}
				if b.Source.Data == "" {
					return s, fmt.Errorf("image.source.data: Field required")
				}
			}
			s.images++
			pc.images(1)
		case "tool_use":
			var compact bytes.Buffer
			if json.Compact(&compact, b.Input) == nil {
				pc.text(compact.String())
			}
		case "tool_result":
			s.toolResults++
			inner, err := anthropicBlocks(b.Content)
			if err != nil {
				return s, fmt.Errorf("tool_result.content: %v", err)
			}
			if _, err := summarizeBlocks(inner, pc); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// parse turns the request into a conversation, or returns the 400 message.
func (req *anthropicRequest) parse(seed string) (*conversation, string) {
	if req.Model == "" {
		return nil, "model: Field required"
	}
	if req.MaxTokens == nil {
		return nil, "max_tokens: Field required"
	}
	if *req.MaxTokens < 1 {
		return nil, "max_tokens: Input should be greater than or equal to 1"
	}
	if len(req.Messages) == 0 {
		return nil, "messages: at least one message is required"
	}
	c := &conversation{model: req.Model, seed: seed, maxTokens: *req.MaxTokens, stop: req.StopSequences}
	var pc promptCounter
	if sys := bytes.TrimSpace(req.System); len(sys) > 0 && string(sys) != "null" {
		blocks, err := anthropicBlocks(sys)
		if err != nil {
			return nil, "system: Input should be a valid string or a list of text blocks"
		}
		pc.message()
		if _, err := summarizeBlocks(blocks, &pc); err != nil {
			return nil, "system: " + err.Error()
		}
	}
	var last blockSummary
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		blocks, err := anthropicBlocks(m.Content)
		if err != nil {
			return nil, fmt.Sprintf("messages.%d.content: Input should be a valid string or a list of content blocks", i)
		}
		pc.message()
		s, err := summarizeBlocks(blocks, &pc)
		if err != nil {
			return nil, fmt.Sprintf("messages.%d.content: %v", i, err)
		}
		if m.Role == "user" && s.toolResults == 0 {
			c.lastUserText, c.lastImages = strings.Join(s.texts, " "), s.images
		}
		last = s
	}
	c.promptTokens = pc.tokens
	if req.Messages[len(req.Messages)-1].Role == "user" {
		c.toolResults = last.toolResults
		c.lastIsUser = last.toolResults == 0
	}
	for _, t := range req.Tools {
		if t.Type == "" || t.Type == "custom" {
			c.tools = append(c.tools, toolSpec{name: t.Name, schema: t.InputSchema})
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
		case "none":
			c.toolMode = toolNone
		case "any":
			c.toolMode = toolRequired
		case "tool":
			if !c.hasTool(tc.Name) {
				return nil, fmt.Sprintf("tool_choice: tool '%s' not found in tools", tc.Name)
			}
			c.toolMode, c.allowed = toolRequired, []string{tc.Name}
		default:
			return nil, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
		}
	}
	return c, ""
}

type anthropicUsage struct {
	InputTokens              int                     `json:"input_tokens"`
	CacheCreationInputTokens int                     `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int                     `json:"cache_read_input_tokens"`
	CacheCreation            *anthropicCacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int                     `json:"output_tokens"`
	ServiceTier              string                  `json:"service_tier,omitempty"`
}

type anthropicCacheCreation struct {
	Ephemeral5mInputTokens int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int `json:"ephemeral_1h_input_tokens"`
}

type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []any          `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
}

func (rp *reply) anthropicUsage() anthropicUsage {
	return anthropicUsage{
		InputTokens:          rp.promptTokens,
		CacheReadInputTokens: rp.cached,
		CacheCreation:        &anthropicCacheCreation{},
		OutputTokens:         rp.outputTokens + rp.reasoning,
		ServiceTier:          "standard",
	}
}

func (rp *reply) anthropicStopReason() string {
	switch rp.finish {
	case finishLength:
		return "max_tokens"
	case finishToolCalls:
		return "tool_use"
	case finishStopSequence:
		return "stop_sequence"
	default:
		return "end_turn"
	}
}

func (rp *reply) anthropicStopSequence() *string {
	if rp.finish == finishStopSequence {
		return &rp.stopSequence
	}
	return nil
}

func (rp *reply) anthropicContent() []any {
	if len(rp.toolCalls) == 0 {
		return []any{map[string]any{"type": "text", "text": rp.text}}
	}
	var out []any
	for _, tc := range rp.toolCalls {
		out = append(out, map[string]any{"type": "tool_use", "id": tc.id, "name": tc.name, "input": json.RawMessage(tc.args)})
	}
	return out
}

// anthropicStream sends the documented event sequence: message_start, per
// block content_block_start / deltas / content_block_stop (with a ping after
// the first start, as Anthropic does), message_delta, message_stop.
func (ex *exchange) anthropicStream(model, id string, rp reply) {
	type ev struct {
		name string
		data any
	}
	start := anthropicMessage{
		ID: id, Type: "message", Role: "assistant", Model: model, Content: []any{},
		Usage: rp.anthropicUsage(),
	}
	start.Usage.OutputTokens = 1
	events := []ev{{"message_start", map[string]any{"type": "message_start", "message": start}}}
	block := func(i int, cb any, deltas []map[string]any) {
		events = append(events, ev{"content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": cb}})
		if i == 0 {
			events = append(events, ev{"ping", map[string]any{"type": "ping"}})
		}
		for _, d := range deltas {
			events = append(events, ev{"content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d}})
		}
		events = append(events, ev{"content_block_stop", map[string]any{"type": "content_block_stop", "index": i}})
	}
	if len(rp.toolCalls) == 0 {
		var deltas []map[string]any
		for _, p := range rp.pieces {
			deltas = append(deltas, map[string]any{"type": "text_delta", "text": p})
		}
		block(0, map[string]any{"type": "text", "text": ""}, deltas)
	}
	for i, tc := range rp.toolCalls {
		var deltas []map[string]any
		for _, frag := range splitJSON(tc.args) {
			deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": frag})
		}
		block(i, map[string]any{"type": "tool_use", "id": tc.id, "name": tc.name, "input": map[string]any{}}, deltas)
	}
	// message_delta carries cumulative totals but not the per-message extras.
	usage := rp.anthropicUsage()
	usage.ServiceTier, usage.CacheCreation = "", nil
	events = append(events,
		ev{"message_delta", map[string]any{
			"type":  "message_delta",
			"delta": map[string]any{"stop_reason": rp.anthropicStopReason(), "stop_sequence": rp.anthropicStopSequence()},
			"usage": usage,
		}},
		ev{"message_stop", map[string]any{"type": "message_stop"}},
	)
	ew := ex.startStream("text/event-stream; charset=utf-8")
	for _, e := range events {
		if !ew.send(sseEvent(e.name, e.data)) {
			return
		}
	}
}
