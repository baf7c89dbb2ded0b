package gemini

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

func decodeRequest(t *testing.T, body string) *chat.Request {
	t.Helper()
	var r chat.Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("test request does not decode: %v", err)
	}
	return &r
}

func TestEncodeRequestGolden(t *testing.T) {
	for name, path := range inputs(t, "encode", ".request.json") {
		t.Run(name, func(t *testing.T) {
			r := decodeRequest(t, string(readFile(t, path)))
			got, err := Dialect{}.EncodeRequest(r, r.Model)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".request.json")+".golden.json", got)
		})
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	const user = `{"role":"user","content":"hi"}`
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantCode  string
	}{
		{"n above one", `{"messages":[` + user + `],"n":2}`, "n", "unsupported_parameter"},
		{"n zero", `{"messages":[` + user + `],"n":0}`, "n", ""},
		{"logprobs", `{"messages":[` + user + `],"logprobs":true}`, "logprobs", "unsupported_parameter"},
		{"top_logprobs", `{"messages":[` + user + `],"top_logprobs":3}`, "top_logprobs", "unsupported_parameter"},
		{"logit_bias", `{"messages":[` + user + `],"logit_bias":{"50256":-100}}`, "logit_bias", "unsupported_parameter"},
		{"remote image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, "messages[0].content[0].image_url.url", ""},
		{"data URL without base64", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml,<svg/>"}}]}]}`, "messages[0].content[0].image_url.url", ""},
		{"image without url", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "messages[0].content[0].image_url.url", ""},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "messages[0].content[0].type", ""},
		{"image in system", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},` + user + `]}`, "messages[0].content[0].type", ""},
		{"unknown tool call id", `{"messages":[` + user + `,{"role":"tool","tool_call_id":"call_x","content":"1"}]}`, "messages[1].tool_call_id", ""},
		{"invalid arguments", `{"messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "messages[1].tool_calls[0].function.arguments", ""},
		{"array arguments", `{"messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[1].tool_calls[0].function.arguments", ""},
		{"tool call without name", `{"messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[1].tool_calls[0].function.name", ""},
		{"function role", `{"messages":[` + user + `,{"role":"function","name":"f","content":"1"}]}`, "messages[1].role", ""},
		{"only system", `{"messages":[{"role":"system","content":"be nice"}]}`, "messages", ""},
		{"reasoning effort", `{"messages":[` + user + `],"reasoning_effort":"extreme"}`, "reasoning_effort", ""},
		{"json_schema without schema", `{"messages":[` + user + `],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, "response_format.json_schema.schema", ""},
		{"unknown response format", `{"messages":[` + user + `],"response_format":{"type":"yaml"}}`, "response_format.type", ""},
		{"required without tools", `{"messages":[` + user + `],"tool_choice":"required"}`, "tool_choice", ""},
		{"undeclared function choice", `{"messages":[` + user + `],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"b"}}}`, "tool_choice", ""},
		{"tool type", `{"messages":[` + user + `],"tools":[{"type":"web_search","function":{"name":"a"}}]}`, "tools[0].type", ""},
		{"tool without name", `{"messages":[` + user + `],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", ""},
		{"seed too large", `{"messages":[` + user + `],"seed":4294967296}`, "seed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dialect{}.EncodeRequest(decodeRequest(t, tt.body), "gemini-2.5-flash")
			var e *chat.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *chat.Error", err)
			}
			if e.Status != http.StatusBadRequest || e.Type != chat.TypeInvalidRequest {
				t.Errorf("status, type = %d, %s; want 400 invalid_request_error", e.Status, e.Type)
			}
			if e.Param != tt.wantParam || e.Code != tt.wantCode {
				t.Errorf("param, code = %q, %q; want %q, %q", e.Param, e.Code, tt.wantParam, tt.wantCode)
			}
		})
	}
}

func TestThinkingConfigFollowsModelGeneration(t *testing.T) {
	tests := []struct {
		model, effort string
		want          string
	}{
		{"gemini-2.5-flash", "none", `{"thinkingBudget":0}`},
		{"gemini-2.5-pro", "high", `{"thinkingBudget":24576}`},
		{"models/gemini-2.5-flash-lite", "medium", `{"thinkingBudget":8192}`},
		{"gemini-flash-latest", "low", `{"thinkingBudget":1024}`},
		{"gemini-3-pro-preview", "high", `{"thinkingLevel":"HIGH"}`},
		{"gemini-3-flash-preview", "none", `{"thinkingLevel":"MINIMAL"}`},
		{"gemini-10-ultra", "xhigh", `{"thinkingLevel":"HIGH"}`},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.effort, func(t *testing.T) {
			r := decodeRequest(t, `{"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"`+tt.effort+`"}`)
			body, err := Dialect{}.EncodeRequest(r, tt.model)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				GenerationConfig struct {
					ThinkingConfig json.RawMessage `json:"thinkingConfig"`
				} `json:"generationConfig"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.GenerationConfig.ThinkingConfig) != tt.want {
				t.Errorf("thinkingConfig = %s, want %s", got.GenerationConfig.ThinkingConfig, tt.want)
			}
		})
	}
}
