package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/edgefast"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// edgeFlags are the settings shared by edge and dev.
type edgeFlags struct {
	listen   string
	config   string
	keys     string
	usageLog string
}

func (f *edgeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", envOr("SWITCHYARD_LISTEN", "127.0.0.1:8080"), "address to serve on (env SWITCHYARD_LISTEN)")
	fs.StringVar(&f.config, "config", os.Getenv("SWITCHYARD_CONFIG"), "edge configuration file; empty uses the built-in providers and catalog (env SWITCHYARD_CONFIG)")
	fs.StringVar(&f.keys, "keys", os.Getenv("SWITCHYARD_KEYS"), "API key file (JSON); required for edge unless dev (env SWITCHYARD_KEYS)")
	fs.StringVar(&f.usageLog, "usage-log", os.Getenv("SWITCHYARD_USAGE_LOG"), "append usage records (metadata only) as JSON lines to this file; empty discards them (env SWITCHYARD_USAGE_LOG)")
}

func runEdge(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	var f edgeFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.keys == "" {
		return errors.New("-keys (or SWITCHYARD_KEYS) is required")
	}
	keys, err := keyfile.Load(f.keys)
	if err != nil {
		return err
	}
	file, err := setup.Load(f.config)
	if err != nil {
		return err
	}
	return serveEdge(ctx, f, file, os.Getenv, keys, nil)
}

// serveEdge builds the gateway and serves it until ctx ends. ready, when
// set, is called with the bound address.
func serveEdge(ctx context.Context, f edgeFlags, file *setup.File, env setup.Env, keys worker.KeyResolver, ready func(addr string)) error {
	sink, closeSink, err := usageSink(f.usageLog)
	if err != nil {
		return err
	}
	defer closeSink()
	cfg, err := file.Config(env, keys, edgefast.NewClient(), sink)
	if err != nil {
		return err
	}
	g, err := worker.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	slog.Info("edge listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serveFast(ctx, ln, edgefast.NewServer(g))
}

// serveFast serves srv on ln until ctx ends, then lets running streams
// finish for up to 10s.
func serveFast(ctx context.Context, ln net.Listener, srv *fasthttp.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.ShutdownWithContext(shutdownCtx)
}

// serveHTTP serves h on ln until ctx ends, then drains for up to 10s.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// usageSink appends records as JSON lines. Until the control service
// takes them, a file is the simplest durable place.
func usageSink(path string) (worker.UsageSink, func(), error) {
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
