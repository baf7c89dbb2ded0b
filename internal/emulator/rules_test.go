package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"
)

// providerCase is one minimal chat request per provider, JSON and streaming.
type providerCase struct {
	provider, model string
	url, streamURL  string
	headers         map[string]string
	body            func(model string, stream bool) string
}

func providerCases(baseURL string) []providerCase {
	return []providerCase{
		{ProviderOpenAI, "gpt-4o-mini", baseURL + "/v1/chat/completions", baseURL + "/v1/chat/completions", openaiAuth,
			func(model string, stream bool) string {
				s := ""
				if stream {
					s = `"stream":true,"stream_options":{"include_usage":true},`
				}
				return `{"model":"` + model + `",` + s + `"messages":[{"role":"user","content":"one two three four"}]}`
			}},
		{ProviderAnthropic, "claude-test", baseURL + "/v1/messages", baseURL + "/v1/messages", anthropicAuth,
			func(model string, stream bool) string {
				s := ""
				if stream {
					s = `"stream":true,`
				}
				return `{"model":"` + model + `",` + s + `"max_tokens":100,"messages":[{"role":"user","content":"one two three four"}]}`
			}},
		{ProviderGemini, "gemini-2.0-flash", baseURL + "/v1beta/models/gemini-2.0-flash:generateContent",
			baseURL + "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", geminiAuth,
			func(string, bool) string {
				return `{"contents":[{"role":"user","parts":[{"text":"one two three four"}]}]}`
			}},
	}
}

func (pc providerCase) send(t *testing.T, stream bool) (*http.Response, []byte, error) {
	u := pc.url
	if stream {
		u = pc.streamURL
	}
	return do(t, http.MethodPost, u, pc.headers, pc.body(pc.model, stream))
}

func TestInjectedStatus(t *testing.T) {
	em, ts := newEmulator(t)
	for _, pc := range providerCases(ts.URL) {
		for _, tc := range []struct {
			status int
			want   string // error type (OpenAI, Anthropic) or status (Gemini)
		}{
			{400, map[string]string{ProviderOpenAI: "invalid_request_error", ProviderAnthropic: "invalid_request_error", ProviderGemini: "INVALID_ARGUMENT"}[pc.provider]},
			{403, map[string]string{ProviderOpenAI: "invalid_request_error", ProviderAnthropic: "permission_error", ProviderGemini: "PERMISSION_DENIED"}[pc.provider]},
			{404, map[string]string{ProviderOpenAI: "invalid_request_error", ProviderAnthropic: "not_found_error", ProviderGemini: "NOT_FOUND"}[pc.provider]},
			{429, map[string]string{ProviderOpenAI: "requests", ProviderAnthropic: "rate_limit_error", ProviderGemini: "RESOURCE_EXHAUSTED"}[pc.provider]},
			{500, map[string]string{ProviderOpenAI: "server_error", ProviderAnthropic: "api_error", ProviderGemini: "INTERNAL"}[pc.provider]},
			{503, map[string]string{ProviderOpenAI: "server_error", ProviderAnthropic: "api_error", ProviderGemini: "UNAVAILABLE"}[pc.provider]},
			{504, map[string]string{ProviderOpenAI: "server_error", ProviderAnthropic: "timeout_error", ProviderGemini: "DEADLINE_EXCEEDED"}[pc.provider]},
			{529, map[string]string{ProviderOpenAI: "server_error", ProviderAnthropic: "overloaded_error", ProviderGemini: "INTERNAL"}[pc.provider]},
		} {
			for _, stream := range []bool{false, true} {
				em.ClearRules()
				em.AddRule(Rule{Provider: pc.provider, Status: tc.status, Times: 1})
				resp, b, err := pc.send(t, stream)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Errorf("%s %d stream=%v: got %d %s", pc.provider, tc.status, stream, resp.StatusCode, resp.Header.Get("Content-Type"))
					continue
				}
				var e struct {
					Type  string `json:"type"`
					Error struct {
						Type, Message, Status string
						Code                  any
					} `json:"error"`
				}
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatal(err)
				}
				got := e.Error.Type
				if pc.provider == ProviderGemini {
					got = e.Error.Status
					if e.Error.Code != float64(tc.status) {
						t.Errorf("gemini code %v", e.Error.Code)
					}
				}
				if pc.provider == ProviderAnthropic && e.Type != "error" {
					t.Errorf("anthropic envelope type %q", e.Type)
				}
				if got != tc.want || e.Error.Message == "" {
					t.Errorf("%s %d: error %s", pc.provider, tc.status, b)
				}
				wantRetry := ""
				if pc.provider != ProviderGemini && (tc.status == 429 || tc.status == 503) {
					wantRetry = "1"
				}
				if resp.Header.Get("Retry-After") != wantRetry {
					t.Errorf("%s %d: retry-after %q", pc.provider, tc.status, resp.Header.Get("Retry-After"))
				}
				// Times: 1 is used up, so the next request succeeds.
				if resp, b, _ := pc.send(t, stream); resp.StatusCode != 200 {
					t.Errorf("%s %d: rule outlived Times: %d %s", pc.provider, tc.status, resp.StatusCode, b)
				}
			}
		}
	}
}

func TestRuleMatching(t *testing.T) {
	em, ts := newEmulator(t)
	cases := providerCases(ts.URL)
	openaiCase, anthropicCase := cases[0], cases[1]
	em.AddRule(Rule{Status: 500, Times: 3})
	em.AddRule(Rule{Provider: ProviderOpenAI, Model: "gpt-special", Text: "scripted reply"})
	em.AddRule(Rule{Provider: ProviderAnthropic, Status: 429, Times: 2})

	expect := func(pc providerCase, model string, status int, contains string) {
		t.Helper()
		resp, b := post(t, pc.url, pc.headers, pc.body(model, false))
		if resp.StatusCode != status || !strings.Contains(string(b), contains) {
			t.Fatalf("%s %s: %d %s, want %d containing %q", pc.provider, model, resp.StatusCode, b, status, contains)
		}
	}
	expect(anthropicCase, "claude-test", 429, "rate_limit_error") // newest matching rule first
	expect(anthropicCase, "claude-test", 429, "rate_limit_error")
	expect(openaiCase, "gpt-special", 200, "scripted reply") // model-specific rule beats the catch-all
	expect(openaiCase, "gpt-special", 200, "scripted reply") // unlimited
	expect(anthropicCase, "claude-test", 500, "api_error")   // Anthropic rule used up, catch-all applies
	expect(openaiCase, "gpt-4o-mini", 500, "server_error")
	expect(openaiCase, "gpt-4o-mini", 500, "server_error")
	expect(openaiCase, "gpt-4o-mini", 200, "Hello from gpt-4o-mini")
	expect(openaiCase, "gpt-special", 200, "scripted reply")
	em.ClearRules()
	expect(openaiCase, "gpt-special", 200, "Hello from gpt-special")

	// Text replaces tool calls too, and is still subject to max tokens.
	id := em.AddRule(Rule{Text: "one two three four five"})
	if id < 1 {
		t.Fatalf("rule id %d", id)
	}
	resp, b := post(t, openaiCase.url, openaiAuth, `{"model":"m","max_tokens":3,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"content":"one two three"`) || !strings.Contains(string(b), `"finish_reason":"length"`) {
		t.Fatalf("%s", b)
	}
}

func TestRuleTimesUnderConcurrency(t *testing.T) {
	em, ts := newEmulator(t)
	pc := providerCases(ts.URL)[0]
	em.AddRule(Rule{Status: 429, Times: 7})
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, pc.url, strings.NewReader(pc.body(pc.model, false)))
			for k, v := range pc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[429] != 7 || counts[200] != 17 {
		t.Fatalf("statuses %v, want 7×429 and 17×200", counts)
	}
	if n := len(em.Requests()); n != 24 {
		t.Fatalf("recorded %d requests", n)
	}
}

func TestFailAfterEvents(t *testing.T) {
	em, ts := newEmulator(t)
	const after = 3
	em.AddRule(Rule{FailAfterEvents: after})
	ctx := context.Background()

	t.Run("raw", func(t *testing.T) {
		for _, pc := range providerCases(ts.URL) {
			resp, b, err := pc.send(t, true)
			if resp.StatusCode != 200 || err == nil {
				t.Errorf("%s: status %d, read error %v; want 200 and a broken body", pc.provider, resp.StatusCode, err)
				continue
			}
			if n := len(parseSSE(t, b)); n != after {
				t.Errorf("%s: got %d events before the abort, want %d", pc.provider, n, after)
			}
		}
	})
	t.Run("JSON requests are unaffected", func(t *testing.T) {
		for _, pc := range providerCases(ts.URL) {
			if resp, _, err := pc.send(t, false); err != nil || resp.StatusCode != 200 {
				t.Errorf("%s: %v", pc.provider, err)
			}
		}
	})
	t.Run("SDKs see a failed stream", func(t *testing.T) {
		oc, ac := openaiClient(ts.URL), anthropicClient(ts.URL)
		oa := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four")}})
		n := 0
		for oa.Next() {
			n++
		}
		if oa.Err() == nil || n != after {
			t.Errorf("openai: %d chunks, err %v", n, oa.Err())
		}

		an := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two three four"))}})
		for an.Next() {
		}
		if an.Err() == nil {
			t.Error("anthropic: stream ended cleanly")
		}

		var gemErr error
		n = 0
		for _, err := range geminiClient(t, ts.URL).Models.GenerateContentStream(ctx, "gemini-2.0-flash", genai.Text("one two three four"), nil) {
			if err != nil {
				gemErr = err
				break
			}
			n++
		}
		if gemErr == nil || n != after {
			t.Errorf("gemini: %d chunks, err %v", n, gemErr)
		}
	})
}

func TestLatencyAndChunkDelay(t *testing.T) {
	em, ts := newEmulator(t)
	pc := providerCases(ts.URL)[1]
	em.AddRule(Rule{Latency: 250 * time.Millisecond, Times: 1})
	start := time.Now()
	if resp, _, _ := pc.send(t, false); resp.StatusCode != 200 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("latency not applied: %v", time.Since(start))
	}
	start = time.Now()
	pc.send(t, false)
	if time.Since(start) > 200*time.Millisecond {
		t.Fatalf("latency outlived Times: %v", time.Since(start))
	}

	em.AddRule(Rule{ChunkDelay: 15 * time.Millisecond, Times: 1})
	start = time.Now()
	_, b, err := pc.send(t, true)
	if err != nil {
		t.Fatal(err)
	}
	events := len(parseSSE(t, b))
	if min := time.Duration(events-1) * 15 * time.Millisecond; time.Since(start) < min {
		t.Fatalf("%d events in %v, want at least %v", events, time.Since(start), min)
	}

	// A client that gives up is not waited for.
	em.AddRule(Rule{Latency: 5 * time.Second, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, pc.url, strings.NewReader(pc.body(pc.model, false)))
	for k, v := range pc.headers {
		req.Header.Set(k, v)
	}
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("want a client timeout")
	}
}

func TestDeterminism(t *testing.T) {
	_, ts := newEmulator(t)
	created := regexp.MustCompile(`"created":\d+`)
	for _, pc := range providerCases(ts.URL) {
		for _, stream := range []bool{false, true} {
			_, a, err1 := pc.send(t, stream)
			_, b, err2 := pc.send(t, stream)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			a, b = created.ReplaceAll(a, nil), created.ReplaceAll(b, nil)
			if string(a) != string(b) {
				t.Errorf("%s stream=%v: answers differ:\n%s\n%s", pc.provider, stream, a, b)
			}
		}
	}
}

func TestRecordedRequests(t *testing.T) {
	em, ts := newEmulator(t)
	for _, pc := range providerCases(ts.URL) {
		pc.send(t, false)
		pc.send(t, true)
	}
	do(t, http.MethodPost, ts.URL+"/v1/chat/completions", nil, `{"model":"no-auth"}`)
	got := em.Requests()
	want := []struct {
		provider, path, model string
		stream                bool
		header                string
	}{
		{ProviderOpenAI, "/v1/chat/completions", "gpt-4o-mini", false, "Authorization"},
		{ProviderOpenAI, "/v1/chat/completions", "gpt-4o-mini", true, "Authorization"},
		{ProviderAnthropic, "/v1/messages", "claude-test", false, "X-Api-Key"},
		{ProviderAnthropic, "/v1/messages", "claude-test", true, "Anthropic-Version"},
		{ProviderGemini, "/v1beta/models/gemini-2.0-flash:generateContent", "gemini-2.0-flash", false, "X-Goog-Api-Key"},
		{ProviderGemini, "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "gemini-2.0-flash", true, "X-Goog-Api-Key"},
		{ProviderOpenAI, "/v1/chat/completions", "no-auth", false, "Content-Type"},
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %d requests, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Provider != w.provider || g.Path != w.path || g.Model != w.model || g.Stream != w.stream || g.Header.Get(w.header) == "" || !json.Valid(g.Body) {
			t.Errorf("request %d = %+v, want %+v", i, g, w)
		}
	}
	em.ResetRequests()
	if len(em.Requests()) != 0 {
		t.Fatal("ResetRequests kept requests")
	}
}

func TestAdminAPI(t *testing.T) {
	em, ts := newEmulator(t)
	pc := providerCases(ts.URL)[0]
	resp, b := post(t, ts.URL+"/_emulator/rules", nil,
		`{"provider":"openai","model":"gpt-4o-mini","status":503,"times":1,"latency":"40ms","chunk_delay":"1ms","fail_after_events":0,"cached_tokens":0,"reasoning_tokens":0,"text":""}`)
	var created struct{ ID int }
	if err := json.Unmarshal(b, &created); err != nil || resp.StatusCode != http.StatusCreated || created.ID != 1 {
		t.Fatalf("add rule: %d %s", resp.StatusCode, b)
	}
	start := time.Now()
	if resp, _, _ := pc.send(t, false); resp.StatusCode != 503 || time.Since(start) < 40*time.Millisecond || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("rule not applied: %d after %v", resp.StatusCode, time.Since(start))
	}
	post(t, ts.URL+"/_emulator/rules", nil, `{"status":500}`)
	if resp, _, _ := do(t, http.MethodDelete, ts.URL+"/_emulator/rules", nil, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete rules: %d", resp.StatusCode)
	}
	if resp, _, _ := pc.send(t, false); resp.StatusCode != 200 {
		t.Fatalf("rules survived DELETE: %d", resp.StatusCode)
	}
	for _, bad := range []string{`{`, `{"latency":"soon"}`, `{"provider":"azure"}`, `{"status":200}`, `{"unknown":1}`} {
		if resp, b := post(t, ts.URL+"/_emulator/rules", nil, bad); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	resp, b, _ = do(t, http.MethodGet, ts.URL+"/_emulator/requests", nil, "")
	var recorded []RecordedRequest
	if err := json.Unmarshal(b, &recorded); err != nil || resp.StatusCode != 200 || len(recorded) != 2 || recorded[1].Model != "gpt-4o-mini" || !json.Valid(recorded[1].Body) {
		t.Fatalf("requests: %d %s", resp.StatusCode, b)
	}
	if resp, _, _ := do(t, http.MethodDelete, ts.URL+"/_emulator/requests", nil, ""); resp.StatusCode != http.StatusNoContent || len(em.Requests()) != 0 {
		t.Fatalf("delete requests: %d", resp.StatusCode)
	}
	for _, tc := range []struct{ method, path string }{{"GET", "/_emulator/rules"}, {"POST", "/_emulator/requests"}, {"GET", "/_emulator/nope"}} {
		if resp, _, _ := do(t, tc.method, ts.URL+tc.path, nil, ""); resp.StatusCode < 400 {
			t.Errorf("%s %s: %d", tc.method, tc.path, resp.StatusCode)
		}
	}
}
