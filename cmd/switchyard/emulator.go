package main

import (
	"context"
	"flag"
	"log/slog"
	"net"

	"github.com/switchyard-ai/switchyard/internal/emulator"
)

func runEmulator(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	listen := fs.String("listen", envOr("SWITCHYARD_EMULATOR_LISTEN", "127.0.0.1:8090"), "address to serve on (env SWITCHYARD_EMULATOR_LISTEN)")
	record := fs.Bool("record", true, "keep every request for GET /_emulator/requests; turn off under load, where the record grows without bound")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	slog.Info("provider emulator (stand-in for OpenAI, Anthropic and Gemini) listening", "addr", ln.Addr().String())
	emu := emulator.New()
	emu.SetRecording(*record)
	return serveHTTP(ctx, ln, emu)
}
