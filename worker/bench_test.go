package worker_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// replayUpstream asks the emulator once and replays that answer, so a
// benchmark measures the gateway's request path, not the emulator or a
// network.
type replayUpstream struct {
	emu    *emulator.Server
	once   sync.Once
	status int
	header http.Header
	body   []byte
}

func (u *replayUpstream) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	u.once.Do(func() {
		req := httptest.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
		for _, kv := range r.Header {
			req.Header.Set(kv[0], kv[1])
		}
		rec := httptest.NewRecorder()
		u.emu.ServeHTTP(rec, req)
		u.status, u.header, u.body = rec.Code, rec.Header(), rec.Body.Bytes()
	})
	return &worker.UpstreamResponse{Status: u.status, Header: u.header, Body: io.NopCloser(bytes.NewReader(u.body))}, nil
}

type discardResponder struct{ status int }

func (d *discardResponder) Respond(status int, _ [][2]string, _ []byte) { d.status = status }

func (d *discardResponder) Stream(status int, _ [][2]string, fn func(worker.StreamWriter)) {
	d.status = status
	fn(d)
}

func (d *discardResponder) Send([]byte) error { return nil }

// benchBody is a chat request of about 1 KB, the size the edge's latency
// targets are stated for.
func benchBody(model string, stream bool) []byte {
	s := `{"model":"` + model + `","max_tokens":64,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
		`,"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"`
	return []byte(s + strings.Repeat("lorem ipsum ", (1024-len(s))/12) + `"}]}`)
}

func benchGateway(b *testing.B, path, model string, stream bool) {
	keys, err := keyfile.New([]keyfile.Entry{{ID: "k", AccountID: "a", Secret: "secret"}})
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"OPENAI_BASE_URL": "http://emulator/v1", "ANTHROPIC_BASE_URL": "http://emulator", "GEMINI_BASE_URL": "http://emulator",
		"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "GEMINI_API_KEY": "x"}
	cfg, err := setup.Default().Config(func(k string) string { return env[k] }, keys, &replayUpstream{emu: emulator.New()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Formatting the per-request log line is part of the path; writing it is not.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := worker.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer secret")
	body := benchBody(model, stream)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var w discardResponder
		g.Serve(&worker.Request{Method: http.MethodPost, Path: path, Header: h, Body: body}, &w)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func BenchmarkGatewayPassthrough(b *testing.B) {
	benchGateway(b, "/v1/chat/completions", "openai/gpt-4o-mini", false)
}

func BenchmarkGatewayPassthroughStream(b *testing.B) {
	benchGateway(b, "/v1/chat/completions", "openai/gpt-4o-mini", true)
}

func BenchmarkGatewayTranslate(b *testing.B) {
	benchGateway(b, "/v1/chat/completions", "anthropic/claude-haiku-4-5", false)
}

func BenchmarkGatewayTranslateStream(b *testing.B) {
	benchGateway(b, "/v1/chat/completions", "anthropic/claude-haiku-4-5", true)
}
