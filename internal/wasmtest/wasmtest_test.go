package wasmtest_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

// Every shape the package assembles is valid WebAssembly; whether it is a
// valid plugin is the host's tests' business.
func TestModulesCompile(t *testing.T) {
	tiny := wasmtest.Module{Decision: `{"action":"route"}`}.Raw()
	rec := tiny.With(wasmtest.Func{Name: "rec", Params: []byte{wasmtest.TypeI32}, Body: wasmtest.Code(
		[]byte{wasmtest.OpLocalGet, 0, wasmtest.OpIf, wasmtest.BlockVoid, wasmtest.OpLocalGet, 0},
		wasmtest.I32(1), []byte{wasmtest.OpI32Sub}, wasmtest.I32(0), wasmtest.CallIndirect(3), []byte{wasmtest.OpEnd})})
	rec.Table = []uint32{3}
	for _, c := range []struct {
		name string
		wasm []byte
	}{
		{"decision", wasmtest.Decision(`{"action":"route"}`)},
		{"trap above", wasmtest.Module{Route: wasmtest.Trap, Above: 100}.Bytes()},
		{"spin", wasmtest.Module{Route: wasmtest.Spin}.Bytes()},
		{"spin on a header", wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Spin, Containing: "x-sy-spin"}.Bytes()},
		{"no route, import, padding", wasmtest.Module{NoRoute: true, Import: [2]string{"env", "f"}, Padding: 1000}.Bytes()},
		{"call_indirect through a table", rec.Bytes()},
		{"import added to a raw module", tiny.Importing(wasmtest.Func{Module: "sy", Name: "now_ms", Results: []byte{wasmtest.TypeI64}}).Bytes()},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, c.wasm); err != nil {
				t.Fatal(err)
			}
		})
	}
}
