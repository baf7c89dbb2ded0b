package edgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/pluginhost"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/pluginrun"
)

// EdgeToken is the bearer token a Control accepts from edges.
const EdgeToken = "edge-token-for-tests"

// MetricsToken is the bearer token a Control's /metrics asks for.
const MetricsToken = "metrics-token-for-tests"

// Control is a real control service (control.Service over a libSQL file in
// the test's temporary directory) served over loopback HTTP. It counts the
// edge API calls it answers, and it can be stopped and restarted on the
// same address to stage an outage. It runs on the wall clock, because the
// usage records it ingests carry the edge's real start times.
type Control struct {
	// URL is the service's root.
	URL string
	// Service is the service itself, for what the HTTP API does not offer
	// (GrantCredits).
	Service *control.Service
	// DBPath is the database file; controltest.Audit checks its books.
	DBPath string

	handler    http.Handler
	addr       string
	logs       syncbuf.Buffer
	keyLookups atomic.Int64
	usagePosts atomic.Int64
	// refuseUsage, when not 0, is the status usage posts are answered
	// with instead of being ingested.
	refuseUsage atomic.Int64

	mu  sync.Mutex
	srv *httptest.Server // nil while stopped
}

// ControlOptions adjust the control service StartControlWith starts. The
// zero value gives StartControl's service.
type ControlOptions struct {
	// Service changes the service's configuration before it starts. It is
	// given the Control, whose URL is already known (for links back to the
	// service), and its store (for an outbox). Default nil: a system
	// clock, fast passwords, controltest.Catalog and a real plugin
	// validator, as controltest.NewService.
	Service func(c *Control, st control.Store, cfg *control.Config)
	// API changes the HTTP API's configuration, given the started service,
	// for handlers built on it (a dashboard). Default nil: edge tokens
	// {EdgeToken} and a logger into Logs.
	API func(svc *control.Service, cfg *httpapi.Config)
}

// StartControl starts a control service; it stops when the test ends.
func StartControl(t testing.TB) *Control { return StartControlWith(t, ControlOptions{}) }

// StartControlWith starts a control service adjusted by opts; it stops
// when the test ends.
func StartControlWith(t testing.TB, opts ControlOptions) *Control {
	t.Helper()
	// Listening first gives the configuration hooks the service's URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() }) // for a start that fails; serving closes it too
	c := &Control{DBPath: controltest.DBPath(t), addr: ln.Addr().String()}
	c.URL = "http://" + c.addr
	st := controltest.OpenStore(t, c.DBPath)
	if opts.Service == nil {
		c.Service = controltest.NewService(t, st, control.SystemClock)
	} else {
		cfg := control.Config{Clock: control.SystemClock, Password: controltest.FastPasswords,
			Catalog: controltest.Catalog(), Plugins: pluginhost.NewValidator(controltest.PluginHost(t)),
			Keyring: controltest.Keyring(t)}
		opts.Service(c, st, &cfg)
		c.Service = control.NewService(st, cfg)
		if err := c.Service.Start(context.Background()); err != nil {
			t.Fatalf("start service: %v", err)
		}
		t.Cleanup(func() { c.Service.Close() })
	}
	cfg := httpapi.Config{
		EdgeTokens:   []string{EdgeToken},
		MetricsToken: MetricsToken,
		Logger:       slog.New(slog.NewTextHandler(&c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if opts.API != nil {
		opts.API(c.Service, &cfg)
	}
	api := httpapi.New(c.Service, cfg)
	c.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/edge/v1/keys/"):
			c.keyLookups.Add(1)
		case r.URL.Path == "/edge/v1/usage":
			c.usagePosts.Add(1)
			if status := int(c.refuseUsage.Load()); status != 0 {
				http.Error(w, `{"error":{"code":"refused_by_test","message":"usage refused by the test"}}`, status)
				return
			}
		}
		api.ServeHTTP(w, r)
	})
	c.serve(ln)
	t.Cleanup(c.Stop)
	return c
}

func (c *Control) serve(ln net.Listener) {
	srv := httptest.NewUnstartedServer(c.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
}

// Stop closes the listener and every connection, so edges get "connection
// refused" until Restart. Stopping a stopped service does nothing.
func (c *Control) Stop() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Restart serves the same service and database again on the same address.
func (c *Control) Restart(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	running := c.srv != nil
	c.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		t.Fatalf("control restart: %v", err)
	}
	c.serve(ln)
}

// RefuseUsage makes usage posts fail with status (as a control service
// whose edge tokens were rotated would answer 401), or, with 0, be
// ingested again.
func (c *Control) RefuseUsage(status int) { c.refuseUsage.Store(int64(status)) }

// KeyLookups counts GET /edge/v1/keys/{hash} requests answered so far.
func (c *Control) KeyLookups() int64 { return c.keyLookups.Load() }

// UsagePosts counts POST /edge/v1/usage requests answered so far.
func (c *Control) UsagePosts() int64 { return c.usagePosts.Load() }

// Logs returns what the control service logged.
func (c *Control) Logs() string { return c.logs.String() }

// Conn returns an edge connection to the service over up.
func (c *Control) Conn(up worker.Upstream) *controlclient.Conn {
	return controlclient.NewConn(c.URL, EdgeToken, up)
}

// Tenant is a customer signed up through the JSON API, holding the
// session cookie a browser would.
type Tenant struct {
	Account control.Account
	c       *Control
	http    *http.Client
}

// Signup creates an account through POST /api/v1/signup. The account has
// no credit until it is granted some.
func (c *Control) Signup(t testing.TB, email string) *Tenant {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := &Tenant{c: c, http: &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &httpapi.CSRFTransport{}}}
	tn.Must(t, http.StatusCreated, http.MethodPost, "/api/v1/signup", map[string]string{
		"name": "Ada Lovelace", "email": email, "company": "Analytical Engines", "billing_address": "12 St James's Square",
		"password": "correct horse battery staple",
	}, &tn.Account)
	return tn
}

// Grant adds credit to the tenant's account.
func (tn *Tenant) Grant(t testing.TB, micros int64) {
	t.Helper()
	if _, err := tn.c.Service.GrantCredits(context.Background(), tn.Account.ID, micros, "test credit", ""); err != nil {
		t.Fatal(err)
	}
}

// CreateKey creates an API key through POST /api/v1/keys and returns it
// with its secret.
func (tn *Tenant) CreateKey(t testing.TB, in control.KeyCreate) (control.APIKey, string) {
	t.Helper()
	var out struct {
		Key    control.APIKey `json:"key"`
		Secret string         `json:"secret"`
	}
	tn.Must(t, http.StatusCreated, http.MethodPost, "/api/v1/keys", in, &out)
	return out.Key, out.Secret
}

// Balance reads the account's balance through GET /api/v1/account.
func (tn *Tenant) Balance(t testing.TB) int64 {
	t.Helper()
	var a control.Account
	tn.Must(t, http.StatusOK, http.MethodGet, "/api/v1/account", nil, &a)
	return a.BalanceMicros
}

// Do calls the JSON API as the tenant: body, unless nil, is sent as JSON,
// and a 2xx answer is decoded into out unless it is nil. It returns the
// status and the raw answer.
func (tn *Tenant) Do(t testing.TB, method, path string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, tn.c.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tn.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, b
}

// Must is Do that fails the test unless the answer has status want.
func (tn *Tenant) Must(t testing.TB, want int, method, path string, body, out any) []byte {
	t.Helper()
	status, b := tn.Do(t, method, path, body, out)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	return b
}

// UploadPlugin uploads module through POST /api/v1/plugins with query
// (name, fail, headers) and returns the new version.
func (tn *Tenant) UploadPlugin(t testing.TB, query string, module []byte) control.Plugin {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tn.c.URL+"/api/v1/plugins?"+query, bytes.NewReader(module))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/wasm")
	resp, err := tn.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out control.PluginUploaded
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil {
		t.Fatalf("plugin upload: status %d: %s", resp.StatusCode, b)
	}
	return *out.Plugin
}

// ActivatePlugin runs the plugin version id for the whole account, or for
// one key when keyID is set.
func (tn *Tenant) ActivatePlugin(t testing.TB, id, keyID string) {
	t.Helper()
	path := "/api/v1/plugins/" + id + "/activate"
	if keyID != "" {
		path += "?key=" + keyID
	}
	tn.Must(t, http.StatusOK, http.MethodPost, path, nil, nil)
}

// startPlugins runs tenants' plugins at the edge in cfg from Control. The
// host is controltest.PluginHost's, except that plugin log lines go to the
// edge's log through pluginrun.LogHandler, as on a real edge, so tests can
// tell what reaches it.
func (env *Env) startPlugins(t testing.TB, cfg *worker.Config, up worker.Upstream) {
	h, err := host.New(context.Background(), host.Config{Interpreter: true, CallTimeout: controltest.PluginCallTimeout,
		Logger: slog.New(pluginrun.LogHandler(cfg.Logger.Handler()))})
	if err != nil {
		t.Fatalf("plugin host: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	env.Plugins = pluginrun.New(h, env.Control.Conn(up), pluginrun.Options{Logger: cfg.Logger})
	t.Cleanup(func() { env.Plugins.Close(context.Background()) })
	cfg.Plugins = env.Plugins
}

// startControlled points cfg at a new control service: keys through a
// cached Resolver on a clock tests move by hand, usage through a Sink that
// flushes every 20ms, beside the env's own record of usage.
func (env *Env) startControlled(t testing.TB, cfg *worker.Config, up worker.Upstream, opts ControlOptions) {
	env.Control = StartControlWith(t, opts)
	conn := env.Control.Conn(up)
	env.KeyClock = controltest.NewClock(time.Now())
	env.Resolver = controlclient.NewResolver(conn, controlclient.ResolverOptions{Now: env.KeyClock.Now})
	env.Sink = controlclient.NewSink(conn, controlclient.SinkOptions{
		EdgeID:        "edgetest",
		FlushInterval: 20 * time.Millisecond,
		MaxBackoff:    200 * time.Millisecond,
		SpillPath:     t.TempDir() + "/usage.spill",
		Logger:        cfg.Logger,
	})
	if err := env.Sink.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after StartControl, so it runs before the control service
	// stops; a test that left control down gets its records spilled.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = env.Sink.Close(ctx)
	})
	local := cfg.Usage
	cfg.Keys = env.Resolver
	cfg.Usage = worker.UsageSinkFunc(func(r *worker.UsageRecord) {
		local.Record(r)
		env.Sink.Record(r)
	})
}
