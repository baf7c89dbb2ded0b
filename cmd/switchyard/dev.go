package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// runDev starts the edge with the emulator standing in for every provider
// whose API key is absent, so the whole path works offline.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var f edgeFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	file, err := setup.Load(f.config)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	emuURL := "http://" + ln.Addr().String()
	go func() {
		if err := serveHTTP(ctx, ln, emulator.New()); err != nil {
			slog.Error("emulator stopped", "err", err)
		}
	}()
	overrides := map[string]string{}
	for i := range file.Providers {
		p := &file.Providers[i]
		if p.APIKeyEnv != "" && os.Getenv(p.APIKeyEnv) != "" {
			slog.Info("provider is REAL", "provider", p.Name, "key_from", p.APIKeyEnv)
			continue
		}
		base := emuURL
		if p.Type == "openai" {
			base += "/v1"
		}
		if p.BaseURLEnv == "" {
			p.BaseURLEnv = "SWITCHYARD_DEV_BASE_" + p.Name
		}
		overrides[p.BaseURLEnv] = base
		if p.APIKeyEnv != "" {
			overrides[p.APIKeyEnv] = "emulator"
		}
		slog.Info("provider is EMULATED (local stand-in, not the real API)", "provider", p.Name, "emulator", emuURL)
	}
	env := func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return os.Getenv(name)
	}
	demo := envOr("SWITCHYARD_DEMO_KEY", randomKey())
	var keys *keyfile.Resolver
	if f.keys != "" {
		keys, err = keyfile.Load(f.keys)
	} else {
		keys, err = keyfile.New([]keyfile.Entry{{ID: "key_demo", AccountID: "acct_demo", Secret: demo}})
	}
	if err != nil {
		return err
	}
	return serveEdge(ctx, f, file, env, keys, func(addr string) {
		fmt.Printf(`
Switchyard dev edge is ready.

  URL:          http://%[1]s/v1
  Demo API key: %[2]s

Try it:

  curl -s http://%[1]s/v1/chat/completions \
    -H "Authorization: Bearer %[2]s" -H "Content-Type: application/json" \
    -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'

`, addr, demo)
	})
}
