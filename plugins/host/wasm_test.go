package host_test

import (
	"encoding/binary"
	"slices"
)

// wasmModule is a WebAssembly module assembled by hand, for tests that
// need modules no compiler would write. wazero has no text-format parser,
// and a few dozen bytes are easier to read here than a binary in testdata.
type wasmModule struct {
	imports      []wasmFunc // module and name set
	funcs        []wasmFunc // name is the export name; "" exports nothing
	memPages     uint32     // 0: no memory
	exportMemory bool
	data         []wasmData
}

type wasmFunc struct {
	module, name    string
	params, results []byte
	locals          []byte
	body            []byte // without the closing end
}

type wasmData struct {
	offset uint32
	bytes  []byte
}

// Value types and the opcodes the tests use.
const (
	tI32 = 0x7f
	tI64 = 0x7e

	opUnreachable = 0x00
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opCall        = 0x10
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opI32Const    = 0x41
	opI64Const    = 0x42
	opI32Ne       = 0x47
	opI32GtU      = 0x4b
	opI32Sub      = 0x6b
	opMemoryGrow  = 0x40
	blockVoid     = 0x40
)

func i32(v int32) []byte { return append([]byte{opI32Const}, sleb(int64(v))...) }
func i64(v int64) []byte { return append([]byte{opI64Const}, sleb(v)...) }

// packed is sy_route's result for a decision at ptr of n bytes.
func packed(ptr, n uint32) []byte { return i64(int64(uint64(ptr)<<32 | uint64(n))) }

func code(parts ...[]byte) []byte { return slices.Concat(parts...) }

func (m *wasmModule) bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, items [][]byte) {
		if len(items) == 0 {
			return
		}
		body := uleb(uint32(len(items)))
		for _, it := range items {
			body = append(body, it...)
		}
		out = append(out, id)
		out = append(out, uleb(uint32(len(body)))...)
		out = append(out, body...)
	}
	all := append(slices.Clone(m.imports), m.funcs...)
	var types, imports, funcs, exports, bodies, data [][]byte
	for i, f := range all {
		types = append(types, code([]byte{0x60}, vec(f.params), vec(f.results)))
		if i < len(m.imports) {
			imports = append(imports, code(name(f.module), name(f.name), []byte{0x00}, uleb(uint32(i))))
			continue
		}
		funcs = append(funcs, uleb(uint32(i)))
		if f.name != "" {
			exports = append(exports, code(name(f.name), []byte{0x00}, uleb(uint32(i))))
		}
		var locals []byte
		for _, l := range f.locals {
			locals = append(locals, 1, l)
		}
		body := code(uleb(uint32(len(f.locals))), locals, f.body, []byte{opEnd})
		bodies = append(bodies, code(uleb(uint32(len(body))), body))
	}
	var mems [][]byte
	if m.memPages > 0 {
		mems = [][]byte{code([]byte{0x00}, uleb(m.memPages))}
		if m.exportMemory {
			exports = append(exports, code(name("memory"), []byte{0x02, 0x00}))
		}
	}
	for _, d := range m.data {
		data = append(data, code([]byte{0x00}, i32(int32(d.offset)), []byte{opEnd}, vec(d.bytes)))
	}
	section(1, types)
	section(2, imports)
	section(3, funcs)
	section(5, mems)
	section(7, exports)
	section(10, bodies)
	section(11, data)
	return out
}

func vec(b []byte) []byte  { return append(uleb(uint32(len(b))), b...) }
func name(s string) []byte { return vec([]byte(s)) }
func uleb(v uint32) []byte { return binary.AppendUvarint(nil, uint64(v)) }
func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 && b&0x40 == 0 || v == -1 && b&0x40 != 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// decisionAt is where tinyPlugin keeps its answer.
const decisionAt = 1024

// tinyPlugin is about the smallest module that follows ABI.md: a constant
// answer, and room for a request of up to 1 MiB that it never reads. Tests
// swap out one piece to make it misbehave in one way.
func tinyPlugin(decision string) *wasmModule {
	return &wasmModule{
		memPages:     18, // 64 KiB for the answer, 1 MiB for the request
		exportMemory: true,
		data:         []wasmData{{decisionAt, []byte(decision)}},
		funcs: []wasmFunc{
			{name: "sy_abi_version", results: []byte{tI32}, body: i32(1)},
			{name: "sy_alloc", params: []byte{tI32}, results: []byte{tI32}, body: code(
				[]byte{opLocalGet, 0}, i32(1<<20), []byte{opI32GtU, opIf, tI32}, i32(0), []byte{opElse}, i32(1<<16), []byte{opEnd})},
			{name: "sy_route", params: []byte{tI32, tI32}, results: []byte{tI64}, body: packed(decisionAt, uint32(len(decision)))},
		},
	}
}

// with replaces the function exported as name, or adds it.
func (m *wasmModule) with(f wasmFunc) *wasmModule {
	c := *m
	c.funcs = slices.Clone(m.funcs)
	for i := range c.funcs {
		if c.funcs[i].name == f.name {
			c.funcs[i] = f
			return &c
		}
	}
	c.funcs = append(c.funcs, f)
	return &c
}

// without drops the function exported as name.
func (m *wasmModule) without(name string) *wasmModule {
	c := *m
	c.funcs = slices.DeleteFunc(slices.Clone(m.funcs), func(f wasmFunc) bool { return f.name == name })
	return &c
}

// importing adds an import; calls to it use index 0 when it is the only one.
func (m *wasmModule) importing(f wasmFunc) *wasmModule {
	c := *m
	c.imports = append(slices.Clone(m.imports), f)
	return &c
}

func route(body ...[]byte) wasmFunc {
	return wasmFunc{name: "sy_route", params: []byte{tI32, tI32}, results: []byte{tI64}, body: code(body...)}
}
