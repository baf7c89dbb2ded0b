package conformance

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// anthropicClient is the Anthropic style: /v1/messages through
// anthropic-sdk-go.
type anthropicClient struct {
	sdk anthropic.Client
}

var _ client = (*anthropicClient)(nil)

// anthropicMaxTokens is sent when a case sets no limit: the Messages API
// requires one.
const anthropicMaxTokens = 1024

func newAnthropicClient(tg Target, key string) *anthropicClient {
	return &anthropicClient{sdk: anthropic.NewClient(
		// The edge, not ANTHROPIC_* variables of whoever runs the tests.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(tg.BaseURL+"/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)}
}

func (c *anthropicClient) finish(canonical string) string {
	switch canonical {
	case chat.FinishStop:
		return string(anthropic.StopReasonEndTurn)
	case chat.FinishLength:
		return string(anthropic.StopReasonMaxTokens)
	case chat.FinishToolCalls:
		return string(anthropic.StopReasonToolUse)
	}
	return canonical
}

func (c *anthropicClient) apiError(err error) (apiError, bool) {
	var e *anthropic.Error
	if !errors.As(err, &e) {
		return apiError{}, false
	}
	return apiError{status: e.StatusCode, typ: string(e.Type()), body: e.Error()}, true
}

var anthropicTools = []anthropic.ToolUnionParam{
	{OfTool: &anthropic.ToolParam{Name: "get_weather", InputSchema: inputSchema(weatherSchema)}},
	{OfTool: &anthropic.ToolParam{Name: "get_time", InputSchema: inputSchema(timeSchema)}},
}

func inputSchema(s map[string]any) anthropic.ToolInputSchemaParam {
	return anthropic.ToolInputSchemaParam{Properties: s["properties"], Required: s["required"].([]string)}
}

func (c *anthropicClient) params(r chatRequest) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{Model: anthropic.Model(r.model), MaxTokens: anthropicMaxTokens}
	if r.maxTokens > 0 {
		p.MaxTokens = int64(r.maxTokens)
	}
	if r.system != "" {
		p.System = []anthropic.TextBlockParam{{Text: r.system}}
	}
	for _, tn := range r.turns {
		switch {
		case tn.answered != nil:
			p.Messages = append(p.Messages, tn.answered.native.(anthropic.Message).ToParam())
			var results []anthropic.ContentBlockParamUnion
			for _, tc := range tn.answered.toolCalls {
				results = append(results, anthropic.NewToolResultBlock(tc.id, toolResult(tc), false))
			}
			p.Messages = append(p.Messages, anthropic.NewUserMessage(results...))
		case tn.role == "assistant":
			p.Messages = append(p.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock(tn.text)))
		case tn.image:
			p.Messages = append(p.Messages, anthropic.NewUserMessage(
				anthropic.NewTextBlock(tn.text),
				anthropic.NewImageBlockBase64("image/png", base64.StdEncoding.EncodeToString(testImage)),
			))
		default:
			p.Messages = append(p.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(tn.text)))
		}
	}
	if r.tools {
		p.Tools = anthropicTools
	}
	return p
}

func (c *anthropicClient) chat(ctx context.Context, r chatRequest) (reply, error) {
	p := c.params(r)
	var raw *http.Response
	opts := []option.RequestOption{option.WithResponseInto(&raw)}
	for k, v := range r.extra {
		opts = append(opts, option.WithJSONSet(k, v))
	}
	var rep reply
	if !r.stream {
		msg, err := c.sdk.Messages.New(ctx, p, opts...)
		rep.requestID = requestID(raw)
		if err != nil {
			return rep, err
		}
		readMessage(&rep, msg)
		return rep, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := c.sdk.Messages.NewStreaming(ctx, p, opts...)
	defer stream.Close()
	rep.requestID = requestID(raw)
	var msg anthropic.Message
	stopped := false
	for stream.Next() {
		ev := stream.Current()
		if err := msg.Accumulate(ev); err != nil {
			return rep, err
		}
		stopped = stopped || ev.Type == "message_stop"
		rep.events++
		if rep.events == r.hangUpAfter {
			cancel()
			return rep, nil
		}
	}
	readMessage(&rep, &msg)
	if err := stream.Err(); err != nil {
		return rep, err
	}
	if !stopped {
		// The SDK takes a stream that just stops for a finished one.
		return rep, errors.New("the stream ended without message_stop")
	}
	return rep, nil
}

func readMessage(rep *reply, msg *anthropic.Message) {
	rep.finish, rep.native = string(msg.StopReason), *msg
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			rep.text += b.Text
		case "tool_use":
			rep.toolCalls = append(rep.toolCalls, toolCall{id: b.ID, name: b.Name, args: string(b.Input)})
		}
	}
	u := msg.Usage
	rep.tokens = chat.Tokens{
		Input:       int(u.InputTokens),
		CachedInput: int(u.CacheReadInputTokens),
		CacheWrite:  int(u.CacheCreationInputTokens),
		Output:      int(u.OutputTokens),
	}
}
