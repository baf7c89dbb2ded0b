package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

const pluginUsage = `switchyard plugin <command> [flags]

  test PLUGIN.wasm --request REQUEST.json [--tenant T] [-n N] [--workers]
        [--wants-body]
        run the plugin as the edge does: the upload checks, then N calls
        (default 1000) on the request; print the decision, the time per
        call and the memory used. The request's body reaches the plugin
        only with --wants-body, and only if it fits in 1 MiB
  upload PLUGIN.wasm --name N [--fail open|closed] [--headers a,b]
        [--wants-body] [--activate | --key KEY_ID] [--control-url URL]
        send a module to the control service, with the management token
        in SWITCHYARD_TOKEN
`

// runPlugin runs the tenant plugin tools.
func runPlugin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, pluginUsage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "test":
		return pluginTest(ctx, args[1:], os.Stdout, os.Stderr)
	case "upload":
		return pluginUpload(ctx, args[1:], os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		fmt.Print(pluginUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, pluginUsage)
	return fmt.Errorf("unknown command %q", args[0])
}

// pluginTest runs a module with the host the edge uses, so that its
// numbers and its refusals are the edge's.
func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plugin test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	request := fs.String("request", "", "RouteRequest JSON file (required)")
	tenant := fs.String("tenant", "", "tenant to run as (default: the request's tenant, else acct_test)")
	n := fs.Int("n", 1000, "number of timed calls")
	workers := fs.Bool("workers", false, "use the Workers edge's interpreter and limits instead of the native edge's")
	wantsBody := fs.Bool("wants-body", false, "keep the request's body, as the edge does for a plugin uploaded with --wants-body; without it the body is null")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 || *request == "" || *n < 1 {
		fs.Usage()
		return errors.New("want one PLUGIN.wasm, --request REQUEST.json and -n of at least 1")
	}
	wasm, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	req, err := readRouteRequest(*request)
	if err != nil {
		return err
	}
	who := *tenant
	if who == "" {
		who = req.Tenant
	}
	if who == "" {
		who = "acct_test"
	}
	req.Tenant = who
	if err := edgeBody(req, *wantsBody, stderr); err != nil {
		return err
	}

	cfg := host.Config{
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxModuleBytes: abi.NativeMaxModuleBytes,
		MaxMemoryPages: abi.NativeMaxMemoryPages,
	}
	edge := "native edge (compiler)"
	if *workers {
		cfg.Interpreter, cfg.MaxModuleBytes, cfg.MaxMemoryPages = true, abi.WorkersMaxModuleBytes, abi.WorkersMaxMemoryPages
		edge = "Workers edge (interpreter)"
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	report, err := h.Validate(ctx, wasm)
	if err != nil {
		return err
	}
	p, err := h.Load(ctx, wasm)
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	first, err := p.Route(ctx, who, req)
	if err != nil {
		return fmt.Errorf("the call failed: %w", err)
	}
	firstJSON, _ := json.Marshal(first)
	times := make([]time.Duration, 0, *n)
	changed := 0
	failures := map[string]int{}
	var firstFailure error
	for range *n {
		start := time.Now()
		d, err := p.Route(ctx, who, req)
		elapsed := time.Since(start)
		if err != nil {
			var ce *host.CallError
			kind := "other"
			if errors.As(err, &ce) {
				kind = ce.Kind
			}
			failures[kind]++
			if firstFailure == nil {
				firstFailure = err
			}
			continue
		}
		times = append(times, elapsed)
		if b, _ := json.Marshal(d); !bytes.Equal(b, firstJSON) {
			changed++
		}
	}
	if len(times) == 0 {
		return fmt.Errorf("every call failed; the first: %w", firstFailure)
	}
	slices.Sort(times)

	var out bytes.Buffer
	json.Indent(&out, firstJSON, "", "  ")
	fmt.Fprintf(stdout, "decision:  %s\n", out.Bytes())
	if changed > 0 {
		fmt.Fprintf(stdout, "           (%d of the %d later calls decided differently: counters or the clock)\n", changed, len(times))
	}
	fmt.Fprintf(stdout, "per call:  p50 %v, p90 %v, p99 %v over %d calls on the %s\n",
		times[len(times)/2], times[len(times)*9/10], times[len(times)*99/100], len(times), edge)
	fmt.Fprintf(stdout, "memory:    %d pages (%.1f MiB) of linear memory per instance, cap %d\n",
		p.PeakMemoryPages(), float64(p.PeakMemoryPages())/16, cfg.MaxMemoryPages)
	fmt.Fprintf(stdout, "module:    %d bytes, sha256 %s\n", report.Size, report.Hash)
	fmt.Fprintf(stdout, "imports:   %v\n", report.Imports)
	if firstFailure != nil {
		failed := *n - len(times)
		fmt.Fprintf(stdout, "failures:  %d of %d calls %v; the first: %v\n", failed, *n, failures, firstFailure)
		return fmt.Errorf("%d of %d calls failed", failed, *n)
	}
	return nil
}

// edgeBody leaves req's body as the edge would send it: null unless the
// plugin asked for it, and null when it would take the request over ABI.md's
// size limit.
func edgeBody(req *abi.RouteRequest, wantsBody bool, stderr io.Writer) error {
	if req.Body == nil {
		return nil
	}
	if !wantsBody {
		fmt.Fprintln(stderr, "note: the request's body is left out (null), as the edge does for a plugin uploaded without --wants-body")
		req.Body = nil
		return nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("the request's body: %w", err)
	}
	if len(b) > abi.MaxRequestBytes {
		fmt.Fprintf(stderr, "note: with its body the request is %d bytes, over the %d-byte limit; the edge sends the body as null then, and so does this test\n", len(b), abi.MaxRequestBytes)
		req.Body = nil
		return nil
	}
	fmt.Fprintln(stderr, "note: the plugin sees the body; on the edge its log lines are then dropped, never written")
	return nil
}

// readRouteRequest decodes strictly, so that a misspelt field in a
// hand-written request is reported instead of silently left out.
func readRouteRequest(path string) (*abi.RouteRequest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req abi.RouteRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if req.ABI == 0 {
		req.ABI = abi.Version
	}
	return &req, nil
}

// parseInterleaved parses flags that may stand before, between or after
// the positional arguments, as in `plugin test x.wasm --request r.json`
// (the flag package alone stops at the first positional argument), and
// returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			return positional, nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}
