package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/golden"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestDecodeRequestGolden decodes client requests to the canonical model and
// re-encodes them for an upstream; the golden file holds the upstream body.
func TestDecodeRequestGolden(t *testing.T) {
	golden.Run(t, "decode_request", ".json", ".json", func(t *testing.T, in []byte) []byte {
		r, err := Dialect{}.DecodeRequest(in)
		if err != nil {
			var e *chat.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not *chat.Error: %v", err)
			}
			return indent(t, map[string]any{"status": e.Status, "type": e.Type, "param": e.Param, "message": e.Message})
		}
		out, err := Dialect{}.EncodeRequest(r, "upstream-model")
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		return indent(t, v)
	})
}

// TestStreamDecodeGolden feeds recorded upstream streams, split into tiny
// reads, through the SSE reader and the decoder.
func TestStreamDecodeGolden(t *testing.T) {
	golden.Run(t, "stream_decode", ".sse", ".json", func(t *testing.T, in []byte) []byte {
		rd := sse.NewReader(&trickle{data: in, n: 7})
		dec := Dialect{}.NewStreamDecoder()
		var chunks []chat.Chunk
		var failure string
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			cs, err := dec.Decode(ev)
			if err != nil {
				failure = err.Error()
				break
			}
			chunks = append(chunks, cs...)
		}
		u, ok := dec.Usage()
		return indent(t, map[string]any{"chunks": chunks, "usage": u, "usage_reported": ok, "done": dec.Done(), "error": failure})
	})
}

type trickle struct {
	data []byte
	n    int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, errEOF
	}
	n := min(t.n, len(p), len(t.data))
	copy(p, t.data[:n])
	t.data = t.data[n:]
	return n, nil
}

var errEOF = errors.New("EOF")

func TestPrepareNative(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		stream bool
		want   map[string]string // gjson path → raw JSON
		absent []string
	}{
		{
			name:   "sets model and keeps unknown fields",
			body:   `{"model":"openai/gpt-4o-mini","prediction":{"type":"content","content":"x"},"messages":[]}`,
			want:   map[string]string{"model": `"gpt-4o-mini"`, "prediction.type": `"content"`},
			absent: []string{"stream_options"},
		},
		{
			name:   "stream asks for usage",
			body:   `{"model":"m","stream":true,"messages":[]}`,
			stream: true,
			want:   map[string]string{"stream_options.include_usage": "true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Dialect{}.PrepareNative([]byte(tt.body), "gpt-4o-mini", tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			for path, raw := range tt.want {
				if got := gjson.GetBytes(out, path).Raw; got != raw {
					t.Errorf("%s = %s, want %s", path, got, raw)
				}
			}
			for _, path := range tt.absent {
				if gjson.GetBytes(out, path).Exists() {
					t.Errorf("%s present in %s", path, out)
				}
			}
		})
	}
}

func TestStreamTapUsage(t *testing.T) {
	events := []string{
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":30,"total_tokens":1230,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":10}}}`,
		`[DONE]`,
	}
	for _, want := range []bool{false, true} {
		tap := Dialect{}.NewStreamTap(want)
		forwarded := 0
		for _, e := range events {
			fwd, err := tap.Tap(&sse.Event{Data: []byte(e)})
			if err != nil {
				t.Fatal(err)
			}
			if fwd {
				forwarded++
			}
		}
		if wantN := map[bool]int{false: 3, true: 4}[want]; forwarded != wantN {
			t.Errorf("clientWantsUsage=%v forwarded %d events, want %d", want, forwarded, wantN)
		}
		u, ok := tap.Usage()
		if want := (chat.Tokens{Input: 176, CachedInput: 1024, Output: 30, Reasoning: 10}); !ok || u != want || !tap.Done() {
			t.Errorf("usage %+v ok=%v done=%v, want %+v", u, ok, tap.Done(), want)
		}
	}
}

func TestHasUsageValue(t *testing.T) {
	tests := []struct {
		data string
		want bool
	}{
		{`{"choices":[{"delta":{"content":"hi"}}]}`, false},
		{`{"choices":[],"usage":null}`, false},
		{`{"choices":[],"usage" : null}`, false},
		{`{"choices":[],"usage":{"prompt_tokens":1}}`, true},
		{`{"choices":[{"delta":{"content":"\"usage\""}}],"usage":null}`, false},
		{`{"a":"\"usage\": 1","usage":{"x":1}}`, true},
	}
	for _, tt := range tests {
		if got := hasUsageValue([]byte(tt.data)); got != tt.want {
			t.Errorf("hasUsageValue(%s) = %v, want %v", tt.data, got, tt.want)
		}
	}
}

func TestStreamErrorEvent(t *testing.T) {
	tap := Dialect{}.NewStreamTap(false)
	_, err := tap.Tap(&sse.Event{Data: []byte(`{"error":{"message":"overloaded","type":"server_error"}}`)})
	var e *chat.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want a 502 *chat.Error", err)
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		retryAfter string
		wantStatus int
		retryable  bool
		wantMsg    string
	}{
		{400, `{"error":{"message":"Invalid 'temperature'","type":"invalid_request_error"}}`, "", 400, false, "Invalid 'temperature'"},
		{401, `{"error":{"message":"Incorrect API key provided: sk-abc","type":"invalid_request_error"}}`, "", 502, true, "credentials"},
		{429, `{"error":{"message":"Rate limit","type":"requests"}}`, "3", 429, true, "rate limiting"},
		{500, `{"error":{"message":"internal detail host=10.0.0.1","type":"server_error"}}`, "", 502, true, "failed"},
		{503, `not json`, "", 503, true, "unavailable"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		e := Dialect{}.ParseError(tt.status, h, []byte(tt.body))
		if e.Status != tt.wantStatus || e.Retryable != tt.retryable || !strings.Contains(e.Message, tt.wantMsg) {
			t.Errorf("%d %s → %+v", tt.status, tt.body, e)
		}
		if strings.Contains(e.Message, "sk-abc") || strings.Contains(e.Message, "10.0.0.1") {
			t.Errorf("upstream detail leaked: %s", e.Message)
		}
		if tt.retryAfter == "3" && e.RetryAfter.Seconds() != 3 {
			t.Errorf("RetryAfter = %v", e.RetryAfter)
		}
	}
}

// FuzzDecodeRequest: no input may panic the decoder, and an accepted request
// must re-encode to valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`))
	f.Add([]byte(`{"model":"m","stop":"x","messages":[{"role":"tool","tool_call_id":"1","content":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Dialect{}.DecodeRequest(body)
		if err != nil {
			var e *chat.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 *chat.Error", err)
			}
			return
		}
		out, err := Dialect{}.EncodeRequest(r, "x")
		if err != nil || !json.Valid(out) {
			t.Fatalf("re-encoding failed: %v %s", err, out)
		}
	})
}
