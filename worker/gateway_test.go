package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker"
)

type result struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, env *edgetest.Env, path, key, body string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.BaseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

// onBothAdapters runs a behaviour test against the net/http adapter and the
// native fasthttp one: the gateway must behave the same behind either.
func onBothAdapters(t *testing.T, test func(t *testing.T, native bool)) {
	for _, a := range []struct {
		name   string
		native bool
	}{{"net/http", false}, {"fasthttp", true}} {
		t.Run(a.name, func(t *testing.T) { test(t, a.native) })
	}
}

const chatBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}`

func TestBadInput(t *testing.T) {
	onBothAdapters(t, testBadInput)
}

func testBadInput(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Native: native, Modify: func(c *worker.Config) { c.MaxBodyBytes = 4096 }})
	big := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	tests := []struct {
		name, path, key, body string
		status                int
		errType               string
		anthropic             bool
	}{
		{"malformed JSON", "/v1/chat/completions", edgetest.Key, `{"model":`, 400, "invalid_request_error", false},
		{"not an object", "/v1/chat/completions", edgetest.Key, `[1,2]`, 400, "invalid_request_error", false},
		{"missing model", "/v1/chat/completions", edgetest.Key, `{"messages":[]}`, 400, "invalid_request_error", false},
		{"stream not bool", "/v1/chat/completions", edgetest.Key, `{"model":"openai/gpt-4o-mini","stream":"yes","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", false},
		{"too large", "/v1/chat/completions", edgetest.Key, big, 413, "request_too_large", false},
		{"no key", "/v1/chat/completions", "", chatBody, 401, "invalid_request_error", false},
		{"unknown key", "/v1/chat/completions", "sk-nope", chatBody, 401, "invalid_request_error", false},
		{"unknown model", "/v1/chat/completions", edgetest.Key, `{"model":"openai/gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "not_found_error", false},
		{"model not allowed for key", "/v1/chat/completions", edgetest.RestrictedKey, `{"model":"anthropic/claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, 403, "permission_error", false},
		{"embedding model on chat", "/v1/chat/completions", edgetest.Key, `{"model":"openai/text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", false},
		{"unsupported parameter for translation", "/v1/chat/completions", edgetest.Key, `{"model":"anthropic/claude-haiku-4-5","logit_bias":{"1":2},"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", false},
		{"unknown field for translation", "/v1/chat/completions", edgetest.Key, `{"model":"google/gemini-2.5-flash","frobnicate":1,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", false},
		{"bad provider prefs", "/v1/chat/completions", edgetest.Key, `{"model":"openai/gpt-4o-mini","provider":{"sort":"vibes"},"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", false},
		{"anthropic malformed", "/v1/messages", edgetest.Key, `{"model":`, 400, "invalid_request_error", true},
		{"anthropic no key", "/v1/messages", "", `{"model":"anthropic/claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 401, "authentication_error", true},
		{"anthropic unknown model", "/v1/messages", edgetest.Key, `{"model":"anthropic/claude-0","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 404, "not_found_error", true},
		{"anthropic to openai without max_tokens", "/v1/messages", edgetest.Key, `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", true},
		{"unknown route", "/v1/nothing", edgetest.Key, `{}`, 404, "not_found_error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, env, tt.path, tt.key, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("error body is not JSON: %q", r.body)
			}
			if tt.anthropic && got.Type != "error" {
				t.Errorf("Anthropic route answered with a non-Anthropic error object: %s", r.body)
			}
			if got.Error.Type != tt.errType || got.Error.Message == "" {
				t.Errorf("error = %+v, want type %s with a message", got.Error, tt.errType)
			}
		})
	}
}

func TestPassThroughSetsModelAndStripsGatewayFields(t *testing.T) {
	onBothAdapters(t, testPassThroughSetsModelAndStripsGatewayFields)
}

func testPassThroughSetsModelAndStripsGatewayFields(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Native: native})
	r := post(t, env, "/v1/chat/completions", edgetest.Key,
		`{"model":"openai/gpt-4o-mini","models":["compat/gpt-4o-mini"],"provider":{"sort":"price"},"temperature":0.2,"messages":[{"role":"user","content":"Say hello"}]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	reqs := env.Emulator.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	var sent map[string]any
	if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	// sort=price puts the cheaper compat host first.
	if reqs[0].Path != "/v1/chat/completions" || sent["model"] != "gpt-4o-mini" {
		t.Errorf("upstream got path %s model %v", reqs[0].Path, sent["model"])
	}
	if _, ok := sent["models"]; ok {
		t.Error("gateway field models reached the upstream")
	}
	if _, ok := sent["provider"]; ok {
		t.Error("gateway field provider reached the upstream")
	}
	if sent["temperature"] != 0.2 {
		t.Errorf("temperature not passed through: %v", sent["temperature"])
	}
	rec := env.UsageFor(t, r.header.Get("X-Request-Id"))
	if rec.ServedModel != "compat/gpt-4o-mini" {
		t.Errorf("sort=price served %s, want the cheaper compat/gpt-4o-mini", rec.ServedModel)
	}
	var resp struct {
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal([]byte(r.body), &resp)
	if rec.Tokens.Prompt() != resp.Usage.PromptTokens || rec.Tokens.Output != resp.Usage.CompletionTokens || rec.Estimated {
		t.Errorf("usage record %+v does not match the upstream's usage %+v", rec.Tokens, resp.Usage)
	}
	if rec.CostMicros <= 0 {
		t.Errorf("cost = %d, want > 0", rec.CostMicros)
	}
}

func TestFallbackAndRetry(t *testing.T) {
	onBothAdapters(t, testFallbackAndRetry)
}

func testFallbackAndRetry(t *testing.T, native bool) {
	tests := []struct {
		name        string
		rule        emulator.Rule
		body        string
		wantStatus  int
		wantServed  string
		wantAttempt int
	}{
		{
			name:        "retry once after 429",
			rule:        emulator.Rule{Model: "flaky-model", Status: 429, Times: 1},
			body:        `{"model":"openai/flaky-model","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus:  200,
			wantServed:  "openai/flaky-model",
			wantAttempt: 2,
		},
		{
			name:        "fallback to models list after repeated 503",
			rule:        emulator.Rule{Model: "flaky-model", Status: 503},
			body:        `{"model":"openai/flaky-model","models":["compat/backup-model"],"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus:  200,
			wantServed:  "compat/backup-model",
			wantAttempt: 3,
		},
		{
			name:        "streaming fallback before the first byte",
			rule:        emulator.Rule{Model: "flaky-model", Status: 500},
			body:        `{"model":"openai/flaky-model","stream":true,"models":["compat/backup-model"],"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus:  200,
			wantServed:  "compat/backup-model",
			wantAttempt: 3,
		},
		{
			name:        "no fallback when disallowed",
			rule:        emulator.Rule{Model: "flaky-model", Status: 503},
			body:        `{"model":"openai/flaky-model","models":["compat/backup-model"],"provider":{"allow_fallbacks":false},"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus:  503,
			wantServed:  "",
			wantAttempt: 2,
		},
		{
			name:        "client error is not retried",
			rule:        emulator.Rule{Model: "flaky-model", Status: 400},
			body:        `{"model":"openai/flaky-model","models":["compat/backup-model"],"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus:  400,
			wantServed:  "openai/flaky-model",
			wantAttempt: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := edgetest.Start(t, edgetest.Options{Native: native})
			env.Emulator.AddRule(tt.rule)
			r := post(t, env, "/v1/chat/completions", edgetest.Key, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if strings.Contains(r.body, "emulator-openai-secret") {
				t.Fatal("provider secret leaked to the client")
			}
			rec := env.UsageFor(t, r.header.Get("X-Request-Id"))
			if rec.ServedModel != tt.wantServed || rec.Attempts != tt.wantAttempt {
				t.Errorf("served %q after %d attempts, want %q after %d", rec.ServedModel, rec.Attempts, tt.wantServed, tt.wantAttempt)
			}
		})
	}
}

// sseEvents reads data payloads from a streamed response.
func sseEvents(t *testing.T, body io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func openStream(t *testing.T, env *edgetest.Env, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.BaseURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+edgetest.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStreamUsageChunkOnlyWhenAsked(t *testing.T) {
	onBothAdapters(t, testStreamUsageChunkOnlyWhenAsked)
}

func testStreamUsageChunkOnlyWhenAsked(t *testing.T, native bool) {
	for _, model := range []string{"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"} {
		for _, ask := range []bool{false, true} {
			t.Run(model+map[bool]string{true: " with include_usage", false: ""}[ask], func(t *testing.T) {
				env := edgetest.Start(t, edgetest.Options{Native: native})
				body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"Count to five"}]`
				if ask {
					body += `,"stream_options":{"include_usage":true}`
				}
				resp := openStream(t, env, body+"}")
				if resp.StatusCode != 200 || resp.Header.Get("X-Accel-Buffering") != "no" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
					t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
				}
				events := sseEvents(t, resp.Body)
				if events[len(events)-1] != "[DONE]" {
					t.Fatalf("stream did not end with [DONE]: %v", events)
				}
				usageChunks := 0
				for _, e := range events[:len(events)-1] {
					var c struct {
						Choices []any           `json:"choices"`
						Usage   json.RawMessage `json:"usage"`
					}
					if err := json.Unmarshal([]byte(e), &c); err != nil {
						t.Fatalf("bad chunk %q", e)
					}
					if len(c.Choices) == 0 && len(c.Usage) > 0 && string(c.Usage) != "null" {
						usageChunks++
					}
				}
				if want := map[bool]int{true: 1, false: 0}[ask]; usageChunks != want {
					t.Errorf("usage chunks = %d, want %d", usageChunks, want)
				}
				rec := env.UsageFor(t, resp.Header.Get("X-Request-Id"))
				if rec.Estimated || rec.Tokens.Output == 0 || rec.Tokens.Prompt() == 0 || rec.Status != 200 {
					t.Errorf("usage record %+v, want exact non-zero counts", rec)
				}
			})
		}
	}
}

func TestMidStreamFailureSendsErrorEvent(t *testing.T) {
	onBothAdapters(t, testMidStreamFailureSendsErrorEvent)
}

func testMidStreamFailureSendsErrorEvent(t *testing.T, native bool) {
	for _, model := range []string{"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"} {
		t.Run(model, func(t *testing.T) {
			env := edgetest.Start(t, edgetest.Options{Native: native})
			env.Emulator.AddRule(emulator.Rule{FailAfterEvents: 3})
			resp := openStream(t, env, `{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"Tell me a long story please"}]}`)
			events := sseEvents(t, resp.Body)
			last := events[len(events)-1]
			if !strings.Contains(last, `"error"`) {
				t.Fatalf("stream ended without an error event; last event %q", last)
			}
			rec := env.UsageFor(t, resp.Header.Get("X-Request-Id"))
			if rec.Status != http.StatusBadGateway {
				t.Errorf("recorded status %d, want 502", rec.Status)
			}
		})
	}
}

func TestClientDisconnectIsBilled(t *testing.T) {
	onBothAdapters(t, testClientDisconnectIsBilled)
}

func testClientDisconnectIsBilled(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Native: native})
	env.Emulator.AddRule(emulator.Rule{ChunkDelay: 30 * time.Millisecond, Text: strings.Repeat("word ", 200)})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.BaseURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Go on"}]}`))
	req.Header.Set("Authorization", "Bearer "+edgetest.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("X-Request-Id")
	br := bufio.NewReader(resp.Body)
	for n := 0; n < 5; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			n++
		}
	}
	cancel()
	resp.Body.Close()
	rec := env.UsageFor(t, id)
	if rec.Status != worker.StatusClientClosed {
		t.Errorf("status = %d, want %d", rec.Status, worker.StatusClientClosed)
	}
	if !rec.Estimated || rec.Tokens.Output < 2 || rec.Tokens.Output > 150 || rec.Tokens.Input == 0 {
		t.Errorf("tokens %+v estimated=%v: want an estimate of what was produced before the hang-up", rec.Tokens, rec.Estimated)
	}
}

func TestModelsHealthAndMetrics(t *testing.T) {
	onBothAdapters(t, testModelsHealthAndMetrics)
}

func testModelsHealthAndMetrics(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Native: native})
	get := func(path string, hdr ...string) result {
		req, _ := http.NewRequest(http.MethodGet, env.BaseURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+edgetest.Key)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return result{resp.StatusCode, resp.Header, string(b)}
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID            string `json:"id"`
			ContextLength int    `json:"context_length"`
			Pricing       struct {
				Prompt     string `json:"prompt"`
				Completion string `json:"completion"`
			} `json:"pricing"`
		} `json:"data"`
	}
	r := get("/v1/models")
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != 200 {
		t.Fatalf("models: %d %s", r.status, r.body)
	}
	found := false
	for _, m := range list.Data {
		if m.ID == "openai/gpt-4o-mini" {
			found = true
			if m.ContextLength != 128000 || m.Pricing.Prompt != "0.15" || m.Pricing.Completion != "0.6" {
				t.Errorf("gpt-4o-mini listed as %+v", m)
			}
		}
	}
	if !found || list.Object != "list" {
		t.Errorf("catalog listing incomplete: %s", r.body)
	}
	if r := get("/v1/models", "anthropic-version", "2023-06-01"); !strings.Contains(r.body, `"type":"model"`) {
		t.Errorf("Anthropic-style listing missing: %s", r.body)
	}
	if r := get("/healthz"); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	post(t, env, "/v1/chat/completions", edgetest.Key, chatBody)
	post(t, env, "/v1/chat/completions", edgetest.Key, `{"model":"openai/made-up-model-name","messages":[]}`)
	m := get("/metrics").body
	if !strings.Contains(m, `switchyard_requests_total{endpoint="chat.completions",provider="openai",model="openai/gpt-4o-mini",status="200"} 1`) {
		t.Errorf("metrics missing the request:\n%s", m)
	}
	if strings.Contains(m, "made-up-model-name") {
		t.Error("a client-supplied model name became a metric label")
	}
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestKeyStatesAndLimits(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{})
	for _, tt := range []struct {
		name, key string
		status    int
		code      string
	}{
		{"revoked", edgetest.RevokedKey, 401, "key_revoked"},
		{"expired", edgetest.ExpiredKey, 401, "key_expired"},
	} {
		r := post(t, env, "/v1/chat/completions", tt.key, chatBody)
		if r.status != tt.status || !strings.Contains(r.body, `"code":"`+tt.code+`"`) {
			t.Errorf("%s key: %d %s", tt.name, r.status, r.body)
		}
	}

	for i := range 2 {
		if r := post(t, env, "/v1/chat/completions", edgetest.LimitedKey, chatBody); r.status != 200 {
			t.Fatalf("request %d within the limit: %d %s", i+1, r.status, r.body)
		}
	}
	r := post(t, env, "/v1/chat/completions", edgetest.LimitedKey, chatBody)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "rate_limit_exceeded") {
		t.Errorf("third request in a minute with a 2/min key: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if got := post(t, env, "/v1/chat/completions", edgetest.Key, chatBody); got.status != 200 {
		t.Errorf("another key was limited too: %d", got.status)
	}

	// The first request spends more than 10 tokens; the next must wait.
	if r := post(t, env, "/v1/chat/completions", edgetest.TokenLimitedKey, chatBody); r.status != 200 {
		t.Fatalf("first token-limited request: %d %s", r.status, r.body)
	}
	if r := post(t, env, "/v1/chat/completions", edgetest.TokenLimitedKey, chatBody); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("token-limited key over budget: %d %s", r.status, r.body)
	}
}

func TestFinishReasonRecorded(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{})
	for _, tt := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{"model":"openai/gpt-4o-mini","max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`, "length"},
		{"/v1/chat/completions", `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stop"},
		{"/v1/messages", `{"model":"anthropic/claude-haiku-4-5","max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`, "length"},
		{"/v1/messages", `{"model":"anthropic/claude-haiku-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stop"},
		{"/v1/chat/completions", `{"model":"google/gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stop"},
		{"/v1/chat/completions", `{"model":"anthropic/claude-haiku-4-5","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"messages":[{"role":"user","content":"hi"}]}`, "tool_calls"},
	} {
		r := post(t, env, tt.path, edgetest.Key, tt.body, "anthropic-version", "2023-06-01")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", tt.body, r.status, r.body)
		}
		if got := env.UsageFor(t, r.header.Get("X-Request-Id")).FinishReason; got != tt.want {
			t.Errorf("%s %s: finish reason %q, want %q", tt.path, tt.body, got, tt.want)
		}
	}
}
