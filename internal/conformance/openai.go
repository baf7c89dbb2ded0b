package conformance

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// openaiClient is the OpenAI style: chat.completions through openai-go.
type openaiClient struct {
	sdk openai.Client
}

var _ client = (*openaiClient)(nil)

// newOpenAIClient returns openai-go pointed at the edge. Every exchange it
// makes is checked against the OpenAPI description when t ends.
func newOpenAIClient(t *testing.T, tg Target, key string) *openaiClient {
	return &openaiClient{sdk: openai.NewClient(
		option.WithBaseURL(tg.BaseURL+"/v1/"),
		option.WithAPIKey(key),
		// A retry would hide what the edge answered first.
		option.WithMaxRetries(0),
		option.WithMiddleware(newWireCheck(t).middleware),
	)}
}

func (c *openaiClient) finish(canonical string) string { return canonical }

func (c *openaiClient) apiError(err error) (apiError, bool) {
	var e *openai.Error
	if !errors.As(err, &e) {
		return apiError{}, false
	}
	return apiError{status: e.StatusCode, typ: e.Type, body: e.RawJSON() + " " + e.Message}, true
}

var openaiTools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: weatherSchema}),
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: timeSchema}),
}

func (c *openaiClient) params(r chatRequest) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{Model: r.model}
	if r.system != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(r.system))
	}
	for _, tn := range r.turns {
		switch {
		case tn.answered != nil:
			p.Messages = append(p.Messages, tn.answered.native.(openai.ChatCompletionMessage).ToParam())
			for _, tc := range tn.answered.toolCalls {
				p.Messages = append(p.Messages, openai.ToolMessage(toolResult(tc), tc.id))
			}
		case tn.role == "assistant":
			p.Messages = append(p.Messages, openai.AssistantMessage(tn.text))
		case tn.image:
			p.Messages = append(p.Messages, openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart(tn.text),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{
					URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(testImage),
				}),
			}))
		default:
			p.Messages = append(p.Messages, openai.UserMessage(tn.text))
		}
	}
	if r.tools {
		p.Tools = openaiTools
	}
	if r.maxTokens > 0 {
		p.MaxCompletionTokens = openai.Int(int64(r.maxTokens))
	}
	return p
}

func (c *openaiClient) chat(ctx context.Context, r chatRequest) (reply, error) {
	return c.complete(ctx, r, c.params(r))
}

// complete sends p, which the caller may have extended beyond what r says.
func (c *openaiClient) complete(ctx context.Context, r chatRequest, p openai.ChatCompletionNewParams) (reply, error) {
	var raw *http.Response
	opts := []option.RequestOption{option.WithResponseInto(&raw)}
	for k, v := range r.extra {
		opts = append(opts, option.WithJSONSet(k, v))
	}
	var rep reply
	if !r.stream {
		resp, err := c.sdk.Chat.Completions.New(ctx, p, opts...)
		rep.requestID = requestID(raw)
		if err != nil {
			return rep, err
		}
		return rep, readCompletion(&rep, resp)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := c.sdk.Chat.Completions.NewStreaming(ctx, p, opts...)
	defer stream.Close()
	rep.requestID = requestID(raw)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			return rep, fmt.Errorf("the accumulator refused chunk %d: %s", rep.events, stream.Current().RawJSON())
		}
		rep.events++
		if rep.events == r.hangUpAfter {
			cancel()
			return rep, nil
		}
	}
	if err := stream.Err(); err != nil {
		if len(acc.Choices) > 0 {
			rep.text = acc.Choices[0].Message.Content
		}
		return rep, err
	}
	return rep, readCompletion(&rep, &acc.ChatCompletion)
}

func readCompletion(rep *reply, resp *openai.ChatCompletion) error {
	if len(resp.Choices) != 1 {
		return fmt.Errorf("got %d choices, want 1: %s", len(resp.Choices), resp.RawJSON())
	}
	ch := resp.Choices[0]
	rep.text, rep.finish, rep.native = ch.Message.Content, ch.FinishReason, ch.Message
	u := resp.Usage
	rep.tokens = chat.Tokens{
		Input:       int(u.PromptTokens - u.PromptTokensDetails.CachedTokens),
		CachedInput: int(u.PromptTokensDetails.CachedTokens),
		Output:      int(u.CompletionTokens),
		Reasoning:   int(u.CompletionTokensDetails.ReasoningTokens),
	}
	for _, tc := range ch.Message.ToolCalls {
		rep.toolCalls = append(rep.toolCalls, toolCall{id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments})
	}
	return nil
}

func requestID(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return resp.Header.Get("X-Request-Id")
}
