// Package wasmtest assembles tiny routing plugins (plugins/ABI.md) byte by
// byte, for tests that need a real module without a WebAssembly toolchain:
// one that answers a fixed decision, and the hostile shapes the host must
// refuse or contain (a trap, an endless loop, a wrong ABI version, a
// missing export, a forbidden import, too much memory).
package wasmtest

import "encoding/binary"

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
	// ABIVersion is what sy_abi_version returns. Default 1.
	ABIVersion int32
	// NoRoute leaves the sy_route export out.
	NoRoute bool
	// Import, when set, adds a () -> () function import {module, name}.
	Import [2]string
	// MemoryPages is the memory's minimum size. Default 17: the request
	// buffer sits at 64 KiB and a RouteRequest may be 1 MiB.
	MemoryPages uint32
	// Padding adds a custom section of this many bytes, which makes the
	// module that large without changing what it does.
	Padding int
}

// Decision is a valid plugin that answers decision to every request.
func Decision(decision string) []byte { return Module{Decision: decision}.Bytes() }

const (
	typeI32    = 0x7f
	typeI64    = 0x7e
	opEnd      = 0x0b
	decisionAt = 16
	requestAt  = 1 << 16
)

// Bytes assembles the module.
func (m Module) Bytes() []byte {
	if m.ABIVersion == 0 {
		m.ABIVersion = 1
	}
	if m.MemoryPages == 0 {
		m.MemoryPages = 17
	}
	types := vec(
		functype(nil, []byte{typeI32}),                      // 0: sy_abi_version
		functype([]byte{typeI32}, []byte{typeI32}),          // 1: sy_alloc
		functype([]byte{typeI32, typeI32}, []byte{typeI64}), // 2: sy_route
		functype(nil, nil),                                  // 3: the optional import
	)
	var imports []byte
	nImports := 0
	if m.Import[0] != "" {
		imports = vec(cat(name(m.Import[0]), name(m.Import[1]), []byte{0x00}, uleb(3)))
		nImports = 1
	}
	funcs := vec(uleb(0), uleb(1), uleb(2))
	memory := vec(cat([]byte{0x00}, uleb(uint64(m.MemoryPages))))
	exportList := [][]byte{
		cat(name("memory"), []byte{0x02}, uleb(0)),
		cat(name("sy_abi_version"), []byte{0x00}, uleb(uint64(nImports))),
		cat(name("sy_alloc"), []byte{0x00}, uleb(uint64(nImports+1))),
	}
	if !m.NoRoute {
		exportList = append(exportList, cat(name("sy_route"), []byte{0x00}, uleb(uint64(nImports+2))))
	}
	var fail []byte
	switch m.Route {
	case Trap:
		fail = []byte{0x00} // unreachable
	case Spin:
		fail = []byte{0x03, 0x40, 0x0c, 0x00, opEnd} // loop br 0 end
	}
	answer := cat([]byte{0x42}, sleb(int64(decisionAt)<<32|int64(len(m.Decision))), []byte{opEnd})
	route := answer
	switch {
	case fail != nil && m.Above > 0:
		// if (len > Above) { fail } answer
		cond := cat([]byte{0x20, 0x01, 0x41}, sleb(int64(m.Above)), []byte{0x4b, 0x04, 0x40})
		route = cat(cond, fail, []byte{opEnd}, answer)
	case fail != nil:
		route = cat(fail, []byte{0x00, opEnd})
	}
	code := vec(
		body(cat([]byte{0x41}, sleb(int64(m.ABIVersion)), []byte{opEnd})),
		body(cat([]byte{0x41}, sleb(requestAt), []byte{opEnd})),
		body(route),
	)
	data := vec(cat([]byte{0x00, 0x41}, sleb(decisionAt), []byte{opEnd}, name(m.Decision)))

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, types)...)
	if imports != nil {
		out = append(out, section(2, imports)...)
	}
	out = append(out, section(3, funcs)...)
	out = append(out, section(5, memory)...)
	out = append(out, section(7, vec(exportList...))...)
	out = append(out, section(10, code)...)
	out = append(out, section(11, data)...)
	if m.Padding > 0 {
		out = append(out, section(0, cat(name("padding"), make([]byte, m.Padding)))...)
	}
	return out
}

func functype(params, results []byte) []byte {
	return cat([]byte{0x60}, uleb(uint64(len(params))), params, uleb(uint64(len(results))), results)
}

// body is a function body with no locals.
func body(expr []byte) []byte {
	b := cat([]byte{0x00}, expr)
	return cat(uleb(uint64(len(b))), b)
}

func section(id byte, payload []byte) []byte {
	return cat([]byte{id}, uleb(uint64(len(payload))), payload)
}

func vec(items ...[]byte) []byte { return cat(append([][]byte{uleb(uint64(len(items)))}, items...)...) }

func name(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

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
