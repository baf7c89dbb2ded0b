//go:build js && wasm

package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgejs"
	"github.com/switchyard-ai/switchyard/worker/pluginrun"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

func main() {
	js.Global().Set("__switchyardStart", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 2 {
			return map[string]any{"error": "__switchyardStart(env, host) needs two arguments"}
		}
		api, err := start(args[0], args[1])
		if err != nil {
			return map[string]any{"error": err.Error()}
		}
		return api
	}))
	select {}
}

// start builds the gateway from the Worker's env. hostFns.io runs the
// shim's I/O operations for work that belongs to no request.
func start(env, hostFns js.Value) (js.Value, error) {
	getenv := func(k string) string {
		if v := env.Get(k); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv("SWITCHYARD_LOG_LEVEL"))); err != nil && getenv("SWITCHYARD_LOG_LEVEL") != "" {
		return js.Value{}, errors.New("SWITCHYARD_LOG_LEVEL must be debug, info, warn or error")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	memMB := 96
	if s := getenv("SWITCHYARD_MEMORY_LIMIT_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 16 {
			return js.Value{}, errors.New("SWITCHYARD_MEMORY_LIMIT_MB must be a whole number of megabytes, at least 16")
		}
		memMB = n
	}
	debug.SetMemoryLimit(int64(memMB) << 20)

	file := setup.Default()
	if s := getenv("SWITCHYARD_CONFIG_JSON"); s != "" {
		f, err := setup.Parse([]byte(s))
		if err != nil {
			return js.Value{}, errors.New("SWITCHYARD_CONFIG_JSON: " + err.Error())
		}
		file = f
	}
	controlURL, token := getenv("CONTROL_URL"), getenv("EDGE_TOKEN")
	if controlURL == "" || token == "" {
		return js.Value{}, errors.New("CONTROL_URL (a var) and EDGE_TOKEN (a secret) are required")
	}

	bg := &edgejs.Background{}
	direct := hostFns.Get("io")
	up := edgejs.NewFetch(direct)
	conn := controlclient.NewConn(controlURL, token, up)
	ropt := controlclient.ResolverOptions{}
	if kv := env.Get("SWITCHYARD_KV"); kv.Truthy() {
		ropt.Store = edgejs.NewKVStore(kv, direct, bg, controlclient.DefaultTTL+controlclient.DefaultStaleFor)
	}
	sink := edgejs.NewUsageSink("workers", bg)
	cfg, err := file.Config(getenv, controlclient.NewResolver(conn, ropt), up, sink)
	if err != nil {
		return js.Value{}, err
	}
	cfg.Logger = logger
	cfg.TopUpURL = getenv("SWITCHYARD_TOP_UP_URL")
	cfg.EdgeLocation = getenv("SWITCHYARD_EDGE_LOCATION")
	cfg.TrustCountryHeader = true // Cloudflare sets CF-IPCountry itself
	if s := getenv("SWITCHYARD_AUTH_FAILURES_PER_MINUTE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return js.Value{}, errors.New("SWITCHYARD_AUTH_FAILURES_PER_MINUTE must be a whole number")
		}
		cfg.AuthFailuresPerMinute = n
	}
	if getenv("SWITCHYARD_PLUGINS") != "off" {
		h, err := host.New(context.Background(), host.Config{
			Interpreter:    true,
			MaxModuleBytes: abi.WorkersMaxModuleBytes,
			MaxMemoryPages: abi.WorkersMaxMemoryPages,
			PoolSize:       2,
			// A plugin that was given request bodies is silenced.
			Logger: slog.New(pluginrun.LogHandler(logger.Handler())),
		})
		if err != nil {
			return js.Value{}, err
		}
		var fetch pluginrun.Fetcher = conn
		if kv := env.Get("SWITCHYARD_KV"); kv.Truthy() {
			fetch = edgejs.NewKVPlugins(kv, direct, bg, conn, 30*24*time.Hour, abi.WorkersMaxModuleBytes)
		}
		cfg.Plugins = pluginrun.New(h, fetch, pluginrun.Options{MaxLoaded: 4, Logger: logger})
	}
	g, err := worker.New(cfg)
	if err != nil {
		return js.Value{}, err
	}
	cat := &catalogSync{sync: controlclient.NewCatalogSync(conn, g, logger)}
	edge := edgejs.NewEdge(g, bg, logger, cat.check)
	api := js.Global().Get("Object").New()
	api.Set("serve", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return edge.Serve(args[0], args[1])
	}))
	api.Set("maxBodyBytes", edge.MaxBodyBytes())
	// tick lets the shim run Go's scheduler from a request's own context:
	// goroutines and timers that became ready run before it returns.
	api.Set("tick", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	return api, nil
}

// catalogEvery is how often an instance looks for a new catalog version.
const catalogEvery = 60 * time.Second

// catalogSync keeps the gateway's catalog equal to the control service's.
// A Worker has no background timers that outlive requests, so requests
// start the check.
type catalogSync struct {
	sync *controlclient.CatalogSync

	mu      sync.Mutex
	last    time.Time
	running bool
}

func (c *catalogSync) check(ctx context.Context) (wait func()) {
	c.mu.Lock()
	due := !c.running && time.Since(c.last) >= catalogEvery
	first := !c.sync.Loaded()
	if due {
		c.running, c.last = true, time.Now()
	}
	c.mu.Unlock()
	if !due {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.refresh(ctx)
	}()
	if first {
		<-done
	}
	return func() { <-done }
}

func (c *catalogSync) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c.sync.Refresh(ctx)
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}
