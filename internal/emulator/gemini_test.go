package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"
)

// geminiClient points the SDK at the emulator: genai wants the bare origin
// and adds v1beta/ itself.
func geminiClient(t *testing.T, baseURL string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "test-key", Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: baseURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var geminiTools = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{
	{Name: "get_weather", Parameters: &genai.Schema{Type: genai.TypeObject, Required: []string{"city", "days", "units"}, Properties: map[string]*genai.Schema{
		"city": {Type: genai.TypeString}, "days": {Type: genai.TypeInteger}, "units": {Type: genai.TypeString, Enum: []string{"celsius", "fahrenheit"}},
	}}},
	{Name: "get_time", ParametersJsonSchema: map[string]any{"type": "object", "required": []any{"utc", "zones"}, "properties": map[string]any{
		"utc": map[string]any{"type": "boolean"}, "zones": map[string]any{"type": "array"},
	}}},
}}}

func TestGeminiSDKGenerate(t *testing.T) {
	em, ts := newEmulator(t)
	client := geminiClient(t, ts.URL)
	ctx := context.Background()
	const prompt = "summarize the plot of a very long novel for me"
	em.AddRule(Rule{Model: "gemini-cached", CachedTokens: 50, ReasoningTokens: 9})
	tests := []struct {
		name       string
		model      string
		config     *genai.GenerateContentConfig
		wantText   string
		wantFinish genai.FinishReason
		wantPrompt int32
		wantCands  int32
	}{
		{"echo", "gemini-2.0-flash", nil, "Hello from gemini-2.0-flash. You said: summarize the plot of a very long novel", "STOP", 3 + int32(ceil4(prompt)), 13},
		{"system instruction", "gemini-2.0-flash", &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Be kind.", genai.RoleUser)},
			"Hello from gemini-2.0-flash. You said: summarize the plot of a very long novel", "STOP", 6 + int32(ceil4("Be kind.")+ceil4(prompt)), 13},
		{"max output tokens", "gemini-2.0-flash", &genai.GenerateContentConfig{MaxOutputTokens: 2}, "Hello from", "MAX_TOKENS", 3 + int32(ceil4(prompt)), 2},
		{"stop sequence", "gemini-2.0-flash", &genai.GenerateContentConfig{StopSequences: []string{"."}}, "Hello from gemini-2", "STOP", 3 + int32(ceil4(prompt)), 3},
		{"json mime type", "gemini-2.0-flash", &genai.GenerateContentConfig{ResponseMIMEType: "application/json"},
			`{"answer":"Hello from gemini-2.0-flash. You said: summarize the plot of a very long novel"}`, "STOP", 3 + int32(ceil4(prompt)), 13},
		{"json schema", "gemini-2.0-flash", &genai.GenerateContentConfig{ResponseMIMEType: "application/json", ResponseSchema: &genai.Schema{
			Type: genai.TypeObject, Required: []string{"title", "pages"}, Properties: map[string]*genai.Schema{"title": {Type: genai.TypeString}, "pages": {Type: genai.TypeInteger}}}},
			`{"pages":1,"title":"sample"}`, "STOP", 3 + int32(ceil4(prompt)), 1},
		{"cached and thoughts", "gemini-cached", nil, "Hello from gemini-cached. You said: summarize the plot of a very long novel", "STOP", 3 + int32(ceil4(prompt)) + 50, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Models.GenerateContent(ctx, tt.model, genai.Text(prompt), tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Text(); got != tt.wantText || resp.Candidates[0].FinishReason != tt.wantFinish {
				t.Fatalf("got %q/%s, want %q/%s", got, resp.Candidates[0].FinishReason, tt.wantText, tt.wantFinish)
			}
			u := resp.UsageMetadata
			if u.PromptTokenCount != tt.wantPrompt || u.CandidatesTokenCount != tt.wantCands || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount+u.ThoughtsTokenCount {
				t.Fatalf("usage %+v, want prompt %d candidates %d", u, tt.wantPrompt, tt.wantCands)
			}
			if tt.model == "gemini-cached" && (u.CachedContentTokenCount != 50 || u.ThoughtsTokenCount != 9) {
				t.Fatalf("cached/thoughts %d/%d", u.CachedContentTokenCount, u.ThoughtsTokenCount)
			}
			if resp.ModelVersion != tt.model || resp.ResponseID == "" || resp.Candidates[0].Content.Role != "model" {
				t.Fatalf("envelope %q %q %q", resp.ModelVersion, resp.ResponseID, resp.Candidates[0].Content.Role)
			}
		})
	}
}

func TestGeminiSDKFunctionCalls(t *testing.T) {
	_, ts := newEmulator(t)
	client := geminiClient(t, ts.URL)
	ctx := context.Background()
	config := &genai.GenerateContentConfig{Tools: geminiTools}
	resp, err := client.Models.GenerateContent(ctx, "gemini-2.0-flash", genai.Text("weather and time?"), config)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 2 || resp.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("want 2 function calls, got %+v", resp.Candidates[0].Content.Parts)
	}
	for i, want := range []struct{ name, args string }{{"get_weather", weatherArgs}, {"get_time", timeArgs}} {
		args, _ := json.Marshal(calls[i].Args)
		if calls[i].Name != want.name || string(args) != want.args {
			t.Errorf("call %d = %s %s", i, calls[i].Name, args)
		}
	}
	if want := int32(callTokens(weatherArgs) + callTokens(timeArgs)); resp.UsageMetadata.CandidatesTokenCount != want {
		t.Errorf("candidates tokens %d, want %d", resp.UsageMetadata.CandidatesTokenCount, want)
	}

	// Streaming sends all calls in one chunk, as Gemini does.
	var chunks []*genai.GenerateContentResponse
	for r, err := range client.Models.GenerateContentStream(ctx, "gemini-2.0-flash", genai.Text("weather and time?"), config) {
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, r)
	}
	if len(chunks) != 1 || len(chunks[0].FunctionCalls()) != 2 {
		t.Fatalf("stream: %d chunks", len(chunks))
	}

	history := []*genai.Content{
		genai.NewContentFromText("weather and time?", genai.RoleUser),
		resp.Candidates[0].Content,
		genai.NewContentFromParts([]*genai.Part{
			genai.NewPartFromFunctionResponse("get_weather", map[string]any{"output": "sunny"}),
			genai.NewPartFromFunctionResponse("get_time", map[string]any{"output": "noon"}),
		}, genai.RoleUser),
	}
	resp2, err := client.Models.GenerateContent(ctx, "gemini-2.0-flash", history, config)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp2.Text(); got != "Got 2 tool result(s)." {
		t.Fatalf("second turn %q", got)
	}

	forced := &genai.GenerateContentConfig{Tools: geminiTools, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{
		Mode: genai.FunctionCallingConfigModeAny, AllowedFunctionNames: []string{"get_time"}}}}
	resp3, err := client.Models.GenerateContent(ctx, "gemini-2.0-flash", genai.Text("time?"), forced)
	if err != nil {
		t.Fatal(err)
	}
	if calls := resp3.FunctionCalls(); len(calls) != 1 || calls[0].Name != "get_time" {
		t.Fatalf("forced: %+v", calls)
	}
	none := &genai.GenerateContentConfig{Tools: geminiTools, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{
		Mode: genai.FunctionCallingConfigModeNone}}}
	resp4, err := client.Models.GenerateContent(ctx, "gemini-2.0-flash", genai.Text("time?"), none)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp4.FunctionCalls()) != 0 || resp4.Text() == "" {
		t.Fatalf("mode NONE should answer in text: %+v", resp4.Candidates[0].Content.Parts)
	}
}

func TestGeminiSDKStreaming(t *testing.T) {
	em, ts := newEmulator(t)
	client := geminiClient(t, ts.URL)
	ctx := context.Background()
	em.AddRule(Rule{Provider: ProviderGemini, CachedTokens: 3, ReasoningTokens: 2})
	contents := []*genai.Content{genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromText("describe these pictures"),
		genai.NewPartFromBytes([]byte("png"), "image/png"),
		genai.NewPartFromBytes([]byte("jpg"), "image/jpeg"),
	}, genai.RoleUser)}
	want, err := client.Models.GenerateContent(ctx, "gemini-2.5-flash", contents, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := "Hello from gemini-2.5-flash. You said: describe these pictures I see 2 images."; want.Text() != w {
		t.Fatalf("JSON text %q, want %q", want.Text(), w)
	}
	var text strings.Builder
	var last *genai.GenerateContentResponse
	n := 0
	for r, err := range client.Models.GenerateContentStream(ctx, "gemini-2.5-flash", contents, nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(r.Text())
		if r.UsageMetadata == nil || r.UsageMetadata.PromptTokenCount != want.UsageMetadata.PromptTokenCount {
			t.Errorf("chunk %d usage %+v", n, r.UsageMetadata)
		}
		if r.ResponseID != want.ResponseID {
			t.Errorf("chunk %d responseId %q, JSON %q", n, r.ResponseID, want.ResponseID)
		}
		last = r
		n++
	}
	if text.String() != want.Text() || n != len(strings.Fields(want.Text())) {
		t.Fatalf("stream %q in %d chunks, JSON %q", text.String(), n, want.Text())
	}
	lu, wu := last.UsageMetadata, want.UsageMetadata
	if last.Candidates[0].FinishReason != "STOP" || lu.CandidatesTokenCount != wu.CandidatesTokenCount || lu.TotalTokenCount != wu.TotalTokenCount ||
		lu.CachedContentTokenCount != 3 || lu.ThoughtsTokenCount != 2 {
		t.Fatalf("last chunk %s %+v, JSON %+v", last.Candidates[0].FinishReason, lu, wu)
	}
}

func TestGeminiSDKEmbed(t *testing.T) {
	_, ts := newEmulator(t)
	client := geminiClient(t, ts.URL)
	ctx := context.Background()
	resp, err := client.Models.EmbedContent(ctx, "gemini-embedding-001", []*genai.Content{
		genai.NewContentFromText("first text", genai.RoleUser), genai.NewContentFromText("second text", genai.RoleUser),
	}, &genai.EmbedContentConfig{OutputDimensionality: genai.Ptr[int32](16)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Embeddings) != 2 || len(resp.Embeddings[0].Values) != 16 {
		t.Fatalf("embeddings %+v", resp.Embeddings)
	}
	// The same text embeds to the same numbers as through OpenAI.
	want := embedVector("first text", 16)
	for i, v := range resp.Embeddings[0].Values {
		if float64(v) != want[i] {
			t.Fatalf("component %d = %v, want %v", i, v, want[i])
		}
	}
	r, b := post(t, ts.URL+"/v1beta/models/gemini-embedding-001:embedContent", geminiAuth, `{"content":{"parts":[{"text":"first text"}]}}`)
	var one struct {
		Embedding struct {
			Values []float64 `json:"values"`
		} `json:"embedding"`
	}
	if err := json.Unmarshal(b, &one); err != nil || r.StatusCode != 200 || fmt.Sprint(one.Embedding.Values) != fmt.Sprint(want[:defaultDimensions]) {
		t.Fatalf("embedContent %d %s", r.StatusCode, b)
	}
	r, b = post(t, ts.URL+"/v1beta/models/gemini-embedding-001:batchEmbedContents", geminiAuth, `{"requests":[{"model":"models/other","content":{"parts":[{"text":"x"}]}}]}`)
	if r.StatusCode != 400 {
		t.Fatalf("model mismatch: %d %s", r.StatusCode, b)
	}
}

func TestGeminiWire(t *testing.T) {
	em, ts := newEmulator(t)
	client := geminiClient(t, ts.URL)
	ctx := context.Background()
	url := ts.URL + "/v1beta/models/gemini-2.0-flash:"
	body := `{"contents":[{"role":"user","parts":[{"text":"one two three"}]}]}`

	t.Run("SSE framing", func(t *testing.T) {
		resp, b := post(t, url+"streamGenerateContent?alt=sse", geminiAuth, body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		frames := strings.Split(strings.TrimSuffix(string(b), "\r\n\r\n"), "\r\n\r\n")
		if len(frames) != len(strings.Fields("Hello from gemini-2.0-flash. You said: one two three")) {
			t.Fatalf("%d frames: %q", len(frames), b)
		}
		for _, f := range frames {
			data, ok := strings.CutPrefix(f, "data: ")
			if !ok || !json.Valid([]byte(data)) {
				t.Fatalf("bad frame %q", f)
			}
		}
	})
	t.Run("JSON array without alt=sse", func(t *testing.T) {
		resp, b := post(t, url+"streamGenerateContent", geminiAuth, body)
		var arr []map[string]any
		if err := json.Unmarshal(b, &arr); err != nil || resp.StatusCode != 200 || len(arr) < 2 {
			t.Fatalf("%d %v %s", resp.StatusCode, err, b)
		}
	})
	t.Run("snake_case fields and key query parameter", func(t *testing.T) {
		snake := `{"system_instruction":{"parts":[{"text":"sys"}]},"contents":[{"role":"user","parts":[{"text":"hi"},{"inline_data":{"mime_type":"image/png","data":"AA=="}}]}],
			"generation_config":{"max_output_tokens":3}}`
		resp, b := post(t, url+"generateContent?key=test-key", nil, snake)
		var r struct {
			Candidates []struct {
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
			UsageMetadata struct {
				PromptTokenCount int `json:"promptTokenCount"`
			} `json:"usageMetadata"`
		}
		_ = json.Unmarshal(b, &r)
		if resp.StatusCode != 200 || r.Candidates[0].FinishReason != "MAX_TOKENS" || r.UsageMetadata.PromptTokenCount != 3+1+3+1+85 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("errors", func(t *testing.T) {
		em.AddRule(Rule{Provider: ProviderGemini, Model: "gemini-overloaded", Status: 503})
		_, err := client.Models.GenerateContent(ctx, "gemini-overloaded", genai.Text("x"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" {
			t.Fatalf("got %v", err)
		}
		for _, err := range client.Models.GenerateContentStream(ctx, "gemini-overloaded", genai.Text("x"), nil) {
			if !errors.As(err, &apiErr) || apiErr.Code != 503 {
				t.Fatalf("stream got %v", err)
			}
		}
		for _, tc := range []struct {
			name, url, body string
			headers         map[string]string
			code            int
			status          string
		}{
			{"no key", url + "generateContent", body, nil, 403, "PERMISSION_DENIED"},
			{"no contents", url + "generateContent", `{"contents":[]}`, geminiAuth, 400, "INVALID_ARGUMENT"},
			{"bad role", url + "generateContent", `{"contents":[{"role":"bot","parts":[{"text":"x"}]}]}`, geminiAuth, 400, "INVALID_ARGUMENT"},
			{"unknown method", url + "predict", body, geminiAuth, 404, "NOT_FOUND"},
			{"malformed JSON", url + "generateContent", `{`, geminiAuth, 400, "INVALID_ARGUMENT"},
		} {
			resp, b := post(t, tc.url, tc.headers, tc.body)
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &e)
			if resp.StatusCode != tc.code || e.Error.Code != tc.code || e.Error.Status != tc.status || e.Error.Message == "" {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
			}
		}
		if resp, _, _ := do(t, http.MethodGet, url+"generateContent", geminiAuth, ""); resp.StatusCode != 404 {
			t.Errorf("GET: %d", resp.StatusCode)
		}
	})
}
