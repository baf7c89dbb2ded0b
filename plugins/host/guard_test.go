package host

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	wt "github.com/switchyard-ai/switchyard/internal/wasmtest"
)

func TestGuardEntries(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	// One function with two i32 locals that calls itself, then a custom
	// section that must pass through unchanged.
	module := append(append([]byte{}, header...),
		10, 8, 1, 6, 1, 2, 0x7f, 0x10, 0x00, 0x0b,
		0, 3, 1, 'x', 9)
	got, err := guardEntries(module, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, header...),
		10, 11, 1, 9, 1, 2, 0x7f, 0x03, 0x40, 0x0b, 0x10, 0x00, 0x0b,
		0, 3, 1, 'x', 9)
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
	for name, bad := range map[string][]byte{
		"section past the end":   {10, 9, 1},
		"function past the end":  {10, 3, 1, 9, 0},
		"huge function count":    {10, 5, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"locals past the body":   {10, 4, 1, 2, 3, 1},
		"bad LEB128":             {10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"data after a function":  {10, 5, 1, 2, 0, 0x0b, 0x0b},
		"section id and no size": {10},
	} {
		if _, err := guardEntries(append(append([]byte{}, header...), bad...), 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := guardEntries([]byte("\x00asm\x01"), 0); err == nil {
		t.Error("a module shorter than its header: no error")
	}
	// A count of four billion locals in a five-byte body must fail at
	// once, not spin through the count.
	start := time.Now()
	if _, err := guardEntries(append(append([]byte{}, header...), 10, 8, 1, 6, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f), 0); err == nil {
		t.Error("huge locals count: no error")
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a huge locals count took %v", took)
	}
}

// guardPlan puts an entry check in each function that can recurse or
// call indirectly, and in enough others to cut loop-free chains of calls,
// and nowhere else.
func TestGuardPlan(t *testing.T) {
	fn := func(name string, body ...[]byte) wt.Func { return wt.Func{Name: name, Body: wt.Code(body...)} }
	call := wt.Call
	// Like Go's compiler, which starts a function by saving its stack
	// pointer and entering a block and a dispatch loop.
	goPrologue := wt.Code(wt.I32(0), []byte{wt.OpDrop, 0x02, 0x40, 0x03, 0x40})
	chain := &wt.Raw{}
	for i := range 40 {
		next := wt.Code(call(uint32(i+1)), call(uint32(i+1)))
		if i == 39 {
			next = nil
		}
		chain.Funcs = append(chain.Funcs, fn(fmt.Sprint(i), next))
	}
	for _, c := range []struct {
		name string
		raw  *wt.Raw
		want []bool // nil: check only that some function is guarded
	}{
		{"leaves and their callers", &wt.Raw{Funcs: []wt.Func{fn("a", call(1), call(1)), fn("b", []byte{0x01})}}, []bool{false, false}},
		{"self recursion", &wt.Raw{Funcs: []wt.Func{fn("a", call(1)), fn("b", call(1))}}, []bool{false, true}},
		{"mutual recursion", &wt.Raw{Funcs: []wt.Func{fn("a", call(1)), fn("b", call(2)), fn("c", call(3)), fn("d", call(1))}}, []bool{false, true, true, true}},
		{"call_indirect", &wt.Raw{Funcs: []wt.Func{fn("a", wt.I32(0), wt.CallIndirect(1)), fn("b")}, Table: []uint32{1}}, []bool{true, false}},
		{"imports do not count", (&wt.Raw{Funcs: []wt.Func{fn("a", call(0), call(2)), fn("b", call(2))}}).Importing(wt.Func{Module: "sy", Name: "x"}), []bool{false, true}},
		{"recursion that reaches a loop first", &wt.Raw{Funcs: []wt.Func{fn("a", goPrologue, call(0), []byte{wt.OpEnd, wt.OpEnd})}}, []bool{false}},
		{"recursion behind a branch before the loop", &wt.Raw{Funcs: []wt.Func{fn("a", []byte{0x02, 0x40, 0x0c, 0x00, 0x03, 0x40}, call(0), []byte{wt.OpEnd, wt.OpEnd})}}, []bool{true}},
		{"opcode beyond 2.0", &wt.Raw{Funcs: []wt.Func{fn("a", []byte{0x06, 0x40, 0x0b}), fn("b")}}, []bool{true, true}},
		{"exponential chain", chain, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			wasm := c.raw.Bytes()
			var imports, code []byte
			for r := (reader{b: wasm, i: 8}); r.i < len(r.b); {
				id, payload := r.byte(), r.bytes(r.u32())
				switch id {
				case 2:
					imports = payload
				case 10:
					code = payload
				}
			}
			bodies, err := splitBodies(code)
			if err != nil {
				t.Fatal(err)
			}
			funcs, _ := countImports(imports)
			got := guardPlan(funcs, bodies)
			if c.want == nil {
				if !slices.Contains(got, true) {
					t.Errorf("nothing guarded")
				}
				return
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("guarded %v, want %v", got, c.want)
			}
		})
	}
}

// The fuel counter goes after the imported and defined globals, in
// sections that keep their order; wazero's validation checks the types.
func TestMeterIndices(t *testing.T) {
	module := slices.Concat([]byte("\x00asm\x01\x00\x00\x00"),
		[]byte{1, 4, 1, 0x60, 0, 0},                                  // type () -> ()
		[]byte{2, 10, 1, 3, 'e', 'n', 'v', 1, 'g', 0x03, 0x7f, 0x00}, // import env.g: i32
		[]byte{3, 2, 1, 0},                                           // one function
		[]byte{0, 2, 1, 'x'},                                         // a custom section
		[]byte{6, 6, 1, 0x7f, 0x01, 0x41, 0x05, 0x0b},                // a mutable i32 global
		[]byte{7, 5, 1, 1, 'f', 0, 0},                                // export f
		[]byte{10, 7, 1, 5, 0, 0x03, 0x40, 0x0b, 0x0b})               // f: loop end
	got, err := guardEntries(module, 1234)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, got); err != nil {
		t.Fatalf("%v\n% x", err, got)
	}
	// Without a global or an export section, both are added in place.
	bare := slices.Concat([]byte("\x00asm\x01\x00\x00\x00"), []byte{1, 4, 1, 0x60, 0, 0}, []byte{3, 2, 1, 0}, []byte{10, 4, 1, 2, 0, 0x0b})
	if got, err = guardEntries(bare, 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CompileModule(ctx, got); err != nil {
		t.Fatalf("%v\n% x", err, got)
	}
}
