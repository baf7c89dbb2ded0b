// Package wasmtest assembles WebAssembly modules byte by byte, for tests
// that need a real module without a WebAssembly toolchain: tiny routing
// plugins (plugins/ABI.md) that answer a fixed decision, and the hostile
// shapes a host must refuse or contain. wazero has no text-format parser,
// and a few dozen bytes are easier to read in a test than a binary in
// testdata.
//
// Module describes a plugin by what it does; Raw describes any module
// function by function, for shapes Module has no field for. Module.Raw
// turns the one into the other, so a test can start from a working plugin
// and change one piece.
package wasmtest

import (
	"encoding/binary"
	"slices"
)

// Body is what sy_route does.
type Body int

const (
	// Answer returns Module.Decision.
	Answer Body = iota
	// Trap executes unreachable.
	Trap
	// Spin loops forever, until the host's deadline stops it.
	Spin
)

// Module describes a plugin. The zero value is a valid plugin answering
// an empty decision (which the gateway finds invalid); set Decision.
type Module struct {
	// Decision is the RouteDecision JSON sy_route returns.
	Decision string
	// Route is what sy_route does. Default Answer.
	Route Body
	// Above, when set, limits a Trap or Spin Route to requests longer than
	// this many bytes; shorter ones get Decision. Such a module passes the
	// upload check (a short sample request) and fails at the edge on
	// requests padded with long x-sy- headers.
	Above int32
	// Containing, when set, limits a Trap or Spin Route to requests whose
	// RouteRequest JSON contains these bytes, such as an x-sy- header's
	// name; the others get Decision. Such a module passes the upload check
	// and fails at the edge on requests that carry the header.
	Containing string
	// ABIVersion is what sy_abi_version returns. Default 1.
	ABIVersion int32
	// NoRoute leaves the sy_route export out.
	NoRoute bool
	// Import, when set, adds a () -> () function import {module, name}.
	Import [2]string
	// MemoryPages is the memory's minimum size. Default 17: the request
	// buffer sits at RequestAt (64 KiB) and a RouteRequest may be 1 MiB.
	MemoryPages uint32
	// Padding adds a custom section of this many bytes, which makes the
	// module that large without changing what it does.
	Padding int
}

// Where a Module keeps its decision, and where its sy_alloc puts every
// request.
const (
	DecisionAt = 16
	RequestAt  = 1 << 16
)

// Decision is a valid plugin that answers decision to every request.
func Decision(decision string) []byte { return Module{Decision: decision}.Bytes() }

// Bytes assembles the module.
func (m Module) Bytes() []byte { return m.Raw().Bytes() }

// Raw is the module function by function. Its functions are exported
// under their ABI names (sy_route is defined but not exported with
// NoRoute), after Import if there is one.
func (m Module) Raw() *Raw {
	if m.ABIVersion == 0 {
		m.ABIVersion = 1
	}
	if m.MemoryPages == 0 {
		m.MemoryPages = 17
	}
	var fail []byte
	switch m.Route {
	case Trap:
		fail = []byte{OpUnreachable}
	case Spin:
		fail = Code([]byte{OpLoop, BlockVoid, OpBr, 0, OpEnd})
	}
	answer := Packed(DecisionAt, uint32(len(m.Decision)))
	route := answer
	data := []Data{{DecisionAt, []byte(m.Decision)}}
	var locals []byte
	switch {
	case fail != nil && m.Containing != "":
		at := uint32(DecisionAt + len(m.Decision))
		data = append(data, Data{at, []byte(m.Containing)})
		route = Code(searching(at, int32(len(m.Containing)), fail), answer)
		locals = []byte{TypeI32, TypeI32}
	case fail != nil && m.Above > 0:
		route = Code([]byte{OpLocalGet, 1}, I32(m.Above), []byte{OpI32GtU, OpIf, BlockVoid}, fail, []byte{OpEnd}, answer)
	case fail != nil:
		route = Code(fail, []byte{OpUnreachable})
	}
	r := &Raw{
		MemoryPages:  m.MemoryPages,
		ExportMemory: true,
		Data:         data,
		Funcs: []Func{
			{Name: "sy_abi_version", Results: []byte{TypeI32}, Body: I32(m.ABIVersion)},
			{Name: "sy_alloc", Params: []byte{TypeI32}, Results: []byte{TypeI32}, Body: I32(RequestAt)},
			{Name: "sy_route", Params: []byte{TypeI32, TypeI32}, Results: []byte{TypeI64}, Locals: locals, Body: route},
		},
		Padding: m.Padding,
	}
	if m.NoRoute {
		r.Funcs[2].Name = ""
	}
	if m.Import[0] != "" {
		r.Imports = []Func{{Module: m.Import[0], Name: m.Import[1]}}
	}
	return r
}

// searching is sy_route code (params ptr and len, locals 2 and 3 free)
// that runs fail when the n bytes at pattern occur in the request.
func searching(pattern uint32, n int32, fail []byte) []byte {
	const ptr, size, i, j = 0, 1, 2, 3
	get := func(l byte) []byte { return []byte{OpLocalGet, l} }
	set := func(l byte) []byte { return []byte{opLocalSet, l} }
	return Code(
		[]byte{opBlock, BlockVoid, OpLoop, BlockVoid},
		// Past the last place the pattern could start: not found.
		get(i), I32(n), []byte{opI32Add}, get(size), []byte{OpI32GtU, OpBrIf, 1},
		I32(0), set(j),
		[]byte{opBlock, BlockVoid, OpLoop, BlockVoid},
		get(j), I32(n), []byte{opI32Eq, OpIf, BlockVoid}, fail, []byte{OpEnd},
		get(ptr), get(i), []byte{opI32Add}, get(j), []byte{opI32Add, opI32Load8U, 0, 0},
		get(j), []byte{opI32Load8U, 0}, uleb(uint64(pattern)),
		[]byte{OpI32Ne, OpBrIf, 1},
		get(j), I32(1), []byte{opI32Add}, set(j), []byte{OpBr, 0, OpEnd, OpEnd},
		get(i), I32(1), []byte{opI32Add}, set(i), []byte{OpBr, 0, OpEnd, OpEnd},
	)
}

// Opcodes only this package uses.
const (
	opBlock     = 0x02
	opLocalSet  = 0x21
	opI32Load8U = 0x2d
	opI32Eq     = 0x46
	opI32Add    = 0x6a
)

// Route is an sy_route export doing body, whose code is joined.
func Route(body ...[]byte) Func {
	return Func{Name: "sy_route", Params: []byte{TypeI32, TypeI32}, Results: []byte{TypeI64}, Body: Code(body...)}
}

// Raw is a module described function by function. Each function, imports
// first, gets a type of its own at its own index, so a call_indirect names
// a signature by the index of a function that has it.
type Raw struct {
	// Imports are function imports; Module and Name are set. They take the
	// first function indices.
	Imports []Func
	// Funcs are the defined functions; Name is the export name, and ""
	// exports nothing.
	Funcs []Func
	// MemoryPages is the memory's minimum size; 0 defines no memory.
	MemoryPages uint32
	// ExportMemory exports the memory as "memory".
	ExportMemory bool
	// Table, when set, defines a funcref table holding these function
	// indices from slot 0, for call_indirect.
	Table []uint32
	// Data are active data segments in the memory.
	Data []Data
	// Padding adds a custom section of this many bytes.
	Padding int
}

// Func is a function: an import, or a defined function with its code.
type Func struct {
	Module, Name    string
	Params, Results []byte
	Locals          []byte // one value type per local
	Body            []byte // without the closing end
}

// Data is a data segment.
type Data struct {
	Offset uint32
	Bytes  []byte
}

// Bytes assembles the module.
func (m *Raw) Bytes() []byte {
	all := append(slices.Clone(m.Imports), m.Funcs...)
	var types, imports, funcs, tables, mems, exports, elems, bodies, data [][]byte
	for i, f := range all {
		types = append(types, Code([]byte{0x60}, vec(f.Params), vec(f.Results)))
		if i < len(m.Imports) {
			imports = append(imports, Code(name(f.Module), name(f.Name), []byte{0x00}, uleb(uint64(i))))
			continue
		}
		funcs = append(funcs, uleb(uint64(i)))
		if f.Name != "" {
			exports = append(exports, Code(name(f.Name), []byte{0x00}, uleb(uint64(i))))
		}
		var locals []byte
		for _, l := range f.Locals {
			locals = append(locals, 1, l)
		}
		body := Code(uleb(uint64(len(f.Locals))), locals, f.Body, []byte{OpEnd})
		bodies = append(bodies, Code(uleb(uint64(len(body))), body))
	}
	if m.Table != nil {
		n := uleb(uint64(len(m.Table)))
		tables = [][]byte{Code([]byte{0x70, 0x00}, n)}
		var idx []byte
		for _, f := range m.Table {
			idx = append(idx, uleb(uint64(f))...)
		}
		elems = [][]byte{Code([]byte{0x00}, I32(0), []byte{OpEnd}, n, idx)}
	}
	if m.MemoryPages > 0 {
		mems = [][]byte{Code([]byte{0x00}, uleb(uint64(m.MemoryPages)))}
		if m.ExportMemory {
			exports = append(exports, Code(name("memory"), []byte{0x02, 0x00}))
		}
	}
	for _, d := range m.Data {
		data = append(data, Code([]byte{0x00}, I32(int32(d.Offset)), []byte{OpEnd}, vec(d.Bytes)))
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range []struct {
		id    byte
		items [][]byte
	}{{1, types}, {2, imports}, {3, funcs}, {4, tables}, {5, mems}, {7, exports}, {9, elems}, {10, bodies}, {11, data}} {
		if len(s.items) > 0 {
			out = append(out, section(s.id, Code(uleb(uint64(len(s.items))), Code(s.items...)))...)
		}
	}
	if m.Padding > 0 {
		out = append(out, section(0, Code(name("padding"), make([]byte, m.Padding)))...)
	}
	return out
}

// Index is the function index of the function exported as name, for call
// instructions; it panics if there is none.
func (m *Raw) Index(name string) uint32 {
	for i, f := range m.Funcs {
		if f.Name == name {
			return uint32(len(m.Imports) + i)
		}
	}
	panic("wasmtest: no function exported as " + name)
}

// With replaces the function exported as f.Name, or adds it.
func (m *Raw) With(f Func) *Raw {
	c := *m
	c.Funcs = slices.Clone(m.Funcs)
	for i := range c.Funcs {
		if c.Funcs[i].Name == f.Name {
			c.Funcs[i] = f
			return &c
		}
	}
	c.Funcs = append(c.Funcs, f)
	return &c
}

// Without drops the function exported as name.
func (m *Raw) Without(name string) *Raw {
	c := *m
	c.Funcs = slices.DeleteFunc(slices.Clone(m.Funcs), func(f Func) bool { return f.Name == name })
	return &c
}

// Importing adds a function import; the defined functions' indices move up
// by one.
func (m *Raw) Importing(f Func) *Raw {
	c := *m
	c.Imports = append(slices.Clone(m.Imports), f)
	return &c
}

// Value types and the opcodes tests use.
const (
	TypeI32   = 0x7f
	TypeI64   = 0x7e
	BlockVoid = 0x40

	OpUnreachable  = 0x00
	OpLoop         = 0x03
	OpIf           = 0x04
	OpElse         = 0x05
	OpEnd          = 0x0b
	OpBr           = 0x0c
	OpBrIf         = 0x0d
	OpCall         = 0x10
	OpCallIndirect = 0x11
	OpDrop         = 0x1a
	OpLocalGet     = 0x20
	OpI32Const     = 0x41
	OpI64Const     = 0x42
	OpI32Ne        = 0x47
	OpI32GtU       = 0x4b
	OpI32Sub       = 0x6b
	OpMemoryGrow   = 0x40
)

// I32 is i32.const v.
func I32(v int32) []byte { return append([]byte{OpI32Const}, sleb(int64(v))...) }

// I64 is i64.const v.
func I64(v int64) []byte { return append([]byte{OpI64Const}, sleb(v)...) }

// Packed is sy_route's result for a decision at ptr of n bytes.
func Packed(ptr, n uint32) []byte { return I64(int64(uint64(ptr)<<32 | uint64(n))) }

// Call is a call of function index f.
func Call(f uint32) []byte { return append([]byte{OpCall}, uleb(uint64(f))...) }

// CallIndirect calls, through the table, the function whose slot is on
// the stack, with the signature of function index typeOf.
func CallIndirect(typeOf uint32) []byte {
	return Code([]byte{OpCallIndirect}, uleb(uint64(typeOf)), []byte{0x00})
}

// Code joins pieces of code.
func Code(parts ...[]byte) []byte { return slices.Concat(parts...) }

func section(id byte, payload []byte) []byte {
	return Code([]byte{id}, uleb(uint64(len(payload))), payload)
}

func vec(b []byte) []byte  { return append(uleb(uint64(len(b))), b...) }
func name(s string) []byte { return vec([]byte(s)) }
func uleb(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// sleb is signed LEB128, which binary.AppendVarint (zig-zag) is not.
func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}
