package gemini

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// stable zeroes what depends on the clock, so responses can be compared.
func stable(r *chat.Response) *chat.Response {
	r.Created = 0
	return r
}

func TestDecodeResponseGolden(t *testing.T) {
	for name, path := range inputs(t, "decode", ".json") {
		if strings.HasSuffix(name, ".golden") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			resp, err := Dialect{}.DecodeResponse(readFile(t, path))
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			got, err := json.Marshal(stable(resp))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".json")+".golden.json", got)
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		file       string
		wantFinish string
		wantText   *string
		wantCalls  int
		wantTokens chat.Tokens
	}{
		{"text", chat.FinishStop, ptr("Bonjour !"), 0, chat.Tokens{Input: 12, Output: 3}},
		{"function_calls", chat.FinishToolCalls, ptr("Let me check both."), 3, chat.Tokens{Input: 80, Output: 40}},
		{"function_call_with_id", chat.FinishToolCalls, nil, 1, chat.Tokens{}},
		{"max_tokens", chat.FinishLength, ptr("The history of Rome begins"), 0, chat.Tokens{Input: 9, Output: 5}},
		{"safety", chat.FinishContentFilter, ptr(""), 0, chat.Tokens{Input: 15}},
		{"prompt_blocked", chat.FinishContentFilter, ptr(""), 0, chat.Tokens{Input: 7}},
		// promptTokenCount 2100 includes 2000 cached; the 10 tool-use prompt
		// tokens are input too; the 350 thoughts are output.
		{"usage_cached_thoughts", chat.FinishStop, ptr("42"), 0, chat.Tokens{Input: 110, CachedInput: 2000, Output: 352, Reasoning: 350}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFile(t, "testdata/decode/"+tt.file+".json")
			resp, err := Dialect{}.DecodeResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.FinishReason != tt.wantFinish {
				t.Errorf("finish = %q, want %q", c.FinishReason, tt.wantFinish)
			}
			if (c.Message.Content == nil) != (tt.wantText == nil) || (c.Message.Content != nil && *c.Message.Content != *tt.wantText) {
				t.Errorf("content = %v, want %v", deref(c.Message.Content), deref(tt.wantText))
			}
			if len(c.Message.ToolCalls) != tt.wantCalls {
				t.Errorf("%d tool calls, want %d", len(c.Message.ToolCalls), tt.wantCalls)
			}
			got := resp.Usage.Tokens()
			if got != tt.wantTokens {
				t.Errorf("tokens = %+v, want %+v", got, tt.wantTokens)
			}
			if u, ok := (Dialect{}).ResponseUsage(body); u != tt.wantTokens || ok != (resp.Usage != nil) {
				t.Errorf("ResponseUsage = %+v, %v; want %+v, %v", u, ok, tt.wantTokens, resp.Usage != nil)
			}
		})
	}
}

func TestDecodeResponseToolCallIDs(t *testing.T) {
	body := readFile(t, "testdata/decode/function_calls.json")
	a, err := Dialect{}.DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Dialect{}.DecodeResponse(body)
	other, _ := Dialect{}.DecodeResponse([]byte(strings.Replace(string(body), "aK9WaLm3Cs6vnvgP_ciX2QE", "another", 1)))
	seen := map[string]bool{}
	for i, tc := range a.Choices[0].Message.ToolCalls {
		if tc.ID != b.Choices[0].Message.ToolCalls[i].ID {
			t.Errorf("call %d: id %q then %q; ids must be deterministic", i, tc.ID, b.Choices[0].Message.ToolCalls[i].ID)
		}
		if tc.ID == other.Choices[0].Message.ToolCalls[i].ID {
			t.Errorf("call %d: id %q repeats across responses", i, tc.ID)
		}
		if !strings.HasPrefix(tc.ID, "call_") || len(tc.ID) > 40 || seen[tc.ID] {
			t.Errorf("call %d: id %q must be a unique call_ id of at most 40 bytes", i, tc.ID)
		}
		seen[tc.ID] = true
		if tc.Index != nil {
			t.Errorf("call %d: index set outside a stream", i)
		}
	}
}

func TestDecodeResponseWithoutID(t *testing.T) {
	resp, err := Dialect{}.DecodeResponse([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || len(resp.ID) < len("chatcmpl-")+16 {
		t.Errorf("id = %q, want a generated chatcmpl- id", resp.ID)
	}
	if resp.Created == 0 {
		t.Error("created not set")
	}
	if resp.Usage != nil {
		t.Errorf("usage = %+v, want none", resp.Usage)
	}
	if got := resp.Choices[0].Message.ToolCalls[0].Function.Arguments; got != `{"a":1}` {
		t.Errorf("arguments = %s", got)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	_, err := Dialect{}.DecodeResponse([]byte(`{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`))
	var e *chat.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || !e.Retryable {
		t.Errorf("error body: err = %v, want a retryable 429 *chat.Error", err)
	}
	if _, err := (Dialect{}).DecodeResponse([]byte(`{"candidates":`)); err == nil || errors.As(err, &e) {
		t.Errorf("truncated body: err = %v, want a plain decode error", err)
	}
}

func TestPrepareNativeRefuses(t *testing.T) {
	if _, err := (Dialect{}).PrepareNative([]byte(`{}`), "gemini-2.5-flash", false); err == nil {
		t.Error("PrepareNative succeeded; no client speaks Gemini, so it must fail")
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
