package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgefast"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/pluginrun"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// edgeFlags are the settings shared by edge and dev.
type edgeFlags struct {
	listen     string
	config     string
	keys       string
	usageLog   string
	controlURL string
	edgeToken  string
	spill      string
	topUpURL   string
	location   string
	pluginDir  string
	// trustCountry lets CF-IPCountry tell plugins the client's country.
	trustCountry bool
	authFailures int
	// tls, when set (edge's -tls-cert), serves TLS; dev serves loopback
	// plain HTTP.
	tls *tls.Config
}

func (f *edgeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", envOr("SWITCHYARD_LISTEN", "127.0.0.1:8080"), "address to serve on (env SWITCHYARD_LISTEN)")
	fs.StringVar(&f.config, "config", os.Getenv("SWITCHYARD_CONFIG"), "edge configuration file; empty uses the built-in providers and catalog (env SWITCHYARD_CONFIG)")
	fs.StringVar(&f.keys, "keys", os.Getenv("SWITCHYARD_KEYS"), "API key file (JSON), for an edge without a control service (env SWITCHYARD_KEYS)")
	fs.StringVar(&f.usageLog, "usage-log", os.Getenv("SWITCHYARD_USAGE_LOG"), "with -keys: append usage records (metadata only) as JSON lines to this file; empty discards them (env SWITCHYARD_USAGE_LOG)")
	fs.StringVar(&f.controlURL, "control-url", os.Getenv("SWITCHYARD_CONTROL_URL"), "control service root; keys, catalog and usage then go through it (env SWITCHYARD_CONTROL_URL)")
	fs.StringVar(&f.edgeToken, "edge-token", os.Getenv("SWITCHYARD_EDGE_TOKEN"), "bearer token for the control service's edge API (env SWITCHYARD_EDGE_TOKEN)")
	fs.StringVar(&f.spill, "usage-spill", envOr("SWITCHYARD_USAGE_SPILL", "data/usage-spill.jsonl"), "file holding usage records the control service has not acknowledged yet (env SWITCHYARD_USAGE_SPILL)")
	fs.StringVar(&f.topUpURL, "top-up-url", os.Getenv("SWITCHYARD_TOP_UP_URL"), "where the 402 answer tells users to add credits (env SWITCHYARD_TOP_UP_URL)")
	fs.StringVar(&f.location, "location", os.Getenv("SWITCHYARD_EDGE_LOCATION"), "this edge's location name, which routing plugins see (env SWITCHYARD_EDGE_LOCATION)")
	fs.StringVar(&f.pluginDir, "plugin-cache", os.Getenv("SWITCHYARD_PLUGIN_CACHE"), "directory for compiled routing plugins; empty means plugin-cache beside the usage spill file (env SWITCHYARD_PLUGIN_CACHE)")
	fs.IntVar(&f.authFailures, "auth-failures-per-minute", envInt("SWITCHYARD_AUTH_FAILURES_PER_MINUTE", 30), "failed authentications one client address may make per minute before it gets 429; negative disables (env SWITCHYARD_AUTH_FAILURES_PER_MINUTE)")
	fs.BoolVar(&f.trustCountry, "trust-country-header", envBool("SWITCHYARD_TRUST_COUNTRY_HEADER"), "tell routing plugins the client's country from the CF-IPCountry header; only for an edge that only Cloudflare can reach, since any client can send the header (env SWITCHYARD_TRUST_COUNTRY_HEADER=true)")
}

// envBool reads a boolean environment variable; unset or not a boolean is
// false, the safe side of every switch it is used for.
// envInt reads a whole number, or def when unset or unreadable.
func envInt(name string, def int) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return def
	}
	return n
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

func runEdge(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	var f edgeFlags
	f.register(fs)
	var tf tlsFlags
	tf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.tls, err = tf.config(); err != nil {
		return err
	}
	file, err := setup.Load(f.config)
	if err != nil {
		return err
	}
	switch {
	case f.controlURL != "":
		if f.edgeToken == "" {
			return errors.New("-edge-token (or SWITCHYARD_EDGE_TOKEN) is required with -control-url")
		}
		return serveEdge(ctx, f, file, os.Getenv, nil, nil)
	case f.keys != "":
		keys, err := keyfile.Load(f.keys)
		if err != nil {
			return err
		}
		return serveEdge(ctx, f, file, os.Getenv, keys, nil)
	}
	return errors.New("give -control-url (SWITCHYARD_CONTROL_URL) or -keys (SWITCHYARD_KEYS)")
}

// serveEdge builds the gateway and serves it until ctx ends. With
// f.controlURL set, keys, the catalog and usage go through the control
// service and keys must be nil. ready, when set, is called with the bound
// address.
func serveEdge(ctx context.Context, f edgeFlags, file *setup.File, env setup.Env, keys worker.KeyResolver, ready func(addr string)) error {
	up := edgefast.NewClient()
	var (
		sink    worker.UsageSink
		conn    *controlclient.Conn
		plugins worker.Plugins
		closeFn func()
	)
	if f.controlURL != "" {
		conn = controlclient.NewConn(f.controlURL, f.edgeToken, up)
		keys = controlclient.NewResolver(conn, controlclient.ResolverOptions{})
		if dir := filepath.Dir(f.spill); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
		}
		s := controlclient.NewSink(conn, controlclient.SinkOptions{EdgeID: hostname(), SpillPath: f.spill})
		if err := s.Start(); err != nil {
			return err
		}
		sink = s
		runner, stopPlugins, err := startPlugins(ctx, f, conn)
		if err != nil {
			return err
		}
		plugins = runner
		closeFn = func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Close(cctx); err != nil {
				slog.Warn("usage not delivered at shutdown; kept in the spill file", "err", err.Error(), "spill", f.spill)
			}
			stopPlugins(cctx)
		}
	} else {
		var err error
		if sink, closeFn, err = usageLog(f.usageLog); err != nil {
			return err
		}
	}
	defer closeFn()
	cfg, err := file.Config(env, keys, up, sink)
	if err != nil {
		return err
	}
	cfg.TopUpURL = f.topUpURL
	cfg.EdgeLocation = f.location
	cfg.TrustCountryHeader = f.trustCountry
	cfg.AuthFailuresPerMinute = f.authFailures
	cfg.Plugins = plugins
	g, err := worker.New(cfg)
	if err != nil {
		return err
	}
	if conn != nil {
		go syncCatalog(ctx, g, conn)
	}
	ln, err := listenService("edge", f.listen, f.tls)
	if err != nil {
		return err
	}
	slog.Info("edge listening", "addr", ln.Addr().String(), "control", f.controlURL != "")
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serveFast(ctx, ln, edgefast.NewServer(g))
}

// startPlugins runs tenants' routing plugins with the native edge's limits,
// fetching modules from the control service and keeping compiled code on
// disk so that a restart does not compile every plugin again.
func startPlugins(ctx context.Context, f edgeFlags, conn *controlclient.Conn) (*pluginrun.Runner, func(context.Context), error) {
	dir := f.pluginDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(f.spill), "plugin-cache")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	// Plugins that have seen request content must not write to the log.
	logger := slog.New(pluginrun.LogHandler(slog.Default().Handler()))
	h, err := host.New(ctx, host.Config{CacheDir: dir, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	r := pluginrun.New(h, conn, pluginrun.Options{})
	return r, func(ctx context.Context) {
		r.Close(ctx)
		h.Close(ctx)
	}, nil
}

// catalogEvery is how often the edge looks for a new catalog version.
const catalogEvery = 60 * time.Second

// syncCatalog keeps the gateway's catalog equal to the control service's,
// keeping the configured one until the control service first answers.
func syncCatalog(ctx context.Context, g *worker.Gateway, conn *controlclient.Conn) {
	cs := controlclient.NewCatalogSync(conn, g, slog.Default())
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs.Refresh(cctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(catalogEvery):
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "edge"
	}
	return h
}

// serveFast serves srv on ln until ctx ends, then lets running streams
// finish for up to 10s.
func serveFast(ctx context.Context, ln net.Listener, srv *fasthttp.Server) error {
	return serveUntil(ctx, func() error { return srv.Serve(ln) }, srv.ShutdownWithContext)
}

// serveHTTP serves h on ln until ctx ends, then drains for up to 10s.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return serveUntil(ctx, func() error { return srv.Serve(ln) }, srv.Shutdown)
}

// serveUntil runs serve until it fails or ctx ends, then shuts down with a
// 10s grace period.
func serveUntil(ctx context.Context, serve func() error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return shutdown(shutdownCtx)
}

// usageLog appends records as JSON lines, for an edge without a control
// service.
func usageLog(path string) (worker.UsageSink, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	enc := json.NewEncoder(fh)
	sink := worker.UsageSinkFunc(func(r *worker.UsageRecord) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(r); err != nil {
			slog.Error("usage log write failed", "err", err)
		}
	})
	return sink, func() { fh.Close() }, nil
}

// randomKey makes a demo API key.
func randomKey() string {
	return "sk-sy-demo-" + rand.Text()
}
