package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// These tests run tenants' plugins the way the native edge does: uploaded
// to a real control service (which checks them with the real host),
// activated for a key, fetched by the edge and run in a real plugins/host.
// The modules are hand-assembled (internal/wasmtest): real WebAssembly
// answering a fixed decision, or failing on purpose.

// padAbove is where the failing test modules start to fail: well above the
// host's sample request at upload (under 2 KB), well below a request
// carrying padHeaders (over 8 KB).
const padAbove = 6000

// padHeaders are x-sy- headers that push a RouteRequest over padAbove.
func padHeaders() []string {
	var h []string
	for i := range 8 {
		h = append(h, fmt.Sprintf("X-Sy-Pad-%d", i), strings.Repeat("p", 1000))
	}
	return h
}

type pluginCase struct {
	name string
	// module is the plugin; query its upload metadata (fail, headers).
	module []byte
	query  string
	// keyModels restricts the key.
	keyModels []string
	path      string
	body      string
	header    []string
	rule      *emulator.Rule

	status     int
	code       string
	served     string
	respHeader map[string]string
	tags       map[string]string
}

func TestPluginDecisions(t *testing.T) {
	onBothAdapters(t, testPluginDecisions)
}

func testPluginDecisions(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Native: native, Control: true, Plugins: true})
	tn := env.Control.Signup(t, "plugins@example.com")
	tn.Grant(t, 100_000_000)
	decision := func(d string) []byte { return wasmtest.Decision(d) }
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	cases := []pluginCase{
		{name: "reject with the plugin's status and message",
			module: decision(`{"action":"reject","status":429,"message":"daily quota for this user is used up"}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 429, code: "plugin_rejected"},
		{name: "reject in Anthropic's format on /v1/messages",
			module: decision(`{"action":"reject","status":403,"message":"not from here"}`),
			path:   "/v1/messages", body: `{"model":"anthropic/claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			status: 403, code: "permission_error"},
		{name: "reject outside 4xx becomes 403",
			module: decision(`{"action":"reject","status":200,"message":"no"}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 403, code: "plugin_rejected"},
		{name: "model rewrite",
			module: decision(`{"action":"route","model":"anthropic/claude-haiku-4-5"}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "anthropic/claude-haiku-4-5"},
		{name: "rewrite of a name only the tenant knows",
			module: decision(`{"action":"route","model":"openai/gpt-4o-mini"}`),
			path:   "/v1/chat/completions", body: chat("house-model"),
			status: 200, served: "openai/gpt-4o-mini"},
		{name: "fallbacks replace the client's",
			module: decision(`{"action":"route","fallbacks":["compat/backup-model"]}`),
			path:   "/v1/chat/completions", body: `{"model":"openai/flaky-model","models":["openai/gpt-4o"],"messages":[{"role":"user","content":"hi"}]}`,
			rule:   &emulator.Rule{Model: "flaky-model", Status: 500},
			status: 200, served: "compat/backup-model"},
		{name: "providers filter and order the candidates",
			module: decision(`{"action":"route","providers":["compat"]}`),
			path:   "/v1/chat/completions", body: chat("fast"),
			status: 200, served: "compat/gpt-4o-mini"},
		{name: "headers are added but never replace the gateway's",
			module: decision(`{"action":"route","headers":{"x-sy-routed-by":"eu-only","X-Request-Id":"forged"}}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "openai/gpt-4o-mini", respHeader: map[string]string{"X-Sy-Routed-By": "eu-only"}},
		{name: "headers on a stream",
			module: decision(`{"action":"route","headers":{"x-sy-routed-by":"stream"}}`),
			path:   "/v1/chat/completions", body: `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			status: 200, served: "openai/gpt-4o-mini", respHeader: map[string]string{"X-Sy-Routed-By": "stream"}},
		{name: "headers on an upstream error",
			module: decision(`{"action":"route","headers":{"x-sy-routed-by":"eu-only"}}`),
			path:   "/v1/chat/completions", body: chat("openai/flaky-model"),
			rule:   &emulator.Rule{Model: "flaky-model", Status: 400},
			status: 400, respHeader: map[string]string{"X-Sy-Routed-By": "eu-only"}},
		{name: "tags go on the usage record",
			module: decision(`{"action":"route","tags":{"policy":"eu-only","tier":"free"}}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"policy": "eu-only", "tier": "free"}},
		{name: "unknown model fails open",
			module: decision(`{"action":"route","model":"openai/gpt-9","tags":{"lost":"yes"}}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"plugin_error": "invalid_decision"}},
		{name: "model the key may not use fails closed",
			module: decision(`{"action":"route","model":"anthropic/claude-haiku-4-5"}`), query: "fail=closed",
			keyModels: []string{"openai/gpt-4o-mini"},
			path:      "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 503, code: "plugin_failed", tags: map[string]string{"plugin_error": "invalid_decision"}},
		{name: "embedding model for a chat fails open",
			module: decision(`{"action":"route","fallbacks":["openai/text-embedding-3-small"]}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"plugin_error": "invalid_decision"}},
		{name: "no candidate left after providers fails open",
			module: decision(`{"action":"route","providers":["google"]}`),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"plugin_error": "invalid_decision"}},
		{name: "trap fails open",
			module: wasmtest.Module{Decision: `{"action":"reject"}`, Route: wasmtest.Trap, Above: padAbove}.Bytes(),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"), header: padHeaders(),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"plugin_error": "trap"}},
		{name: "trap fails closed",
			module: wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Trap, Above: padAbove}.Bytes(), query: "fail=closed",
			path: "/v1/chat/completions", body: chat("openai/gpt-4o-mini"), header: padHeaders(),
			status: 503, code: "plugin_failed", tags: map[string]string{"plugin_error": "trap"}},
		{name: "deadline fails open",
			module: wasmtest.Module{Decision: `{"action":"reject"}`, Route: wasmtest.Spin, Above: padAbove}.Bytes(),
			path:   "/v1/chat/completions", body: chat("openai/gpt-4o-mini"), header: padHeaders(),
			status: 200, served: "openai/gpt-4o-mini", tags: map[string]string{"plugin_error": "timeout"}},
		{name: "deadline fails closed on /v1/messages",
			module: wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Spin, Above: padAbove}.Bytes(), query: "fail=closed",
			path: "/v1/messages", body: `{"model":"anthropic/claude-haiku-4-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			header: padHeaders(),
			status: 503, code: "overloaded_error", tags: map[string]string{"plugin_error": "timeout"}},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			env.Emulator.ClearRules()
			if tt.rule != nil {
				env.Emulator.AddRule(*tt.rule)
			}
			key, secret := tn.CreateKey(t, control.KeyCreate{Name: fmt.Sprintf("case %d", i), AllowedModels: tt.keyModels})
			p := tn.UploadPlugin(t, "name=case-"+fmt.Sprint(i)+"&"+tt.query, tt.module)
			tn.ActivatePlugin(t, p.ID, key.ID)

			r := post(t, env, tt.path, secret, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" && !strings.Contains(r.body, `"`+tt.code+`"`) {
				t.Fatalf("body %s lacks %q", r.body, tt.code)
			}
			if tt.served != "" && r.header.Get("X-Switchyard-Model") != tt.served {
				t.Fatalf("served by %q, want %q", r.header.Get("X-Switchyard-Model"), tt.served)
			}
			if r.header.Get("X-Request-Id") == "forged" || len(r.header.Values("X-Request-Id")) != 1 {
				t.Fatalf("X-Request-Id = %q", r.header.Values("X-Request-Id"))
			}
			for k, v := range tt.respHeader {
				if got := r.header.Get(k); got != v {
					t.Fatalf("header %s = %q, want %q", k, got, v)
				}
			}
			rec := env.UsageFor(t, r.header.Get("X-Request-Id"))
			if !sameTags(rec.Tags, tt.tags) {
				t.Fatalf("usage tags %v, want %v", rec.Tags, tt.tags)
			}
			if tt.served != "" && rec.ServedModel != tt.served {
				t.Fatalf("usage served model %q, want %q", rec.ServedModel, tt.served)
			}
		})
	}

	t.Run("metrics count decisions and failures by kind, never by account", func(t *testing.T) {
		metrics := get(t, env, "/metrics")
		for _, want := range []string{
			`switchyard_plugin_decisions_total{action="reject"} 3`,
			`switchyard_plugin_failures_total{kind="trap",policy="open"} 1`,
			`switchyard_plugin_failures_total{kind="timeout",policy="closed"} 1`,
			`switchyard_plugin_failures_total{kind="invalid_decision",policy="open"} 3`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if strings.Contains(metrics, tn.Account.ID) {
			t.Error("metrics name the account")
		}
	})
}

func sameTags(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func get(t *testing.T, env *edgetest.Env, path string) string {
	t.Helper()
	resp, err := http.Get(env.BaseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPluginTagsReachControl follows a plugin's tags from the decision to
// the control service's per-request usage API.
func TestPluginTagsReachControl(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true, Plugins: true})
	tn := env.Control.Signup(t, "tags@example.com")
	tn.Grant(t, 100_000_000)
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "tagged"})
	p := tn.UploadPlugin(t, "name=tagger", wasmtest.Decision(`{"action":"route","tags":{"team":"search","tier":"free"}}`))
	tn.ActivatePlugin(t, p.ID, "")
	r := post(t, env, "/v1/chat/completions", secret, chatBody)
	if r.status != http.StatusOK {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	id := r.header.Get("X-Request-Id")
	var rec control.UsageRecord
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := tn.Do(t, http.MethodGet, "/api/v1/usage/"+id, nil, &rec)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage record %s never reached control (last status %d)", id, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sameTags(rec.Tags, map[string]string{"team": "search", "tier": "free"}) {
		t.Fatalf("stored tags %v", rec.Tags)
	}
}

// recorder keeps the RouteRequests the real runner is given.
type recorder struct {
	next worker.Plugins
	mu   sync.Mutex
	reqs []abi.RouteRequest
}

func (r *recorder) Route(ctx context.Context, hash, tenant string, req *abi.RouteRequest) (*abi.RouteDecision, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, *req)
	r.mu.Unlock()
	return r.next.Route(ctx, hash, tenant, req)
}

func (r *recorder) last() abi.RouteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

// TestPluginRouteRequest checks what a plugin sees: metadata only, the x-sy-
// headers and those the tenant listed but never credentials, the edge's
// location and the client's country, candidates with prices and health,
// and the catalog the key may use.
func TestPluginRouteRequest(t *testing.T) {
	onBothAdapters(t, testPluginRouteRequest)
}

func testPluginRouteRequest(t *testing.T, native bool) {
	rec := &recorder{}
	env := edgetest.Start(t, edgetest.Options{Native: native, Control: true, Plugins: true, Modify: func(c *worker.Config) {
		rec.next = c.Plugins
		c.Plugins = rec
		c.EdgeLocation = "FRA"
		c.TrustCountryHeader = true
	}})
	tn := env.Control.Signup(t, "seen@example.com")
	tn.Grant(t, 100_000_000)
	key, secret := tn.CreateKey(t, control.KeyCreate{Name: "k", AllowedModels: []string{"openai/gpt-4o-mini", "compat/gpt-4o-mini", "openai/flaky-model"}})
	p := tn.UploadPlugin(t, "name=seer&headers=X-Team,authorization-extra", wasmtest.Decision(`{"action":"route"}`))
	tn.ActivatePlugin(t, p.ID, "")

	// A failed attempt marks openai unhealthy for the next request.
	env.Emulator.AddRule(emulator.Rule{Model: "flaky-model", Status: 500})
	if r := post(t, env, "/v1/chat/completions", secret, `{"model":"openai/flaky-model","messages":[{"role":"user","content":"x"}]}`); r.status != 502 {
		t.Fatalf("flaky status %d %s", r.status, r.body)
	}
	body := `{"model":"fast","models":["openai/flaky-model"],"stream":true,"messages":[{"role":"user","content":"Say hello"}]}`
	r := post(t, env, "/v1/chat/completions", secret, body,
		"X-Sy-User", "user-42", "X-Team", "search", "X-Other", "hidden", "CF-IPCountry", "DE", "X-Api-Key", "sk-should-not-pass")
	if r.status != http.StatusOK {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	got := rec.last()
	if got.ABI != 1 || got.RequestID != r.header.Get("X-Request-Id") || got.Tenant != tn.Account.ID || got.KeyID != key.ID ||
		got.Endpoint != "chat.completions" || got.Model != "fast" || strings.Join(got.Models, ",") != "openai/flaky-model" ||
		!got.Stream || got.Edge != (abi.Edge{Location: "FRA", Country: "DE"}) || got.EstimatedInputTokens != len(body)/4 || got.Body != nil {
		t.Fatalf("request = %+v", got)
	}
	if len(got.Headers) != 2 || got.Headers["x-sy-user"] != "user-42" || got.Headers["x-team"] != "search" {
		t.Fatalf("headers = %v", got.Headers)
	}
	var cands []string
	for _, c := range got.Candidates {
		cands = append(cands, fmt.Sprintf("%s:%d:%v", c.Model, c.InputPrice, c.Healthy))
	}
	if want := "openai/gpt-4o-mini:150000:false,compat/gpt-4o-mini:100000:true,openai/flaky-model:1000000:false"; strings.Join(cands, ",") != want {
		t.Fatalf("candidates %s, want %s", strings.Join(cands, ","), want)
	}
	var catalog []string
	for _, c := range got.Catalog {
		catalog = append(catalog, c.Model)
	}
	if want := "compat/gpt-4o-mini,openai/flaky-model,openai/gpt-4o-mini"; strings.Join(catalog, ",") != want {
		t.Fatalf("catalog %s, want %s", strings.Join(catalog, ","), want)
	}
	if b, _ := json.Marshal(got); strings.Contains(string(b), "Say hello") || strings.Contains(string(b), "sk-") {
		t.Fatalf("the plugin saw content or a secret: %s", b)
	}
}

// TestPluginWithoutRunner covers an edge that runs no plugins serving a key
// whose account has one: the fail policy decides.
func TestPluginWithoutRunner(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true})
	tn := env.Control.Signup(t, "norunner@example.com")
	tn.Grant(t, 100_000_000)
	for _, tt := range []struct {
		fail   string
		status int
	}{{"open", 200}, {"closed", 503}} {
		t.Run(tt.fail, func(t *testing.T) {
			key, secret := tn.CreateKey(t, control.KeyCreate{Name: tt.fail})
			p := tn.UploadPlugin(t, "name=p&fail="+tt.fail, wasmtest.Decision(`{"action":"reject"}`))
			tn.ActivatePlugin(t, p.ID, key.ID)
			r := post(t, env, "/v1/chat/completions", secret, chatBody)
			rec := env.UsageFor(t, r.header.Get("X-Request-Id"))
			if r.status != tt.status || rec.Tags[worker.TagPluginError] != worker.PluginUnavailable {
				t.Fatalf("status %d, tags %v: %s", r.status, rec.Tags, r.body)
			}
		})
	}
}

// TestGoExamplePlugin runs the eu-only example, a Go (wasip1) plugin of
// about 2 MB, from upload to decision: the client's country reaches it from
// CF-IPCountry (on an edge told to trust the header), and with no EU-hosted
// provider at this edge it refuses EU clients and lets others through.
func TestGoExamplePlugin(t *testing.T) {
	module := plugintest.Build(t, "../plugins/examples/eu-only")
	env := edgetest.Start(t, edgetest.Options{Native: true, Control: true, Plugins: true,
		Modify: func(c *worker.Config) { c.TrustCountryHeader = true }})
	tn := env.Control.Signup(t, "eu@example.com")
	tn.Grant(t, 100_000_000)
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "eu"})
	p := tn.UploadPlugin(t, "name=eu-only&fail=closed", module)
	tn.ActivatePlugin(t, p.ID, "")
	for _, tt := range []struct {
		country string
		status  int
	}{{"DE", http.StatusForbidden}, {"US", http.StatusOK}, {"", http.StatusOK}} {
		r := post(t, env, "/v1/chat/completions", secret, chatBody, "CF-IPCountry", tt.country)
		if r.status != tt.status {
			t.Fatalf("country %q: status %d, want %d: %s", tt.country, r.status, tt.status, r.body)
		}
		if tt.status == http.StatusForbidden && !strings.Contains(r.body, "plugin_rejected") {
			t.Fatalf("country %q: %s", tt.country, r.body)
		}
	}
}

// stubPlugins answers a fixed decision and keeps the requests it is given.
type stubPlugins struct {
	mu   sync.Mutex
	reqs []*abi.RouteRequest
}

func (p *stubPlugins) Route(_ context.Context, _, _ string, req *abi.RouteRequest) (*abi.RouteDecision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := *req
	r.Body = append(abi.RawJSON(nil), req.Body...)
	p.reqs = append(p.reqs, &r)
	return &abi.RouteDecision{Action: abi.ActionRoute}, nil
}

func (p *stubPlugins) last(t *testing.T) *abi.RouteRequest {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		t.Fatal("the plugin was not called")
	}
	return p.reqs[len(p.reqs)-1]
}

type oneKey struct{ key worker.Key }

func (k *oneKey) Resolve(context.Context, string) (*worker.Key, error) {
	key := k.key
	return &key, nil
}

type recordResponder struct{ status int }

func (r *recordResponder) Respond(status int, _ [][2]string, _ []byte) { r.status = status }

func (r *recordResponder) Stream(status int, _ [][2]string, fn func(worker.StreamWriter)) {
	r.status = status
	fn(r)
}

func (r *recordResponder) Send([]byte) error { return nil }

// pluginGateway is a gateway whose one key runs a stub plugin, serving
// requests straight through Gateway.Serve, as a platform adapter does.
func pluginGateway(t *testing.T, key worker.Key, modify func(*worker.Config)) (*worker.Gateway, *stubPlugins) {
	t.Helper()
	key.ID, key.AccountID, key.PluginHash = "key_1", "acct_1", strings.Repeat("ab", 32)
	env := map[string]string{"OPENAI_BASE_URL": "http://emulator/v1", "ANTHROPIC_BASE_URL": "http://emulator", "GEMINI_BASE_URL": "http://emulator",
		"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "GEMINI_API_KEY": "x"}
	cfg, err := setup.Default().Config(func(k string) string { return env[k] }, &oneKey{key}, &replayUpstream{emu: emulator.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stub := &stubPlugins{}
	cfg.Plugins = stub
	cfg.Logger = slog.New(slog.DiscardHandler)
	if modify != nil {
		modify(&cfg)
	}
	g, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, stub
}

func serveChat(t *testing.T, g *worker.Gateway, req *worker.Request) {
	t.Helper()
	req.Method, req.Path = http.MethodPost, "/v1/chat/completions"
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.(http.Header).Set("Authorization", "Bearer secret")
	if req.Body == nil {
		req.Body = []byte(chatBody)
	}
	var w recordResponder
	g.Serve(req, &w)
	if w.status != http.StatusOK {
		t.Fatalf("status %d", w.status)
	}
}

// TestPluginCountry checks where edge.country comes from: the adapter's
// Request.Country first, CF-IPCountry only on an edge told to trust it,
// since any client can send that header to a native edge.
func TestPluginCountry(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trust   bool
		header  string
		country string
		want    string
	}{
		{name: "header ignored by default", header: "DE", want: ""},
		{name: "header trusted when configured", trust: true, header: "DE", want: "DE"},
		{name: "adapter's country wins over the header", trust: true, header: "DE", country: "US", want: "US"},
		{name: "adapter's country needs no trust", header: "DE", country: "FR", want: "FR"},
		{name: "unknown is no country", trust: true, header: "XX", want: ""},
		{name: "Tor is no country", country: "T1", want: ""},
		{name: "lower case is not a code", trust: true, header: "de", want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, stub := pluginGateway(t, worker.Key{}, func(c *worker.Config) { c.TrustCountryHeader = tt.trust })
			h := http.Header{}
			h.Set("CF-IPCountry", tt.header)
			serveChat(t, g, &worker.Request{Header: h, Country: tt.country})
			if got := stub.last(t).Edge.Country; got != tt.want {
				t.Fatalf("country %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPluginBody checks RouteRequest.body: the client's body as sent, only
// for a plugin that asked, and null when the RouteRequest would then be
// over ABI.md's 1 MiB, counting what JSON encoding adds.
func TestPluginBody(t *testing.T) {
	chatWith := func(content string) string {
		return `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + content + `"}]}`
	}
	for _, tt := range []struct {
		name     string
		wants    bool
		body     string
		wantBody bool
	}{
		{name: "not asked for", body: chatBody},
		{name: "asked for", wants: true, body: chatBody, wantBody: true},
		{name: "gateway fields kept", wants: true, body: `{"model":"openai/gpt-4o-mini","models":["openai/gpt-4o"],"provider":{"order":["openai"]},"messages":[{"role":"user","content":"hi"}]}`, wantBody: true},
		{name: "well under the limit", wants: true, body: chatWith(strings.Repeat("a", 900_000)), wantBody: true},
		{name: "over the limit with the rest of the request", wants: true, body: chatWith(strings.Repeat("a", abi.MaxRequestBytes-100))},
		{name: "over the limit once escaped", wants: true, body: chatWith(strings.Repeat("<", 200_000))},
		{name: "larger than the limit", wants: true, body: chatWith(strings.Repeat("a", abi.MaxRequestBytes+1))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, stub := pluginGateway(t, worker.Key{PluginBody: tt.wants}, nil)
			serveChat(t, g, &worker.Request{Body: []byte(tt.body)})
			got := stub.last(t)
			if tt.wantBody != (got.Body != nil) || (tt.wantBody && string(got.Body) != tt.body) {
				t.Fatalf("body of %d bytes, want it (%v) as sent", len(got.Body), tt.wantBody)
			}
			b, err := json.Marshal(got)
			if err != nil || len(b) > abi.MaxRequestBytes {
				t.Fatalf("the RouteRequest is %d bytes (%v), over the limit", len(b), err)
			}
		})
	}
}

// TestPluginBodyCanary runs a plugin that logs what it reads of the body,
// keeps it to log again later, and copies a piece of it into a tag and a
// header: its log lines must not reach the edge's log, from the first
// call with a body on, even on a later call without one. Tags and headers
// are the tenant's choice and do carry the piece, which shows the plugin
// did read the body.
func TestPluginBodyCanary(t *testing.T) {
	const canary = "CANARY-5d1c0a77-body-not-logged"
	module := plugintest.Build(t, "testdata/bodyleak")
	env := edgetest.Start(t, edgetest.Options{Native: true, Control: true, Plugins: true})
	a := env.Control.Signup(t, "body-a@example.com")
	a.Grant(t, 100_000_000)
	b := env.Control.Signup(t, "body-b@example.com")
	b.Grant(t, 100_000_000)
	keyBody, secretBody := a.CreateKey(t, control.KeyCreate{Name: "body"})
	keyMeta, secretMeta := a.CreateKey(t, control.KeyCreate{Name: "metadata"})
	withBody := a.UploadPlugin(t, "name=leak&wants_body=true", module)
	if !withBody.WantsBody {
		t.Fatalf("uploaded with wants_body=true: %+v", withBody)
	}
	a.ActivatePlugin(t, withBody.ID, keyBody.ID)
	a.ActivatePlugin(t, a.UploadPlugin(t, "name=leak", module).ID, keyMeta.ID)
	_, secretOther := b.CreateKey(t, control.KeyCreate{Name: "other"})
	b.ActivatePlugin(t, b.UploadPlugin(t, "name=leak", module).ID, "")
	const noBody = "no body; the last one was"
	send := func(secret, body string) result {
		t.Helper()
		r := post(t, env, "/v1/chat/completions", secret, body)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return r
	}

	// Without a body, the plugin's lines reach the edge's log: the
	// absence of the canary later is not for want of logging.
	send(secretOther, chatBody)
	send(secretMeta, chatBody)
	if n := strings.Count(env.Logs(), noBody); n != 2 {
		t.Fatalf("%d plugin log lines before any body, want 2:\n%s", n, env.Logs())
	}
	r := send(secretBody, `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"`+canary+`"}]}`)
	if r.header.Get("X-Sy-Said") != canary {
		t.Fatalf("the plugin did not read the body: x-sy-said %q", r.header.Get("X-Sy-Said"))
	}
	if rec := env.UsageFor(t, r.header.Get("X-Request-Id")); rec.Tags["said"] != canary {
		t.Fatalf("usage tags %v", rec.Tags)
	}
	// The same module for the same tenant, without a body: its instances
	// may remember the last one, so its lines stay out too.
	for range 3 {
		send(secretMeta, chatBody)
	}
	send(secretOther, chatBody)
	logs := env.Logs()
	if strings.Contains(logs, canary) {
		t.Fatalf("the canary reached the edge's log:\n%s", logs)
	}
	if n := strings.Count(logs, noBody); n != 3 {
		t.Fatalf("%d plugin log lines, want 3 (the other tenant's and those before the body):\n%s", n, logs)
	}
}
