package host

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// callState tells the sy imports whose call they serve. It travels in the
// context because wazero hands host functions the caller's context, and
// one compiled plugin serves many tenants.
type callState struct {
	tenant string
	p      *Plugin
}

type callKey struct{}

func withCall(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, callKey{}, st)
}

// hostImport is one function of the sy module; the same table builds the
// module and checks what plugins import.
type hostImport struct {
	name            string
	params, results []api.ValueType
	fn              func(h *Host, ctx context.Context, m api.Module, stack []uint64)
}

func (f hostImport) bind(h *Host) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) { f.fn(h, ctx, m, stack) }
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

var syImports = []hostImport{
	{abi.ImportLog, []api.ValueType{i32, i32, i32}, nil, (*Host).syLog},
	{abi.ImportNowMs, nil, []api.ValueType{i64}, (*Host).syNowMs},
	{abi.ImportCounterAdd, []api.ValueType{i32, i32, i64, i32}, []api.ValueType{i64}, (*Host).syCounterAdd},
}

var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func (h *Host) syLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	lvl := logLevels[max(0, min(level, int32(len(logLevels)-1)))]
	st, _ := ctx.Value(callKey{}).(*callState)
	if st == nil || !h.cfg.Logger.Enabled(ctx, lvl) || !st.p.logAllowed(st.tenant, h.cfg.Now().Unix()) {
		return
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("sy.log: message at %d+%d is outside memory", ptr, n))
	}
	msg := truncateUTF8(b, abi.MaxLogLineLen)
	h.cfg.Logger.LogAttrs(ctx, lvl, "plugin log",
		slog.String("tenant", st.tenant), slog.String("plugin", st.p.hash), slog.String("message", msg))
}

// truncateUTF8 cuts at a rune boundary and replaces invalid bytes, so a log
// line is always valid text.
func truncateUTF8(b []byte, n int) string {
	if len(b) > n {
		for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(b[n]); i++ {
			n--
		}
		b = b[:n]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (h *Host) syNowMs(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(h.cfg.Now().UnixMilli())
}

func (h *Host) syCounterAdd(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n, delta, window := uint32(stack[0]), uint32(stack[1]), int64(stack[2]), int32(stack[3])
	if n > abi.MaxCounterKeyLen {
		panic(fmt.Errorf("sy.counter_add: key is %d bytes, over %d", n, abi.MaxCounterKeyLen))
	}
	if window < 1 || window > abi.MaxCounterWindow {
		panic(fmt.Errorf("sy.counter_add: window_s %d is outside 1..%d", window, abi.MaxCounterWindow))
	}
	key, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("sy.counter_add: key at %d+%d is outside memory", ptr, n))
	}
	st, _ := ctx.Value(callKey{}).(*callState)
	if st == nil || st.tenant == "" {
		// Only the upload check runs without a tenant; its counters would
		// be shared by every plugin, so it gets none.
		stack[0] = 0
		return
	}
	stack[0] = uint64(h.counters.add(st.tenant, string(key), delta, window, h.cfg.Now()))
}
