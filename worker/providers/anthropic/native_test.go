package anthropic

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

func TestPrepareNative(t *testing.T) {
	tests := []struct {
		name, body, want string
		wantErr          bool
	}{
		{
			name: "only the model changes",
			body: `{"model": "anthropic/claude-haiku-4-5",  "max_tokens":10, "thinking":{"type":"enabled","budget_tokens":1024},` + "\n" + `"messages":[{"role":"user","content":"<b>&</b>"}]}`,
			want: `{"model": "claude-haiku-4-5-20251001",  "max_tokens":10, "thinking":{"type":"enabled","budget_tokens":1024},` + "\n" + `"messages":[{"role":"user","content":"<b>&</b>"}]}`,
		},
		{
			name: "model added when absent",
			body: `{"max_tokens":10,"messages":[]}`,
			want: `{"max_tokens":10,"messages":[],"model":"claude-haiku-4-5-20251001"}`,
		},
		{name: "not an object", body: `[1,2]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Dialect{}.PrepareNative([]byte(tt.body), "claude-haiku-4-5-20251001", true)
			if tt.wantErr {
				var e *chat.Error
				if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
					t.Fatalf("error = %v, want a 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestResponseUsage(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   chat.Tokens
		wantOK bool
	}{
		{
			name:   "cached",
			body:   `{"id":"msg_1","usage":{"input_tokens":100,"cache_read_input_tokens":1000,"cache_creation_input_tokens":7,"output_tokens":20}}`,
			want:   chat.Tokens{Input: 100, CachedInput: 1000, CacheWrite: 7, Output: 20},
			wantOK: true,
		},
		{
			name:   "thinking",
			body:   `{"usage":{"input_tokens":3,"output_tokens":50,"output_tokens_details":{"thinking_tokens":40}}}`,
			want:   chat.Tokens{Input: 3, Output: 50, Reasoning: 40},
			wantOK: true,
		},
		{name: "no usage", body: `{"id":"msg_1"}`},
		{name: "not JSON", body: `oops`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Dialect{}.ResponseUsage([]byte(tt.body))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestStreamTap(t *testing.T) {
	tests := []struct {
		transcript string
		want       chat.Tokens
		wantDone   bool
		wantErr    int // status of the expected *chat.Error, 0 for none
	}{
		{"text_cached", chat.Tokens{Input: 100, CachedInput: 1000, Output: 12}, true, 0},
		{"tools", chat.Tokens{Input: 300, CacheWrite: 40, Output: 85, Reasoning: 20}, true, 0},
		{"max_tokens", chat.Tokens{Input: 5, Output: 3}, true, 0},
		{"start_only", chat.Tokens{Input: 25, CachedInput: 5, Output: 1}, false, 0},
		{"overloaded_midstream", chat.Tokens{Input: 9, Output: 1}, false, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.transcript, func(t *testing.T) {
			in, err := os.ReadFile("testdata/outbound_stream/" + tt.transcript + ".sse")
			if err != nil {
				t.Fatal(err)
			}
			for _, wantsUsage := range []bool{false, true} {
				tap := Dialect{}.NewStreamTap(wantsUsage)
				rd := sse.NewReader(bytes.NewReader(in))
				var forwarded []byte
				var tapErr error
				for {
					ev, err := rd.Next()
					if err != nil {
						break
					}
					fwd, err := tap.Tap(ev)
					if !fwd {
						t.Errorf("event %s not forwarded", ev.Name)
					}
					forwarded = append(forwarded, ev.Raw...)
					if err != nil {
						tapErr = err
						break
					}
				}
				if tt.wantErr == 0 && !bytes.Equal(forwarded, in) {
					t.Errorf("forwarded stream differs from the upstream's")
				}
				var e *chat.Error
				if got := errors.As(tapErr, &e); got != (tt.wantErr != 0) || (got && e.Status != tt.wantErr) {
					t.Errorf("tap error = %v, want status %d", tapErr, tt.wantErr)
				}
				if u, _ := tap.Usage(); u != tt.want {
					t.Errorf("usage = %+v, want %+v", u, tt.want)
				}
				if tap.Done() != tt.wantDone {
					t.Errorf("done = %v", tap.Done())
				}
			}
		})
	}
}

func TestParseError(t *testing.T) {
	body := func(typ, msg string) string {
		return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_1"}`
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		retryable  bool
		retryAfter time.Duration
		message    string
	}{
		{"invalid request keeps the message", 400, nil, body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
			400, chat.TypeInvalidRequest, false, 0, "provider anthropic: prompt is too long: 210000 tokens > 200000 maximum"},
		{"bad key is the gateway's fault", 401, nil, body("authentication_error", "invalid x-api-key"),
			502, chat.TypeUpstream, true, 0, "provider anthropic rejected the gateway's credentials or account"},
		{"out of credit is the gateway's fault too", 402, nil, body("billing_error", "credit balance too low"),
			502, chat.TypeUpstream, true, 0, "provider anthropic rejected the gateway's credentials or account"},
		{"not found", 404, nil, body("not_found_error", "model: claude-0"), 404, chat.TypeNotFound, false, 0, "provider anthropic: model: claude-0"},
		{"rate limited with seconds", 429, http.Header{"Retry-After": {"17"}}, body("rate_limit_error", "slow down"),
			429, chat.TypeRateLimit, true, 17 * time.Second, "provider anthropic is rate limiting requests"},
		{"rate limited with a date", 429, http.Header{"Retry-After": {time.Unix(1700000030, 0).UTC().Format(http.TimeFormat)}}, body("rate_limit_error", "slow down"),
			429, chat.TypeRateLimit, true, 30 * time.Second, "provider anthropic is rate limiting requests"},
		{"overloaded hides the message", 529, nil, body("overloaded_error", "Overloaded: internal detail"),
			503, chat.TypeUpstream, true, 0, "provider anthropic is overloaded or unavailable"},
		{"server error hides the message", 500, nil, body("api_error", "stack trace"),
			502, chat.TypeUpstream, true, 0, "provider anthropic failed (status 500)"},
		{"body not JSON", 400, nil, "<html>bad gateway</html>",
			400, chat.TypeInvalidRequest, false, 0, "provider anthropic refused the request (status 400)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Dialect{}.ParseError(tt.status, tt.header, []byte(tt.body))
			if e.Status != tt.wantStatus || e.Type != tt.wantType || e.Retryable != tt.retryable || e.RetryAfter != tt.retryAfter || e.Message != tt.message {
				t.Errorf("got %d %s retryable=%v after=%v %q", e.Status, e.Type, e.Retryable, e.RetryAfter, e.Message)
			}
			if e.Cause == nil || strings.Contains(e.Cause.Error(), "stack trace") {
				t.Errorf("cause = %v, want the error type without the upstream message", e.Cause)
			}
		})
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "invalid_request_error"},
		{401, "authentication_error"},
		{402, "billing_error"},
		{403, "permission_error"},
		{404, "not_found_error"},
		{409, "invalid_request_error"},
		{413, "request_too_large"},
		{429, "rate_limit_error"},
		{500, "api_error"},
		{502, "api_error"},
		{503, "overloaded_error"},
		{504, "timeout_error"},
		{529, "overloaded_error"},
	}
	for _, tt := range tests {
		e := &chat.Error{Status: tt.status, Message: `quote " and <tag>`}
		got := Dialect{}.EncodeError(e)
		want := `{"type":"error","error":{"type":"` + tt.want + `","message":"quote \" and <tag>"}}`
		if string(got) != want {
			t.Errorf("status %d: got %s, want %s", tt.status, got, want)
		}
	}
}

func TestStreamErrorClassification(t *testing.T) {
	tests := []struct {
		typ        string
		wantStatus int
		retryable  bool
	}{
		{"overloaded_error", http.StatusServiceUnavailable, true},
		{"rate_limit_error", http.StatusTooManyRequests, true},
		{"api_error", http.StatusBadGateway, true},
		{"timeout_error", http.StatusGatewayTimeout, true},
		{"invalid_request_error", http.StatusBadRequest, false},
		{"some_new_error", http.StatusBadGateway, true},
	}
	for _, tt := range tests {
		ev := &sse.Event{Name: "error", Data: []byte(`{"type":"error","error":{"type":"` + tt.typ + `","message":"m"}}`)}
		_, err := Dialect{}.NewStreamDecoder().Decode(ev)
		var e *chat.Error
		if !errors.As(err, &e) || e.Status != tt.wantStatus || e.Retryable != tt.retryable {
			t.Errorf("%s: got %v", tt.typ, err)
		}
	}
}

func TestGeneratedIDs(t *testing.T) {
	out := Dialect{}.NewStreamEncoder().Finish(nil)
	id := gjson.GetBytes(bytes.SplitN(bytes.TrimPrefix(out, []byte("event: message_start\ndata: ")), []byte("\n"), 2)[0], "message.id").String()
	if !strings.HasPrefix(id, "msg_") || len(id) < 20 {
		t.Errorf("empty stream message id = %q", id)
	}
	if !bytes.Contains(out, []byte(`"stop_reason":"end_turn"`)) || !bytes.HasSuffix(out, []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")) {
		t.Errorf("empty stream = %s", out)
	}

	body, err := Dialect{}.EncodeResponse(&chat.Response{Choices: []chat.Choice{{
		Message:      chat.ResponseMessage{ToolCalls: []chat.ToolCall{{Function: chat.FunctionCall{Name: "f", Arguments: "{}"}}}},
		FinishReason: chat.FinishToolCalls,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := gjson.ParseBytes(body)
	if !strings.HasPrefix(r.Get("id").String(), "msg_") || !strings.HasPrefix(r.Get("content.0.id").String(), "toolu_") {
		t.Errorf("ids in %s", body)
	}
}
