package worker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
)

// TestCanaryNeverStored sends a unique string in every kind of content a
// client can send, over every route, style and provider, including failing
// requests, and proves it reaches no log line, usage record or metric.
func TestCanaryNeverStored(t *testing.T) {
	onBothAdapters(t, testCanaryNeverStored)
}

func testCanaryNeverStored(t *testing.T, native bool) {
	const canary = "CANARY-7f3e9b21-do-not-store"
	env := edgetest.Start(t, edgetest.Options{Native: native})
	// Some failures, so error paths are covered too.
	env.Emulator.AddRule(emulator.Rule{Model: "flaky-model", Status: 400})
	env.Emulator.AddRule(emulator.Rule{Model: "claude-sonnet-4-5", FailAfterEvents: 2})

	tool := `{"type":"function","function":{"name":"lookup_` + "x" + `","description":"` + canary + `","parameters":{"type":"object","properties":{"q":{"type":"string","description":"` + canary + `"}},"required":["q"]}}}`
	var bodies []struct{ path, body string }
	for _, model := range []string{"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5", "google/gemini-2.5-flash", "openai/flaky-model"} {
		for _, stream := range []string{"false", "true"} {
			bodies = append(bodies,
				struct{ path, body string }{"/v1/chat/completions", `{"model":"` + model + `","stream":` + stream + `,"user":"` + canary + `","messages":[{"role":"system","content":"` + canary + `"},{"role":"user","content":"hello ` + canary + `"}],"tools":[` + tool + `]}`},
				struct{ path, body string }{"/v1/messages", `{"model":"` + model + `","stream":` + stream + `,"max_tokens":50,"system":"` + canary + `","messages":[{"role":"user","content":"hello ` + canary + `"}]}`},
			)
		}
	}
	bodies = append(bodies,
		struct{ path, body string }{"/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":"` + canary + `"}`},
		struct{ path, body string }{"/v1/embeddings", `{"model":"google/gemini-embedding-001","input":["` + canary + `"]}`},
		struct{ path, body string }{"/v1/chat/completions", `{"model":"` + canary + `","messages":[]}`},
		struct{ path, body string }{"/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + canary + `"}],"` + canary + `":1}`},
	)
	sawEcho := false
	for _, b := range bodies {
		r := post(t, env, b.path, edgetest.Key, b.body)
		if strings.Contains(r.body, canary) {
			sawEcho = true
		}
	}
	if !sawEcho {
		t.Fatal("the canary never came back to the client, so the test cannot tell whether content flowed")
	}
	// The key secret is content-like too: it must not be stored either.
	for name, text := range map[string]string{
		"logs":    env.Logs(),
		"usage":   mustJSON(t, env.Usage()),
		"metrics": post(t, env, "/metrics", "", "").body + getMetrics(t, env),
	} {
		if strings.Contains(text, canary) {
			t.Errorf("canary found in %s", name)
		}
		if strings.Contains(text, edgetest.Key) {
			t.Errorf("API key secret found in %s", name)
		}
	}
	if len(env.Usage()) < len(bodies)-2 {
		t.Errorf("only %d usage records for %d requests", len(env.Usage()), len(bodies))
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getMetrics(t *testing.T, env *edgetest.Env) string {
	resp, err := httpGet(env.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
