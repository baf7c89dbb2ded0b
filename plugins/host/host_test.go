package host_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	wt "github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestLoadCompilesOncePerHash(t *testing.T) {
	h := plugintest.NewHost(t, host.Config{})
	ctx := context.Background()
	wasm := tinyPlugin(routeOK).Bytes()
	plugins := make([]*host.Plugin, 8)
	var wg sync.WaitGroup
	for i := range plugins {
		wg.Go(func() {
			p, err := h.Load(ctx, wasm)
			if err != nil {
				t.Error(err)
			}
			plugins[i] = p
		})
	}
	wg.Wait()
	for _, p := range plugins[1:] {
		if p != plugins[0] {
			t.Fatal("loading the same bytes gave different plugins")
		}
	}
	if other, _ := h.Load(ctx, tinyPlugin(`{"action":"route","model":"m"}`).Bytes()); other == plugins[0] || other.Hash() == plugins[0].Hash() {
		t.Error("different bytes gave the same plugin")
	}
	// The plugin stays usable until the last of the eight holders closes it.
	for _, p := range plugins[1:] {
		p.Close(ctx)
	}
	if _, err := plugins[0].Route(ctx, "acct_a", host.SampleRequest()); err != nil {
		t.Fatalf("after 7 of 8 Closes: %v", err)
	}
	plugins[0].Close(ctx)
	if _, err := plugins[0].Route(ctx, "acct_a", host.SampleRequest()); err == nil {
		t.Error("Route after the last Close succeeded")
	}
	again, err := h.Load(ctx, wasm)
	if err != nil || again == plugins[0] {
		t.Errorf("Load after the last Close: %p, %v; want a fresh plugin", again, err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, wasm); err == nil {
		t.Error("Load on a closed host succeeded")
	}
}

func TestRouteRefusesBadInput(t *testing.T) {
	h := plugintest.NewHost(t, host.Config{})
	p, err := h.Load(context.Background(), tinyPlugin(routeOK).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Route(context.Background(), "", host.SampleRequest()); err == nil {
		t.Error("a call without a tenant succeeded")
	}
	big := host.SampleRequest()
	big.Body = abi.RawJSON(`"` + strings.Repeat("x", abi.MaxRequestBytes) + `"`)
	if _, err := p.Route(context.Background(), "acct_a", big); err == nil || !strings.Contains(err.Error(), "over the 1.0 MiB limit") {
		t.Errorf("a request over 1 MiB: %v", err)
	}
}

func TestValidate(t *testing.T) {
	// On the probe's host, where the module is compiled already; Validate's
	// Close leaves the probe's own hold.
	goProbe(t)
	r, err := probe.h.Validate(context.Background(), probe.wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Go probe: %d bytes, %d pages, %v a call, imports %v", r.Size, r.MemoryPages, r.CallTime, r.Imports)
	if r.Size != len(probe.wasm) || len(r.Hash) != 64 || r.MemoryPages == 0 || r.CallTime <= 0 {
		t.Errorf("report %+v", r)
	}
	if r.Decision == nil || r.Decision.Action != "route" {
		t.Errorf("decision on the sample %+v", r.Decision)
	}
	for _, imp := range r.Imports {
		if !strings.HasPrefix(imp, "wasi_snapshot_preview1.") && !strings.HasPrefix(imp, "sy.") {
			t.Errorf("import %s", imp)
		}
	}
	// A module that loads but fails on the sample is refused too.
	h := plugintest.NewHost(t, host.Config{})
	_, err = h.Validate(context.Background(), tinyPlugin(`{"action":"bounce"}`).Bytes())
	var le *host.LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Reason, "the sample request failed") || !isKind(le.Err, host.KindInvalidOutput) {
		t.Errorf("Validate of a module with a bad answer: %v", err)
	}
	// One that always runs past the deadline is refused, after a retry
	// or two in case the machine was only busy.
	_, err = h.Validate(context.Background(), tinyPlugin(routeOK).With(wt.Route([]byte{wt.OpLoop, wt.BlockVoid, wt.OpBr, 0, wt.OpEnd}, wt.I64(0))).Bytes())
	if !errors.As(err, &le) || !isKind(le.Err, host.KindTimeout) {
		t.Errorf("Validate of a module that spins: %v", err)
	}
}

// Module state lives in an instance, and an instance serves one tenant:
// a global in the module never carries one tenant's data to another.
func TestInstancesAreNotSharedAcrossTenants(t *testing.T) {
	p := goProbe(t)
	count := plugintest.Request(func(r *abi.RouteRequest) { r.Model = "count" })
	for i, c := range []struct{ tenant, want string }{{"acct_ca", "1"}, {"acct_ca", "2"}, {"acct_cb", "1"}, {"acct_ca", "3"}, {"acct_cb", "2"}} {
		d, err := p.Route(context.Background(), c.tenant, count)
		if err != nil {
			t.Fatal(err)
		}
		if d.Tags["calls"] != c.want {
			t.Errorf("call %d for %s saw calls=%s, want %s", i, c.tenant, d.Tags["calls"], c.want)
		}
	}
}

func TestClocks(t *testing.T) {
	p := goProbe(t)
	now := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	probe.clock.Set(now)
	d, err := p.Route(context.Background(), "acct_clock", plugintest.Request(func(r *abi.RouteRequest) { r.Model = "clock" }))
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(now.UnixMilli(), 10)
	if d.Tags["now_ms"] != want || d.Tags["wasi"] != want {
		t.Errorf("sy.now_ms %s and WASI clock %s, want both %s", d.Tags["now_ms"], d.Tags["wasi"], want)
	}
}

func TestLogIsRateLimitedAndTruncated(t *testing.T) {
	p := goProbe(t)
	now := time.Unix(1_900_000_000, 0)
	probe.clock.Set(now)
	probe.logs.take()
	logs := plugintest.Request(func(r *abi.RouteRequest) { r.Model = "log" })
	for _, tenant := range []string{"acct_log1", "acct_log2"} {
		if _, err := p.Route(context.Background(), tenant, logs); err != nil {
			t.Fatal(err)
		}
	}
	lines := probe.logs.take()
	if len(lines) != 2*abi.LogLinesPerSecond {
		t.Fatalf("%d lines in one second from two tenants, want %d each: %v", len(lines), abi.LogLinesPerSecond, lines)
	}
	line := func(level, tenant, message string) map[string]string {
		return map[string]string{"level": level, "msg": "plugin log", "tenant": tenant, "plugin": p.Hash(), "message": message}
	}
	// 601 bytes cut to 511: the 512th byte is inside an é.
	if want := line("INFO", "acct_log1", "a"+strings.Repeat("é", 255)); !maps.Equal(lines[0], want) {
		t.Errorf("first line %v, want %v", lines[0], want)
	}
	if want := line("WARN", "acct_log1", "line 0"); !maps.Equal(lines[1], want) {
		t.Errorf("second line %v, want %v", lines[1], want)
	}
	if _, err := p.Route(context.Background(), "acct_log1", logs); err != nil {
		t.Fatal(err)
	}
	if got := probe.logs.take(); len(got) > 0 {
		t.Errorf("lines past the budget in the same second: %v", got)
	}
	probe.clock.Set(now.Add(time.Second))
	if _, err := p.Route(context.Background(), "acct_log1", logs); err != nil {
		t.Fatal(err)
	}
	if n := len(probe.logs.take()); n != abi.LogLinesPerSecond {
		t.Errorf("%d lines in the next second, want %d", n, abi.LogLinesPerSecond)
	}
}
