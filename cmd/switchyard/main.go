// Command switchyard runs Switchyard's services. Each subcommand only wires
// packages together; the behaviour lives in worker/, control/ and internal/.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `switchyard <command> [flags]

Commands:
  edge      run the native edge gateway
  emulator  run the provider emulator (the stand-in for OpenAI, Anthropic and Gemini)
  control   run the control service (accounts, keys, catalog, credits, usage)
  admin     operator commands on the control database (run "switchyard admin" for the list)
  plugin    tenant routing plugins (run "switchyard plugin" for the list)
  dev       run control, edge and emulator together, for local use

Run "switchyard <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	var err error
	switch os.Args[1] {
	case "edge":
		err = runEdge(ctx, os.Args[2:])
	case "emulator":
		err = runEmulator(ctx, os.Args[2:])
	case "control":
		err = runControl(ctx, os.Args[2:])
	case "admin":
		err = runAdmin(ctx, os.Args[2:])
	case "dev":
		err = runDev(ctx, os.Args[2:])
	case "plugin":
		err = runPlugin(ctx, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "switchyard: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchyard %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// envOr reads an environment variable with a default.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
