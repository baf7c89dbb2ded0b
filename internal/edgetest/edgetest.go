// Package edgetest starts a real listening edge gateway in front of the
// provider emulator for tests. The emulator is the project's one stand-in
// for OpenAI, Anthropic and Gemini, whose servers cannot be reached here.
package edgetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgefast"
	"github.com/switchyard-ai/switchyard/worker/edgehttp"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/pluginrun"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// Key is the API key every Env accepts.
const Key = "sk-sy-test-0123456789abcdef"

// RestrictedKey may only use openai/gpt-4o-mini.
const RestrictedKey = "sk-sy-test-restricted"

// Keys with limits and states, for the refusal paths.
const (
	LimitedKey      = "sk-sy-test-two-per-minute"
	TokenLimitedKey = "sk-sy-test-ten-tokens-per-minute"
	RevokedKey      = "sk-sy-test-revoked"
	ExpiredKey      = "sk-sy-test-expired"
)

var expired = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Env is a running edge and emulator.
type Env struct {
	// BaseURL is the edge's root, without /v1.
	BaseURL  string
	Emulator *emulator.Server
	// EmulatorURL is the emulator's root.
	EmulatorURL string
	Gateway     *worker.Gateway

	// Control is the control service behind the edge when
	// Options.Control is set, nil otherwise; so are the three below.
	Control *Control
	// Resolver is the edge's cached key resolver; its clock is KeyClock.
	Resolver *controlclient.Resolver
	// KeyClock is the Resolver's clock: advance it past the TTL to make
	// the edge look keys up again. Everything else runs on the wall clock.
	KeyClock *controltest.Clock
	// Sink ships the edge's usage records to Control.
	Sink *controlclient.Sink
	// Plugins runs the tenants' plugins when Options.Plugins is set.
	Plugins *pluginrun.Runner

	mu    sync.Mutex
	usage []worker.UsageRecord
	logs  syncbuf.Buffer
}

// Options adjust the gateway under test.
type Options struct {
	// Modify changes the configuration before the gateway is built.
	Modify func(*worker.Config)
	// Native serves the gateway with the native edge's fasthttp adapter
	// (edgefast server and upstream client) instead of net/http's.
	Native bool
	// Control backs the edge with a real control service (StartControl)
	// in place of the built-in key file: keys are created through
	// Env.Control and resolved through a controlclient.Resolver, and usage
	// goes to the service through a controlclient.Sink as well as to Usage.
	// Modify runs after this wiring.
	Control bool
	// ControlOptions adjust that control service (StartControlWith).
	ControlOptions ControlOptions
	// Plugins, with Control, runs tenants' routing plugins as the edges
	// do: a real plugins/host (controltest.PluginHost) behind a
	// pluginrun.Runner that fetches modules from Control. Modify runs after
	// this wiring, so it can wrap Config.Plugins.
	Plugins bool
}

// Start runs an emulator and an edge on loopback ports; both stop when the
// test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	env := &Env{Emulator: emulator.New()}
	emu := httptest.NewServer(env.Emulator)
	t.Cleanup(emu.Close)
	env.EmulatorURL = emu.URL
	file, overrides := File(emu.URL)
	keys, err := keyfile.New([]keyfile.Entry{
		{ID: "key_test", AccountID: "acct_test", Secret: Key},
		{ID: "key_restricted", AccountID: "acct_test", Secret: RestrictedKey, AllowedModels: []string{"openai/gpt-4o-mini"}},
		{ID: "key_limited", AccountID: "acct_test", Secret: LimitedKey, RequestsPerMinute: 2},
		{ID: "key_token_limited", AccountID: "acct_test", Secret: TokenLimitedKey, TokensPerMinute: 10},
		{ID: "key_revoked", AccountID: "acct_test", Secret: RevokedKey, Revoked: true},
		{ID: "key_expired", AccountID: "acct_test", Secret: ExpiredKey, ExpiresAt: &expired},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := worker.UsageSinkFunc(func(r *worker.UsageRecord) {
		env.mu.Lock()
		env.usage = append(env.usage, *r)
		env.mu.Unlock()
	})
	var upstream worker.Upstream = edgehttp.NewClient()
	if opts.Native {
		upstream = edgefast.NewClient()
	}
	cfg, err := file.Config(func(k string) string { return overrides[k] }, keys, upstream, sink)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(&env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.RequestTimeout = 20 * time.Second
	if opts.Control {
		env.startControlled(t, &cfg, upstream, opts.ControlOptions)
	}
	if opts.Control && opts.Plugins {
		env.startPlugins(t, &cfg, upstream)
	}
	if opts.Modify != nil {
		opts.Modify(&cfg)
	}
	g, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.Gateway = g
	if opts.Native {
		env.BaseURL = ServeNative(t, g)
		return env
	}
	srv := httptest.NewServer(edgehttp.Handler(g))
	t.Cleanup(srv.Close)
	env.BaseURL = srv.URL
	return env
}

// File is the edge configuration every Env serves, for an emulator at
// emuURL, with the environment it reads (provider base URLs and keys):
// the built-in providers and catalog, plus a second OpenAI-compatible host
// ("compat") and models that exercise fallbacks across providers. A Workers
// edge under test is given the same.
func File(emuURL string) (*setup.File, map[string]string) {
	env := map[string]string{
		"OPENAI_BASE_URL":    emuURL + "/v1",
		"ANTHROPIC_BASE_URL": emuURL,
		"GEMINI_BASE_URL":    emuURL,
		"OPENAI_API_KEY":     "emulator-openai-secret",
		"ANTHROPIC_API_KEY":  "emulator-anthropic-secret",
		"GEMINI_API_KEY":     "emulator-gemini-secret",
	}
	file := setup.Default()
	file.Providers = append(file.Providers, setup.ProviderConfig{Name: "compat", Type: "openai", BaseURL: emuURL + "/v1", APIKeyEnv: "OPENAI_API_KEY"})
	file.Models = append(file.Models,
		worker.Model{ID: "compat/gpt-4o-mini", InputPrice: 100000, OutputPrice: 400000},
		worker.Model{ID: "openai/flaky-model", InputPrice: 1000000, OutputPrice: 1000000},
		worker.Model{ID: "compat/backup-model", InputPrice: 1000000, OutputPrice: 1000000},
	)
	file.Aliases = map[string][]string{"fast": {"openai/gpt-4o-mini", "compat/gpt-4o-mini"}}
	return file, env
}

// ServeNative serves g with edgefast on a loopback port until the test
// ends and returns its root URL.
func ServeNative(t testing.TB, g *worker.Gateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := edgefast.NewServer(g)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		// A stream still running after 5s is a leak the test should report.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.ShutdownWithContext(ctx); err != nil {
			t.Errorf("edge shutdown: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// Usage returns the usage records so far.
func (e *Env) Usage() []worker.UsageRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]worker.UsageRecord(nil), e.usage...)
}

// UsageFor returns the record with the given request id, waiting briefly
// because a stream's record is written after its last byte.
func (e *Env) UsageFor(t testing.TB, requestID string) worker.UsageRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range e.Usage() {
			if r.RequestID == requestID {
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no usage record for request %s", requestID)
	return worker.UsageRecord{}
}

// Logs returns everything the gateway logged.
func (e *Env) Logs() string { return e.logs.String() }

// Chat sends one small chat completion with key and returns the status, the
// request id the edge answered with, and the body.
func (e *Env) Chat(t testing.TB, key string) (status int, requestID string, body []byte) {
	t.Helper()
	return PostChat(t, e.BaseURL, key, "openai/gpt-4o-mini")
}

// PostChat sends one small chat completion for model with key to the edge
// at baseURL (native or Workers) and returns the status, the request id
// the edge answered with, and the body.
func PostChat(t testing.TB, baseURL, key, model string) (status int, requestID string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Request-Id"), b
}
