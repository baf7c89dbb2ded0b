package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/dashboard"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker/setup"
)

// The demo account dev seeds.
const (
	demoEmail  = "demo@switchyard.local"
	demoCredit = 10_000_000 // $10
)

// runDev starts the control service with the embedded database, the
// emulator standing in for every provider whose API key is absent, and an
// edge wired to both, so the whole path works offline.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var f edgeFlags
	f.register(fs)
	var sf storeFlags
	sf.register(fs)
	controlListen := fs.String("control-listen", envOr("SWITCHYARD_CONTROL_LISTEN", "127.0.0.1:8081"), "control service address (env SWITCHYARD_CONTROL_LISTEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return dev(ctx, f, sf, *controlListen, os.Stdout)
}

func dev(ctx context.Context, f edgeFlags, sf storeFlags, controlListen string, out io.Writer) error {
	file, err := setup.Load(f.config)
	if err != nil {
		return err
	}
	env, err := startEmulatorFor(ctx, file)
	if err != nil {
		return err
	}

	sf.keys = keysDev
	svc, closeSvc, err := sf.openServing(ctx)
	if err != nil {
		return err
	}
	defer closeSvc()
	demoKey, password, err := seedDemo(ctx, svc)
	if err != nil {
		return err
	}
	edgeToken := "sy-edge-dev-" + rand.Text()
	cln, err := net.Listen("tcp", controlListen)
	if err != nil {
		return err
	}
	controlURL := "http://" + cln.Addr().String()
	console, err := dashboard.New(svc, dashboard.Config{PaymentsEnabled: sf.paymentsOn})
	if err != nil {
		return err
	}
	go func() {
		if err := serveHTTP(ctx, cln, httpapi.New(svc, httpapi.Config{EdgeTokens: []string{edgeToken}, Dashboard: console})); err != nil {
			slog.Error("control service stopped", "err", err)
		}
	}()
	slog.Info("control service listening", "addr", cln.Addr().String(), "data_dir", sf.dataDir)

	f.controlURL, f.edgeToken = controlURL, edgeToken
	return serveEdge(ctx, f, file, env, nil, func(addr string) {
		pw := "(unchanged; set at the first run)"
		if password != "" {
			pw = password
		}
		fmt.Fprintf(out, `
Switchyard dev is ready.

  Edge URL:        http://%[1]s/v1
  Control API:     %[3]s/api/v1
  Web console:     %[3]s/
  Demo account:    %[4]s  password %[5]s
  Demo API key:    %[2]s

Try it:

  curl -s http://%[1]s/v1/chat/completions \
    -H "Authorization: Bearer %[2]s" -H "Content-Type: application/json" \
    -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'

`, addr, demoKey, controlURL, demoEmail, pw)
	})
}

// startEmulatorFor starts the emulator and returns an environment in which
// every provider without an API key points at it.
func startEmulatorFor(ctx context.Context, file *setup.File) (setup.Env, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
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
	return func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return os.Getenv(name)
	}, nil
}

// seedDemo makes sure the demo account exists with credit and returns an
// API key for it: SWITCHYARD_DEMO_KEY if set (created once), else a fresh
// key each run, since stored keys are hashes and cannot be shown again. The
// password is returned only when the account was created now.
func seedDemo(ctx context.Context, svc *control.Service) (key, password string, err error) {
	acct, err := svc.AccountByEmail(ctx, demoEmail)
	if control.ErrorCode(err) == control.ENOTFOUND {
		password = envOr("SWITCHYARD_DEMO_PASSWORD", rand.Text())
		acct, err = svc.CreateAccount(ctx, control.AccountCreate{Name: "Demo User", Email: demoEmail, Company: "Demo", BillingAddress: "1 Demo Street, Example City", Password: password})
	}
	if err != nil {
		return "", "", fmt.Errorf("demo account: %w", err)
	}
	if _, err := svc.GrantCredits(ctx, acct.ID, demoCredit, "dev seed credit", "dev-seed"); err != nil && control.ErrorCode(err) != control.ECONFLICT {
		return "", "", fmt.Errorf("demo credit: %w", err)
	}
	if key = os.Getenv("SWITCHYARD_DEMO_KEY"); key != "" {
		_, err := svc.KeySnapshot(ctx, control.HashSecret(key))
		if control.ErrorCode(err) == control.ENOTFOUND {
			_, err = svc.ImportKey(ctx, acct.ID, key, control.KeyCreate{Name: "demo (SWITCHYARD_DEMO_KEY)"})
		}
		if err != nil {
			return "", "", fmt.Errorf("demo key: %w", err)
		}
		return key, password, nil
	}
	_, key, err = svc.CreateKey(ctx, acct.ID, control.KeyCreate{Name: "dev demo key"})
	if err != nil {
		return "", "", fmt.Errorf("demo key: %w", err)
	}
	return key, password, nil
}
