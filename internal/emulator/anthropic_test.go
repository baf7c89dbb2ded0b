package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
)

// anthropicClient points the SDK at the emulator: anthropic-sdk-go wants the
// bare origin and adds v1/messages itself.
func anthropicClient(baseURL string) anthropic.Client {
	return anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(baseURL),
		option.WithAPIKey("test-key"), option.WithMaxRetries(0))
}

var anthropicTools = []anthropic.ToolUnionParam{
	anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{
			"city":  map[string]any{"type": "string"},
			"days":  map[string]any{"type": "integer"},
			"units": map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
		},
		Required: []string{"city", "days", "units"},
	}, "get_weather"),
	anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"utc": map[string]any{"type": "boolean"}, "zones": map[string]any{"type": "array"}},
		Required:   []string{"utc", "zones"},
	}, "get_time"),
}

func anthropicText(m *anthropic.Message) string {
	var sb strings.Builder
	for _, b := range m.Content {
		sb.WriteString(b.Text)
	}
	return sb.String()
}

func TestAnthropicSDKMessages(t *testing.T) {
	em, ts := newEmulator(t)
	client := anthropicClient(ts.URL)
	ctx := context.Background()
	const prompt = "tell me a story about a brave little toaster today"
	const image = "iVBORw0KGgo="
	em.AddRule(Rule{Model: "claude-cached", CachedTokens: 100, ReasoningTokens: 4})
	tests := []struct {
		name       string
		params     anthropic.MessageNewParams
		wantText   string
		wantStop   anthropic.StopReason
		wantSeq    string
		wantInput  int
		wantOutput int
	}{
		{"echo", anthropic.MessageNewParams{MaxTokens: 1024},
			"Hello from claude-test. You said: tell me a story about a brave little", "end_turn", "", 3 + ceil4(prompt), 13},
		{"system blocks and image", anthropic.MessageNewParams{MaxTokens: 1024,
			System:   []anthropic.TextBlockParam{{Text: "You are terse."}, {Text: "Really."}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt), anthropic.NewImageBlockBase64("image/png", image))}},
			"Hello from claude-test. You said: tell me a story about a brave little I see 1 image.", "end_turn", "",
			3 + ceil4("You are terse.") + ceil4("Really.") + 3 + ceil4(prompt) + 85, 17},
		{"max_tokens", anthropic.MessageNewParams{MaxTokens: 3}, "Hello from claude-test.", "max_tokens", "", 3 + ceil4(prompt), 3},
		{"stop sequence", anthropic.MessageNewParams{MaxTokens: 100, StopSequences: []string{"a story"}},
			"Hello from claude-test. You said: tell me ", "stop_sequence", "a story", 3 + ceil4(prompt), 7},
		{"cached and thinking tokens", anthropic.MessageNewParams{MaxTokens: 1024, Model: "claude-cached"},
			"Hello from claude-cached. You said: tell me a story about a brave little", "end_turn", "", 3 + ceil4(prompt), 13 + 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			if p.Model == "" {
				p.Model = "claude-test"
			}
			if p.Messages == nil {
				p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}
			}
			msg, err := client.Messages.New(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := anthropicText(msg); got != tt.wantText || msg.StopReason != tt.wantStop || msg.StopSequence != tt.wantSeq {
				t.Fatalf("got %q/%s/%q, want %q/%s/%q", got, msg.StopReason, msg.StopSequence, tt.wantText, tt.wantStop, tt.wantSeq)
			}
			if int(msg.Usage.InputTokens) != tt.wantInput || int(msg.Usage.OutputTokens) != tt.wantOutput {
				t.Fatalf("usage in %d out %d, want %d %d", msg.Usage.InputTokens, msg.Usage.OutputTokens, tt.wantInput, tt.wantOutput)
			}
			if wantCache := map[bool]int64{true: 100}[p.Model == "claude-cached"]; msg.Usage.CacheReadInputTokens != wantCache {
				t.Fatalf("cache_read_input_tokens %d, want %d", msg.Usage.CacheReadInputTokens, wantCache)
			}
			if !strings.HasPrefix(msg.ID, "msg_") || msg.Role != "assistant" || string(msg.Model) != p.Model || msg.Type != "message" {
				t.Fatalf("envelope %s %s %s %s", msg.ID, msg.Role, msg.Model, msg.Type)
			}
		})
	}
}

func TestAnthropicSDKToolUse(t *testing.T) {
	_, ts := newEmulator(t)
	client := anthropicClient(ts.URL)
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 1024, Tools: anthropicTools,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather and time?"))},
	}
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "tool_use" || len(msg.Content) != 2 {
		t.Fatalf("want 2 tool_use blocks, got %s %+v", msg.StopReason, msg.Content)
	}
	for i, want := range []struct{ name, input string }{{"get_weather", weatherArgs}, {"get_time", timeArgs}} {
		b := msg.Content[i]
		if b.Type != "tool_use" || b.Name != want.name || string(b.Input) != want.input || !strings.HasPrefix(b.ID, "toolu_") {
			t.Errorf("block %d = %s %s %s %s", i, b.Type, b.Name, b.Input, b.ID)
		}
	}
	if want := callTokens(weatherArgs) + callTokens(timeArgs); int(msg.Usage.OutputTokens) != want {
		t.Errorf("output tokens %d, want %d", msg.Usage.OutputTokens, want)
	}

	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(
		anthropic.NewToolResultBlock(msg.Content[0].ID, "sunny", false),
		anthropic.NewToolResultBlock(msg.Content[1].ID, "noon", false)))
	msg2, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := anthropicText(msg2); got != "Got 2 tool result(s)." || msg2.StopReason != "end_turn" {
		t.Fatalf("second turn %q %s", got, msg2.StopReason)
	}

	params.Messages = params.Messages[:1]
	params.ToolChoice = anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_time"}}
	msg3, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg3.Content) != 1 || msg3.Content[0].Name != "get_time" {
		t.Fatalf("forced: %+v", msg3.Content)
	}
	params.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
	msg4, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if msg4.StopReason != "end_turn" || msg4.Content[0].Type != "text" {
		t.Fatalf("tool_choice none: %+v", msg4.Content)
	}
}

func TestAnthropicSDKStreaming(t *testing.T) {
	_, ts := newEmulator(t)
	client := anthropicClient(ts.URL)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		tools []anthropic.ToolUnionParam
	}{{"text", nil}, {"tool use", anthropicTools}} {
		t.Run(tc.name, func(t *testing.T) {
			params := anthropic.MessageNewParams{
				Model: "claude-test", MaxTokens: 1024, Tools: tc.tools,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream this to me please"))},
			}
			want, err := client.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			stream := client.Messages.NewStreaming(ctx, params)
			var got anthropic.Message
			for stream.Next() {
				if err := got.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.StopReason != want.StopReason || len(got.Content) != len(want.Content) {
				t.Fatalf("stream %s %s %d blocks, JSON %s %s %d blocks", got.ID, got.StopReason, len(got.Content), want.ID, want.StopReason, len(want.Content))
			}
			for i := range got.Content {
				g, w := got.Content[i], want.Content[i]
				if g.Type != w.Type || g.Text != w.Text || g.ID != w.ID || g.Name != w.Name || string(g.Input) != string(w.Input) {
					t.Errorf("block %d: stream %+v, JSON %+v", i, g, w)
				}
			}
			if got.Usage.InputTokens != want.Usage.InputTokens || got.Usage.OutputTokens != want.Usage.OutputTokens {
				t.Errorf("usage: stream %+v, JSON %+v", got.Usage, want.Usage)
			}
		})
	}
}

// TestAnthropicWireEvents checks the raw event sequence the SDK's lenient
// decoder would not notice.
func TestAnthropicWireEvents(t *testing.T) {
	_, ts := newEmulator(t)
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"text", `{"model":"c","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"one two"}]}`,
			[]string{"message_start", "content_block_start", "ping", "content_block_delta*", "content_block_stop", "message_delta", "message_stop"}},
		{"tools", `{"model":"c","max_tokens":10,"stream":true,"tools":[{"name":"a","input_schema":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}},{"name":"b","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"go"}]}`,
			[]string{"message_start", "content_block_start", "ping", "content_block_delta*", "content_block_stop", "content_block_start", "content_block_delta*", "content_block_stop", "message_delta", "message_stop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(t, ts.URL+"/v1/messages", anthropicAuth, tc.body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			var names []string
			deltas := map[int]int{}
			for _, ev := range parseSSE(t, b) {
				var data map[string]any
				if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
					t.Fatalf("%s: %v", ev.data, err)
				}
				if data["type"] != ev.name {
					t.Errorf("event %s carries type %v", ev.name, data["type"])
				}
				switch ev.name {
				case "content_block_delta":
					deltas[int(data["index"].(float64))]++
					if len(names) > 0 && names[len(names)-1] == "content_block_delta*" {
						continue
					}
					names = append(names, "content_block_delta*")
					continue
				case "message_start":
					u := data["message"].(map[string]any)["usage"].(map[string]any)
					if u["input_tokens"].(float64) < 1 || u["output_tokens"].(float64) != 1 {
						t.Errorf("message_start usage %v", u)
					}
				case "message_delta":
					if d := data["delta"].(map[string]any); d["stop_reason"] == nil {
						t.Errorf("message_delta without stop_reason: %v", data)
					}
					if _, ok := data["usage"].(map[string]any)["output_tokens"]; !ok {
						t.Errorf("message_delta without usage.output_tokens: %v", data)
					}
				}
				names = append(names, ev.name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("events %v, want %v", names, tc.want)
			}
			if tc.name == "tools" && (deltas[0] < 2 || deltas[1] < 2) {
				t.Errorf("partial_json must come in 2+ pieces per block: %v", deltas)
			}
		})
	}
}

func TestAnthropicErrors(t *testing.T) {
	em, ts := newEmulator(t)
	client := anthropicClient(ts.URL)
	ctx := context.Background()
	for _, status := range []int{400, 401, 403, 404, 413, 429, 500, 529} {
		em.AddRule(Rule{Provider: ProviderAnthropic, Model: "claude-" + http.StatusText(status), Status: status})
	}
	t.Run("SDK sees *anthropic.Error", func(t *testing.T) {
		for status, typ := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"} {
			params := anthropic.MessageNewParams{Model: anthropic.Model("claude-" + http.StatusText(status)), MaxTokens: 10,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}}
			_, err := client.Messages.New(ctx, params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status || string(apiErr.Type()) != typ {
				t.Errorf("status %d: got %v", status, err)
			}
			stream := client.Messages.NewStreaming(ctx, params)
			for stream.Next() {
				t.Errorf("status %d: stream yielded an event", status)
			}
			if !errors.As(stream.Err(), &apiErr) || apiErr.StatusCode != status {
				t.Errorf("status %d: stream error %v", status, stream.Err())
			}
		}
	})
	t.Run("validation", func(t *testing.T) {
		msg := `"messages":[{"role":"user","content":"x"}]`
		for _, tc := range []struct {
			name, body string
			headers    map[string]string
			status     int
			typ        string
		}{
			{"no key", `{"model":"c","max_tokens":5,` + msg + `}`, map[string]string{"anthropic-version": "2023-06-01"}, 401, "authentication_error"},
			{"no version", `{"model":"c","max_tokens":5,` + msg + `}`, map[string]string{"x-api-key": "k"}, 400, "invalid_request_error"},
			{"no max_tokens", `{"model":"c",` + msg + `}`, anthropicAuth, 400, "invalid_request_error"},
			{"no messages", `{"model":"c","max_tokens":5,"messages":[]}`, anthropicAuth, 400, "invalid_request_error"},
			{"bad image", `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/tiff","data":"AA"}}]}]}`, anthropicAuth, 400, "invalid_request_error"},
			{"unknown forced tool", `{"model":"c","max_tokens":5,"tool_choice":{"type":"tool","name":"x"},` + msg + `}`, anthropicAuth, 400, "invalid_request_error"},
		} {
			resp, b := post(t, ts.URL+"/v1/messages", tc.headers, tc.body)
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &e)
			if resp.StatusCode != tc.status || e.Type != "error" || e.Error.Type != tc.typ || e.Error.Message == "" {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
			}
		}
	})
}
