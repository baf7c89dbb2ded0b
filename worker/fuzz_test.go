package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// inProcessEmulator calls the emulator without a socket, so the fuzzer
// spends its time in the gateway's parsers rather than the network.
type inProcessEmulator struct{ emu *emulator.Server }

func (u inProcessEmulator) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	req := httptest.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	for _, kv := range r.Header {
		req.Header.Set(kv[0], kv[1])
	}
	rec := httptest.NewRecorder()
	u.emu.ServeHTTP(rec, req)
	return &worker.UpstreamResponse{Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(rec.Body)}, nil
}

type captured struct {
	status int
	body   bytes.Buffer
}

func (c *captured) Respond(status int, _ [][2]string, body []byte) {
	c.status = status
	c.body.Write(body)
}

func (c *captured) Stream(status int, _ [][2]string, fn func(worker.StreamWriter)) {
	c.status = status
	fn(c)
}

func (c *captured) Send(p []byte) error {
	c.body.Write(p)
	return nil
}

// FuzzServe sends arbitrary bodies to every model route. The gateway must
// never panic, and every refusal must be a JSON error object with a 4xx or
// 5xx status.
func FuzzServe(f *testing.F) {
	keys, err := keyfile.New([]keyfile.Entry{{ID: "k", AccountID: "a", Secret: "secret"}})
	if err != nil {
		f.Fatal(err)
	}
	env := map[string]string{"OPENAI_BASE_URL": "http://emulator/v1", "ANTHROPIC_BASE_URL": "http://emulator", "GEMINI_BASE_URL": "http://emulator",
		"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "GEMINI_API_KEY": "x"}
	cfg, err := setup.Default().Config(func(k string) string { return env[k] }, keys, inProcessEmulator{emulator.New()}, nil)
	if err != nil {
		f.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.MaxAttempts = 1
	g, err := worker.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(0, []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	f.Add(1, []byte(`{"model":"google/gemini-2.5-flash","max_tokens":5,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`))
	f.Add(0, []byte(`{"model":"anthropic/claude-haiku-4-5","models":["openai/gpt-4o-mini"],"provider":{"order":["openai"],"sort":"latency"},"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`))
	f.Add(2, []byte(`{"model":"google/gemini-embedding-001","input":["a","b"],"encoding_format":"base64"}`))
	f.Add(1, []byte(`{"model":"openai/gpt-4o-mini","max_tokens":9,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`))
	paths := []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings"}
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		path := paths[(route%len(paths)+len(paths))%len(paths)]
		h := http.Header{}
		h.Set("Authorization", "Bearer secret")
		var out captured
		g.Serve(&worker.Request{Method: http.MethodPost, Path: path, Header: h, Body: body}, &out)
		if out.status == http.StatusOK {
			return
		}
		if out.status < 400 || out.status > 599 {
			t.Fatalf("status %d", out.status)
		}
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out.body.Bytes(), &e); err != nil || e.Error.Message == "" {
			t.Fatalf("status %d with a body that is not an error object: %q", out.status, out.body.String())
		}
	})
}
