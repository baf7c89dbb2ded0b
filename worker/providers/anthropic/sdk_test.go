package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/shared"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// sdkClient is the official Anthropic SDK pointed at a server that answers
// every request with status and body.
func sdkClient(t *testing.T, status int, contentType string, body []byte) sdk.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test"), option.WithMaxRetries(0))
}

var sdkParams = sdk.MessageNewParams{
	Model:     "openai/gpt-4o",
	MaxTokens: 100,
	Messages:  []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hi"))},
}

// accumulate streams body through the SDK and returns the message its
// accumulator builds.
func accumulate(t *testing.T, body []byte) (sdk.Message, error) {
	t.Helper()
	client := sdkClient(t, http.StatusOK, "text/event-stream", body)
	stream := client.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	var m sdk.Message
	for stream.Next() {
		if err := m.Accumulate(stream.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	return m, stream.Err()
}

func TestSDKAccumulatesEncodedStream(t *testing.T) {
	in, err := os.ReadFile("testdata/inbound_stream/two_tool_calls.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := accumulate(t, encodeStream(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 3 {
		t.Fatalf("got %d content blocks, want 3: %s", len(m.Content), m.RawJSON())
	}
	if b := m.Content[0]; b.Type != "text" || b.Text != "Checking both." {
		t.Errorf("block 0 = %s %q", b.Type, b.Text)
	}
	for i, want := range []struct{ id, city string }{{"call_1", "Paris"}, {"call_2", "Oslo"}} {
		b := m.Content[i+1]
		var input struct{ City string }
		if err := json.Unmarshal(b.Input, &input); err != nil {
			t.Fatalf("block %d input %q: %v", i+1, b.Input, err)
		}
		if b.Type != "tool_use" || b.ID != want.id || b.Name != "get_weather" || input.City != want.city {
			t.Errorf("block %d = %s %s %s %s", i+1, b.Type, b.ID, b.Name, b.Input)
		}
	}
	if m.StopReason != sdk.StopReasonToolUse {
		t.Errorf("stop_reason = %q", m.StopReason)
	}
	if u := m.Usage; u.InputTokens != 80 || u.OutputTokens != 30 {
		t.Errorf("usage = %s", u.RawJSON())
	}
}

func TestSDKAccumulatesCachedUsage(t *testing.T) {
	in, err := os.ReadFile("testdata/inbound_stream/text_usage_later.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := accumulate(t, encodeStream(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 1 || m.Content[0].Text != "Hello, world." {
		t.Errorf("content = %s", m.RawJSON())
	}
	if m.StopReason != sdk.StopReasonEndTurn {
		t.Errorf("stop_reason = %q", m.StopReason)
	}
	if u := m.Usage; u.InputTokens != 100 || u.CacheReadInputTokens != 1000 || u.OutputTokens != 3 {
		t.Errorf("usage = %s", u.RawJSON())
	}
}

// TestSDKRoundTrip replays a recorded Anthropic stream through both
// directions (Anthropic → canonical → Anthropic) and checks that the SDK
// accumulates the same message as from the original, thinking aside.
func TestSDKRoundTrip(t *testing.T) {
	for _, name := range []string{"tools", "text_cached", "max_tokens", "stop_sequence_refusal"} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile("testdata/outbound_stream/" + name + ".sse")
			if err != nil {
				t.Fatal(err)
			}
			dec := Dialect{}.NewStreamDecoder()
			enc := Dialect{}.NewStreamEncoder()
			rd := sse.NewReader(bytes.NewReader(orig))
			var translated []byte
			for {
				ev, err := rd.Next()
				if err != nil {
					break
				}
				chunks, err := dec.Decode(ev)
				if err != nil {
					t.Fatal(err)
				}
				for i := range chunks {
					translated = enc.Encode(translated, &chunks[i])
				}
			}
			translated = enc.Finish(translated)

			want, err := accumulate(t, orig)
			if err != nil {
				t.Fatal(err)
			}
			got, err := accumulate(t, translated)
			if err != nil {
				t.Fatal(err)
			}
			var wantBlocks []string
			for _, b := range want.Content {
				if b.Type != "thinking" {
					wantBlocks = append(wantBlocks, b.RawJSON())
				}
			}
			var gotBlocks []string
			for _, b := range got.Content {
				gotBlocks = append(gotBlocks, b.RawJSON())
			}
			if strings.Join(gotBlocks, "\n") != strings.Join(wantBlocks, "\n") {
				t.Errorf("content\n got %s\nwant %s", gotBlocks, wantBlocks)
			}
			if got.ID != want.ID || got.Model != want.Model {
				t.Errorf("id, model = %s %s, want %s %s", got.ID, got.Model, want.ID, want.Model)
			}
			if got.StopReason != want.StopReason {
				t.Errorf("stop_reason = %q, want %q", got.StopReason, want.StopReason)
			}
			g, w := got.Usage, want.Usage
			if g.InputTokens != w.InputTokens || g.OutputTokens != w.OutputTokens ||
				g.CacheReadInputTokens != w.CacheReadInputTokens || g.CacheCreationInputTokens != w.CacheCreationInputTokens {
				t.Errorf("usage = %s, want %s", g.RawJSON(), w.RawJSON())
			}
		})
	}
}

func TestSDKReadsStreamFailure(t *testing.T) {
	enc := Dialect{}.NewStreamEncoder()
	text := "Part"
	out := enc.Encode(nil, &chat.Chunk{ID: "c1", Choices: []chat.ChunkChoice{{Delta: chat.Delta{Content: &text}}}})
	out = enc.Fail(out, chat.UpstreamStatusError("openai", 529, "", 0))
	_, err := accumulate(t, out)
	if err == nil || !strings.Contains(err.Error(), "overloaded_error") {
		t.Errorf("stream error = %v, want an overloaded_error", err)
	}
}

func TestSDKReadsEncodedResponse(t *testing.T) {
	in, err := os.ReadFile("testdata/inbound_response/tool_calls.json")
	if err != nil {
		t.Fatal(err)
	}
	var r chat.Response
	if err := json.Unmarshal(in, &r); err != nil {
		t.Fatal(err)
	}
	body, err := Dialect{}.EncodeResponse(&r)
	if err != nil {
		t.Fatal(err)
	}
	client := sdkClient(t, http.StatusOK, "application/json", body)
	m, err := client.Messages.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 3 || m.Content[1].AsToolUse().Name != "get_weather" || string(m.Content[2].Input) != "{}" {
		t.Errorf("content = %s", m.RawJSON())
	}
	if m.StopReason != sdk.StopReasonToolUse || m.Usage.InputTokens != 80 || m.Usage.OutputTokens != 30 {
		t.Errorf("stop_reason %q, usage %s", m.StopReason, m.Usage.RawJSON())
	}
}

func TestSDKReadsEncodedError(t *testing.T) {
	tests := []struct {
		name string
		err  *chat.Error
		want shared.ErrorType
	}{
		{"bad request", chat.BadRequest("max_tokens", "max_tokens: Field required"), shared.ErrorTypeInvalidRequestError},
		{"no credits", chat.Errorf(402, chat.TypeInsufficient, "balance exhausted"), shared.ErrorTypeBillingError},
		{"rate limited", chat.Errorf(429, chat.TypeRateLimit, "slow down"), shared.ErrorTypeRateLimitError},
		{"overloaded", chat.UpstreamStatusError("openai", 529, "", 0), shared.ErrorTypeOverloadedError},
		{"timeout", chat.UpstreamStatusError("openai", 504, "", 0), shared.ErrorTypeTimeoutError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := sdkClient(t, tt.err.Status, "application/json", Dialect{}.EncodeError(tt.err))
			_, err := client.Messages.New(context.Background(), sdkParams)
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an API error", err)
			}
			if apiErr.StatusCode != tt.err.Status || apiErr.Type() != tt.want {
				t.Errorf("got %d %q, want %d %q", apiErr.StatusCode, apiErr.Type(), tt.err.Status, tt.want)
			}
			if !strings.Contains(apiErr.RawJSON(), tt.err.Message) {
				t.Errorf("body %s lacks the message %q", apiErr.RawJSON(), tt.err.Message)
			}
		})
	}
}
