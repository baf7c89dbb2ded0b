package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-ai/switchyard/internal/openapispec"
)

// openaiClient points the SDK at the emulator: openai-go wants the base URL
// to include /v1/.
func openaiClient(baseURL string) openai.Client {
	return openai.NewClient(option.WithBaseURL(baseURL+"/v1/"), option.WithAPIKey("test-key"), option.WithMaxRetries(0))
}

var weatherTools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{
			"type": "object",
			"properties": map[string]any{
				"city":  map[string]any{"type": "string"},
				"days":  map[string]any{"type": "integer"},
				"units": map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
				"note":  map[string]any{"type": "string"},
			},
			"required": []any{"city", "days", "units"},
		},
	}),
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_time",
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"utc": map[string]any{"type": "boolean"}, "zones": map[string]any{"type": "array"}},
			"required":   []any{"utc", "zones"},
		},
	}),
}

const (
	weatherArgs = `{"city":"sample","days":1,"units":"celsius"}`
	timeArgs    = `{"utc":true,"zones":[]}`
)

func TestOpenAISDKChat(t *testing.T) {
	_, ts := newEmulator(t)
	client := openaiClient(ts.URL)
	ctx := context.Background()
	const prompt = "what is the weather like today in Paris please"
	base := func() openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}
	}
	tests := []struct {
		name       string
		edit       func(p *openai.ChatCompletionNewParams)
		wantText   string
		wantFinish string
		wantPrompt int
	}{
		{"echo", func(*openai.ChatCompletionNewParams) {},
			"Hello from gpt-4o-mini. You said: what is the weather like today in Paris", "stop", 3 + ceil4(prompt)},
		{"system message counts", func(p *openai.ChatCompletionNewParams) {
			p.Messages = append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief.")}, p.Messages...)
		}, "Hello from gpt-4o-mini. You said: what is the weather like today in Paris", "stop", 6 + ceil4("Be brief.") + ceil4(prompt)},
		{"max_completion_tokens truncates", func(p *openai.ChatCompletionNewParams) { p.MaxCompletionTokens = openai.Int(4) },
			"Hello from gpt-4o-mini. You", "length", 3 + ceil4(prompt)},
		{"max_tokens truncates", func(p *openai.ChatCompletionNewParams) { p.MaxTokens = openai.Int(2) },
			"Hello from", "length", 3 + ceil4(prompt)},
		{"stop sequence cuts", func(p *openai.ChatCompletionNewParams) {
			p.Stop = openai.ChatCompletionNewParamsStopUnion{OfString: openai.String(" You said")}
		}, "Hello from gpt-4o-mini.", "stop", 3 + ceil4(prompt)},
		{"json_object", func(p *openai.ChatCompletionNewParams) {
			p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
		}, `{"answer":"Hello from gpt-4o-mini. You said: what is the weather like today in Paris"}`, "stop", 3 + ceil4(prompt)},
		{"json_schema", func(p *openai.ChatCompletionNewParams) {
			p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "r", Schema: map[string]any{
					"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "n": map[string]any{"type": "number"}},
					"required": []any{"city", "n"}, "additionalProperties": false,
				}},
			}}
		}, `{"city":"sample","n":1}`, "stop", 3 + ceil4(prompt)},
		{"tool_choice none answers in text", func(p *openai.ChatCompletionNewParams) {
			p.Tools = weatherTools
			p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		}, "Hello from gpt-4o-mini. You said: what is the weather like today in Paris", "stop", 3 + ceil4(prompt)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.edit(&p)
			resp, err := client.Chat.Completions.New(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			ch := resp.Choices[0]
			if ch.Message.Content != tt.wantText || ch.FinishReason != tt.wantFinish {
				t.Fatalf("got %q/%s, want %q/%s", ch.Message.Content, ch.FinishReason, tt.wantText, tt.wantFinish)
			}
			u := resp.Usage
			if int(u.PromptTokens) != tt.wantPrompt || int(u.CompletionTokens) != len(strings.Fields(tt.wantText)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Fatalf("usage %+v, want prompt %d completion %d", u, tt.wantPrompt, len(strings.Fields(tt.wantText)))
			}
			if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Object != "chat.completion" || resp.Model != "gpt-4o-mini" {
				t.Fatalf("envelope: %s %s %s", resp.ID, resp.Object, resp.Model)
			}
		})
	}
}

func TestOpenAISDKTools(t *testing.T) {
	_, ts := newEmulator(t)
	client := openaiClient(ts.URL)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather and time?")},
		Tools:    weatherTools,
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 2 || msg.Content != "" {
		t.Fatalf("want 2 tool calls, got %+v", resp.Choices[0])
	}
	for i, want := range []struct{ name, args string }{{"get_weather", weatherArgs}, {"get_time", timeArgs}} {
		tc := msg.ToolCalls[i]
		if tc.Function.Name != want.name || tc.Function.Arguments != want.args || !strings.HasPrefix(tc.ID, "call_") || tc.Type != "function" {
			t.Errorf("call %d = %+v, want %s %s", i, tc, want.name, want.args)
		}
	}
	if want := callTokens(weatherArgs) + callTokens(timeArgs); int(resp.Usage.CompletionTokens) != want {
		t.Errorf("completion tokens %d, want %d", resp.Usage.CompletionTokens, want)
	}

	// Second turn: the results come back.
	params.Messages = append(params.Messages, msg.ToParam(),
		openai.ToolMessage("sunny", msg.ToolCalls[0].ID), openai.ToolMessage("noon", msg.ToolCalls[1].ID))
	resp2, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp2.Choices[0].Message.Content; got != "Got 2 tool result(s)." || resp2.Choices[0].FinishReason != "stop" {
		t.Fatalf("second turn: %q %s", got, resp2.Choices[0].FinishReason)
	}

	// Forced choice calls only the named tool.
	params.Messages = params.Messages[:1]
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
		Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_time"}}}
	resp3, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if calls := resp3.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != "get_time" {
		t.Fatalf("forced: %+v", calls)
	}
}

func TestOpenAISDKStreaming(t *testing.T) {
	em, ts := newEmulator(t)
	client := openaiClient(ts.URL)
	ctx := context.Background()
	em.AddRule(Rule{Model: "gpt-4o-mini", CachedTokens: 7, ReasoningTokens: 5})
	for _, tc := range []struct {
		name  string
		tools []openai.ChatCompletionToolUnionParam
	}{{"text", nil}, {"two tool calls", weatherTools}} {
		t.Run(tc.name, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me a reply please")},
				Tools:    tc.tools,
			}
			want, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			chunks := 0
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("accumulator rejected chunk %d: %s", chunks, stream.Current().RawJSON())
				}
				chunks++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			got := acc.ChatCompletion
			if got.ID != want.ID {
				t.Errorf("stream id %s, JSON id %s", got.ID, want.ID)
			}
			if got.Choices[0].Message.Content != want.Choices[0].Message.Content || got.Choices[0].FinishReason != want.Choices[0].FinishReason {
				t.Errorf("stream %q/%s, JSON %q/%s", got.Choices[0].Message.Content, got.Choices[0].FinishReason,
					want.Choices[0].Message.Content, want.Choices[0].FinishReason)
			}
			gotCalls, wantCalls := got.Choices[0].Message.ToolCalls, want.Choices[0].Message.ToolCalls
			if len(gotCalls) != len(wantCalls) {
				t.Fatalf("stream has %d tool calls, JSON %d", len(gotCalls), len(wantCalls))
			}
			for i := range gotCalls {
				if gotCalls[i].ID != wantCalls[i].ID || gotCalls[i].Function.Name != wantCalls[i].Function.Name || gotCalls[i].Function.Arguments != wantCalls[i].Function.Arguments {
					t.Errorf("tool call %d: stream %+v, JSON %+v", i, gotCalls[i].Function, wantCalls[i].Function)
				}
			}
			gu, wu := got.Usage, want.Usage
			if gu.PromptTokens != wu.PromptTokens || gu.CompletionTokens != wu.CompletionTokens || gu.TotalTokens != wu.TotalTokens ||
				gu.PromptTokensDetails.CachedTokens != 7 || wu.PromptTokensDetails.CachedTokens != 7 ||
				gu.CompletionTokensDetails.ReasoningTokens != 5 || wu.CompletionTokensDetails.ReasoningTokens != 5 {
				t.Errorf("usage: stream %+v, JSON %+v", gu, wu)
			}
			if tc.tools == nil && chunks != 1+len(strings.Fields(want.Choices[0].Message.Content))+2 {
				t.Errorf("%d chunks, want role + one per word + finish + usage", chunks)
			}
		})
	}
}

func TestOpenAISDKEmbeddings(t *testing.T) {
	_, ts := newEmulator(t)
	client := openaiClient(ts.URL)
	ctx := context.Background()
	inputs := []string{"first text", "second text"}
	float, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	})
	if err != nil {
		t.Fatal(err)
	}
	b64, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64, Dimensions: openai.Int(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(float.Data) != 2 || len(b64.Data) != 2 {
		t.Fatalf("want 2 embeddings, got %d and %d", len(float.Data), len(b64.Data))
	}
	for i := range inputs {
		f, b := float.Data[i].Embedding, b64.Data[i].Embedding
		if len(f) != defaultDimensions || fmt.Sprint(f) != fmt.Sprint(b) {
			t.Errorf("input %d: float %v, base64 %v", i, f, b)
		}
	}
	if fmt.Sprint(float.Data[0].Embedding) == fmt.Sprint(float.Data[1].Embedding) {
		t.Error("different inputs gave the same vector")
	}
	if want := int64(ceil4(inputs[0]) + ceil4(inputs[1])); float.Usage.PromptTokens != want || float.Usage.TotalTokens != want {
		t.Errorf("usage %+v, want %d", float.Usage, want)
	}
	wide, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("first text")}, Dimensions: openai.Int(40),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := wide.Data[0].Embedding; len(v) != 40 || fmt.Sprint(v[:8]) != fmt.Sprint(float.Data[0].Embedding) {
		t.Errorf("40-dim vector should extend the 8-dim one: %v", v)
	}
	models, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(models.Data) == 0 || models.Data[0].Object != "model" {
		t.Fatalf("models: %+v", models.Data)
	}
}

// TestOpenAIWireMatchesSpec checks every body and stream chunk against the
// OpenAPI description, which is stricter than the SDK's lenient decoding.
func TestOpenAIWireMatchesSpec(t *testing.T) {
	em, ts := newEmulator(t)
	completion := openapispec.Validator(t, "CreateChatCompletionResponse")
	chunkSchema := openapispec.Validator(t, "CreateChatCompletionStreamResponse")
	embeddings := openapispec.Validator(t, "CreateEmbeddingResponse")
	errorSchema := openapispec.Validator(t, "ErrorResponse")
	models := openapispec.Validator(t, "ListModelsResponse")
	toolsJSON := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
		{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`
	chat := ts.URL + "/v1/chat/completions"

	t.Run("JSON bodies", func(t *testing.T) {
		for _, body := range []string{
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi there"}]}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":` + toolsJSON + `}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		} {
			resp, b := post(t, chat, openaiAuth, body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if err := completion(b); err != nil {
				t.Errorf("%v\n%s", err, b)
			}
		}
	})

	t.Run("stream chunks", func(t *testing.T) {
		for _, tc := range []struct {
			name, body   string
			includeUsage bool
			toolCalls    int
		}{
			{"text", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi there"}]}`, false, 0},
			{"text with usage", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`, true, 0},
			{"tools with usage", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"tools":` + toolsJSON + `,"messages":[{"role":"user","content":"hi"}]}`, true, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, b := post(t, chat, openaiAuth, tc.body)
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
					t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
				}
				events := parseSSE(t, b)
				if last := events[len(events)-1]; last.data != "[DONE]" {
					t.Fatalf("stream must end with [DONE], got %q", last.data)
				}
				var chunks []map[string]any
				for _, ev := range events[:len(events)-1] {
					if err := chunkSchema(ev.data); err != nil {
						t.Errorf("%v\n%s", err, ev.data)
					}
					var m map[string]any
					if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
						t.Fatal(err)
					}
					chunks = append(chunks, m)
				}
				delta := func(i int) map[string]any {
					choices := chunks[i]["choices"].([]any)
					if len(choices) == 0 {
						return nil
					}
					return choices[0].(map[string]any)["delta"].(map[string]any)
				}
				if delta(0)["role"] != "assistant" {
					t.Errorf("first delta has no assistant role: %v", chunks[0])
				}
				for i, ch := range chunks {
					_, hasUsage := ch["usage"]
					isLast := i == len(chunks)-1
					switch {
					case !tc.includeUsage && hasUsage:
						t.Errorf("chunk %d has usage without include_usage", i)
					case tc.includeUsage && isLast && (len(ch["choices"].([]any)) != 0 || ch["usage"] == nil):
						t.Errorf("last chunk must have choices [] and usage: %v", ch)
					case tc.includeUsage && !isLast && ch["usage"] != nil:
						t.Errorf("chunk %d carries usage early", i)
					}
				}
				if tc.toolCalls == 0 {
					return
				}
				// Each call opens with index, id, type, name and empty arguments,
				// then its arguments come in two or more fragments.
				headers, fragments := map[float64]bool{}, map[float64]int{}
				for i := range chunks {
					calls, _ := delta(i)["tool_calls"].([]any)
					for _, c := range calls {
						c := c.(map[string]any)
						idx := c["index"].(float64)
						fn := c["function"].(map[string]any)
						if id, ok := c["id"].(string); ok {
							if headers[idx] || !strings.HasPrefix(id, "call_") || c["type"] != "function" || fn["name"] == "" || fn["arguments"] != "" {
								t.Errorf("bad tool call header %v", c)
							}
							headers[idx] = true
						} else {
							fragments[idx]++
						}
					}
				}
				if len(headers) != tc.toolCalls || !headers[0] || !headers[1] || fragments[0] < 2 || fragments[1] < 2 {
					t.Errorf("tool call headers %v fragments %v", headers, fragments)
				}
			})
		}
	})

	t.Run("embeddings and models", func(t *testing.T) {
		resp, b := post(t, ts.URL+"/v1/embeddings", openaiAuth, `{"model":"text-embedding-3-small","input":["a","b"]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if err := embeddings(b); err != nil {
			t.Error(err)
		}
		resp, b, _ = do(t, http.MethodGet, ts.URL+"/v1/models", openaiAuth, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if err := models(b); err != nil {
			t.Error(err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		em.AddRule(Rule{Model: "broken-429", Status: 429})
		em.AddRule(Rule{Model: "broken-500", Status: 500})
		tests := []struct {
			name, body string
			headers    map[string]string
			status     int
			errType    string
			code       any
			param      any
		}{
			{"no key", `{}`, nil, 401, "invalid_request_error", "invalid_api_key", nil},
			{"n=2", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "n"},
			{"no model", `{"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, nil},
			{"no messages", `{"model":"m","messages":[]}`, openaiAuth, 400, "invalid_request_error", nil, "messages"},
			{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "messages[0].role"},
			{"stream_options without stream", `{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "stream_options"},
			{"tool_choice without tools", `{"model":"m","tool_choice":"auto","messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "tool_choice"},
			{"unknown forced tool", `{"model":"m","tools":` + toolsJSON + `,"tool_choice":{"type":"function","function":{"name":"nope"}},"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "tool_choice"},
			{"max_tokens 0", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 400, "invalid_request_error", nil, "max_tokens"},
			{"malformed JSON", `{"model":`, openaiAuth, 400, "invalid_request_error", nil, nil},
			{"injected 429", `{"model":"broken-429","stream":true,"messages":[{"role":"user","content":"x"}]}`, openaiAuth, 429, "requests", "rate_limit_exceeded", nil},
			{"injected 500", `{"model":"broken-500","messages":[{"role":"user","content":"x"}]}`, openaiAuth, 500, "server_error", nil, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, b := post(t, chat, tt.headers, tt.body)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
				}
				if err := errorSchema(b); err != nil {
					t.Error(err)
				}
				var e struct {
					Error struct {
						Type  string `json:"type"`
						Code  any    `json:"code"`
						Param any    `json:"param"`
					} `json:"error"`
				}
				_ = json.Unmarshal(b, &e)
				if e.Error.Type != tt.errType || e.Error.Code != tt.code || e.Error.Param != tt.param {
					t.Errorf("error %+v, want type %s code %v param %v", e.Error, tt.errType, tt.code, tt.param)
				}
			})
		}
	})

	t.Run("embedding input errors", func(t *testing.T) {
		for _, body := range []string{
			`{"model":"e","input":[1,2,3]}`, `{"model":"e","input":[]}`, `{"model":"e","input":""}`,
			`{"model":"e","input":"x","encoding_format":"int8"}`, `{"model":"e","input":"x","dimensions":0}`,
		} {
			resp, b := post(t, ts.URL+"/v1/embeddings", openaiAuth, body)
			if resp.StatusCode != 400 {
				t.Errorf("%s: status %d", body, resp.StatusCode)
			}
			if err := errorSchema(b); err != nil {
				t.Error(err)
			}
		}
	})
}
