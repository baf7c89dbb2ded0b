package openapispec

import (
	"bytes"
	"os"
	"testing"
)

func TestValidator(t *testing.T) {
	chunk := `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
		"choices":[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}],"usage":null}`
	tests := []struct {
		name   string
		schema string
		doc    any
		ok     bool
	}{
		{"chunk with 3.0-style nulls", "CreateChatCompletionStreamResponse", chunk, true},
		{"chunk missing id", "CreateChatCompletionStreamResponse",
			`{"object":"chat.completion.chunk","created":1,"model":"m","choices":[]}`, false},
		{"chunk with bad finish reason", "CreateChatCompletionStreamResponse",
			`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"done"}]}`, false},
		{"error as Go value", "ErrorResponse",
			map[string]any{"error": map[string]any{"message": "m", "type": "t", "param": nil, "code": nil}}, true},
		{"error without param", "ErrorResponse",
			[]byte(`{"error":{"message":"m","type":"t","code":null}}`), false},
		{"embedding response", "CreateEmbeddingResponse",
			`{"object":"list","model":"e","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"usage":{"prompt_tokens":1,"total_tokens":1}}`, true},
		{"completion with null refusal", "CreateChatCompletionResponse",
			`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}]}`, true},
		{"completion without logprobs", "CreateChatCompletionResponse",
			`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop"}]}`, false},
		{"not JSON", "ErrorResponse", "{", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validator(t, tt.schema)(tt.doc)
			if (err == nil) != tt.ok {
				t.Fatalf("valid=%v, want %v (err: %v)", err == nil, tt.ok, err)
			}
		})
	}
}

// TestEmbeddedSpecIsCurrent compares the embedded copy with the shared
// original. A clone without the shared folder beside it (CI) has only the
// copy, which the other tests then check against.
func TestEmbeddedSpecIsCurrent(t *testing.T) {
	got, err := EmbeddedSpec()
	if err != nil {
		t.Fatal(err)
	}
	path, err := FindSpec()
	if err != nil {
		t.Logf("no shared spec beside the repository (%v); using the embedded copy only", err)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the embedded spec differs from %s: regenerate it with gzip -9 -c %s > internal/openapispec/openai-openapi.json.gz", path, path)
	}
}
