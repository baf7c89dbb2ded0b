package host

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// guardEntries returns the module with an empty loop at the start of each
// function that could otherwise run for long without passing a check, and,
// when initFuel > 0, with fuel metering (fuel.go) whose counter starts at
// initFuel.
//
// wazero stops a call that runs past its deadline only where the code
// checks, and it checks at loop headers only (not at calls). A function
// that recurses twice into itself has no loop and runs for 2^depth calls;
// in compiled code it cannot be preempted either, so it would run on past
// the deadline and hold up the Go runtime's next stop-the-world, freezing
// every goroutine. An empty loop is a loop header: it makes the function's
// entry a check.
//
// A check costs a jump out to Go and back, so the loop goes only where it
// is needed (guardPlan): in every function that can take part in
// recursion, and in enough others that no chain of calls between checks
// runs more than about checkBudget bytes of code. A function that reaches
// a loop of its own before any branch or call already checks at entry and
// is left alone.
func guardEntries(wasm []byte, initFuel int64) ([]byte, error) {
	const importSection, codeSection = 2, 10
	if len(wasm) < 8 {
		return nil, errors.New("unexpected end of the module")
	}
	var imports, globals, code []byte
	for r := (reader{b: wasm, i: 8}); r.i < len(r.b); { // magic and version, checked by Load
		id := r.byte()
		payload := r.bytes(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		switch id {
		case importSection:
			imports = payload
		case globalSection:
			globals = payload
		case codeSection:
			code = payload
		}
	}
	bodies, err := splitBodies(code)
	if err != nil {
		return nil, err
	}
	importedFuncs, importedGlobals := countImports(imports)
	guard := guardPlan(importedFuncs, bodies)
	var m *meter
	if initFuel > 0 {
		if importedFuncs < 0 {
			return nil, errors.New("import section: cannot be read")
		}
		m, err = newMeter(initFuel, importedGlobals, globals)
		if err != nil {
			return nil, err
		}
	}
	payloads := make([][]byte, len(bodies))
	for i, b := range bodies {
		instrs := b.body[b.locals:]
		if m != nil {
			if instrs, err = m.body(instrs); err != nil {
				return nil, fmt.Errorf("function %d: %w", importedFuncs+i, err)
			}
		}
		if guard[i] {
			instrs = append(slices.Clip(emptyLoop), instrs...)
		}
		if m == nil && !guard[i] {
			payloads[i] = b.body
			continue
		}
		payloads[i] = append(slices.Clip(b.body[:b.locals]), instrs...)
	}

	out := make([]byte, 0, len(wasm)+len(bodies)*len(emptyLoop)+16)
	out = append(out, wasm[:8]...)
	section := func(id byte, payload []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	for r := (reader{b: wasm, i: 8}); r.i < len(r.b); {
		id := r.byte()
		payload := r.bytes(r.u32())
		if m != nil {
			for _, s := range m.missing(id) {
				section(s.id, s.payload)
			}
		}
		switch {
		case id == codeSection:
			payload = joinBodies(payloads)
		case m != nil:
			if payload, err = m.extend(id, payload); err != nil {
				return nil, err
			}
		}
		section(id, payload)
	}
	if m != nil {
		for _, s := range m.missing(0xff) {
			section(s.id, s.payload)
		}
	}
	return out, nil
}

// emptyLoop is `loop (no result) end`.
var emptyLoop = []byte{0x03, 0x40, 0x0b}

// checkBudget bounds, in bytes of code, how far a call may run between two
// checks through calls to functions without one (each instruction runs at
// most once between checks, since any backward jump is a loop header). At
// a few nanoseconds a byte in the interpreter, 16 KiB is well under a
// tenth of the 10ms deadline. A function's own body, and each of its
// call_indirect sites (whose target may be any unguarded function), can
// add to it: a single function body of more than the budget cannot be cut.
const checkBudget = 16 << 10

// funcBody is one entry of the code section.
type funcBody struct {
	body   []byte // the whole entry, locals included
	locals int    // where the instructions start in body
}

// splitBodies cuts the code section into function bodies.
func splitBodies(section []byte) ([]funcBody, error) {
	if section == nil {
		return nil, nil
	}
	r := reader{b: section}
	n := r.u32()
	if uint64(n) > uint64(len(section)) { // each body takes a byte at least
		return nil, errors.New("code section: more functions than bytes")
	}
	bodies := make([]funcBody, n)
	for i := range bodies {
		body := r.bytes(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		// The locals come first: a vector of (count, type) pairs, each
		// type one byte in WebAssembly 2.0.
		b := reader{b: body}
		for n := b.u32(); n > 0 && b.err == nil; n-- {
			b.u32()
			b.byte()
		}
		if b.err != nil {
			return nil, b.err
		}
		bodies[i] = funcBody{body: body, locals: b.i}
	}
	if r.i != len(section) {
		return nil, errors.New("code section: data after the last function")
	}
	return bodies, nil
}

// joinBodies makes a code section of function bodies.
func joinBodies(bodies [][]byte) []byte {
	size := 5
	for _, b := range bodies {
		size += 5 + len(b)
	}
	out := binary.AppendUvarint(make([]byte, 0, size), uint64(len(bodies)))
	for _, b := range bodies {
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

// countImports counts the function and global imports, which come first
// in their index spaces. It returns -1 functions for an import section it
// cannot read.
func countImports(section []byte) (funcs, globals int) {
	if section == nil {
		return 0, 0
	}
	r := reader{b: section}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.bytes(r.u32()) // module
		r.bytes(r.u32()) // name
		switch r.byte() {
		case 0x00: // function: type index
			r.u32()
			funcs++
		case 0x01: // table: reference type, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: value type, mutability
			r.byte()
			r.byte()
			globals++
		default:
			r.fail("unknown import kind")
		}
	}
	if r.err != nil {
		return -1, 0
	}
	return funcs, globals
}

// guardPlan says which bodies get an entry check. A module it cannot read
// (one wazero will refuse, or one using features beyond WebAssembly 2.0)
// gets one in every body.
//
// A body gets one when it is in a cycle of direct calls (recursion) or
// makes a call_indirect (its target may be any function, the caller
// included, so every cycle through an indirect call passes a caller).
// Without cycles, what is left of the call graph is acyclic, but it can
// still multiply: f0 calling f1 twice, f1 calling f2 twice, and so on,
// runs 2^n calls of code without a loop. So, callees first, each body's
// cost is its size plus the cost of each call it makes to an unguarded
// body; when that is over checkBudget, its most costly callees get checks
// until it is not (or none is left), and a body still over the budget at
// the end gets one itself.
func guardPlan(imported int, bodies []funcBody) []bool {
	guard := make([]bool, len(bodies))
	all := func() []bool {
		for i := range guard {
			guard[i] = true
		}
		return guard
	}
	if imported < 0 {
		return all()
	}
	type site struct {
		callee int // index into bodies; -1 for an import
		n      int // how many calls to it the body makes
	}
	sites := make([][]site, len(bodies))
	indirect := make([]int, len(bodies))
	checked := make([]bool, len(bodies)) // checks at entry already
	for i, b := range bodies {
		calls, n, loopFirst, err := scanBody(b.body[b.locals:])
		if err != nil {
			return all()
		}
		indirect[i], checked[i] = n, loopFirst
		slices.Sort(calls)
		for _, c := range calls {
			callee := int(c) - imported
			if callee >= len(bodies) {
				return all() // wazero refuses it anyway
			}
			if k := len(sites[i]); k > 0 && sites[i][k-1].callee == max(callee, -1) {
				sites[i][k-1].n++
			} else {
				sites[i] = append(sites[i], site{max(callee, -1), 1})
			}
		}
	}

	// Tarjan's strongly connected components, without recursion (the
	// module may have more functions than a goroutine's stack likes). It
	// finishes callees' components before their callers'.
	const unvisited = -1
	index, low := make([]int, len(bodies)), make([]int, len(bodies))
	onStack := make([]bool, len(bodies))
	for i := range index {
		index[i] = unvisited
	}
	var stack, order []int
	type frame struct{ v, next int }
	next := 0
	for root := range bodies {
		if index[root] != unvisited {
			continue
		}
		work := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(work) > 0 {
			f := &work[len(work)-1]
			if f.next < len(sites[f.v]) {
				w := sites[f.v][f.next].callee
				f.next++
				switch {
				case w < 0:
				case index[w] == unvisited:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					work = append(work, frame{w, 0})
				case onStack[w]:
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			work = work[:len(work)-1]
			if len(work) > 0 {
				u := work[len(work)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			// v roots a component: pop it.
			start := len(stack) - 1
			for stack[start] != v {
				start--
			}
			comp := stack[start:]
			stack = stack[:start]
			for _, w := range comp {
				onStack[w] = false
				order = append(order, w)
			}
			recursive := len(comp) > 1
			for _, s := range sites[v] {
				recursive = recursive || s.callee == v
			}
			if recursive {
				for _, w := range comp {
					guard[w] = true
				}
			}
		}
	}
	for i, n := range indirect {
		if n > 0 {
			guard[i] = true
		}
	}

	// Costs, callees first. A cycle's members are all guarded, so every
	// unguarded callee's cost is known when its caller's is computed. A
	// cost is kept at most maxCost, so that sums cannot overflow: a body
	// makes fewer than 2^24 calls.
	const maxCost = 1 << 32
	cost := make([]uint64, len(bodies))
	entry := func(i int) uint64 { // what a call to i adds to its caller
		if i < 0 || guard[i] || checked[i] {
			return 1
		}
		return cost[i]
	}
	for _, v := range order {
		c := uint64(len(bodies[v].body)) + uint64(indirect[v])*checkBudget
		for _, s := range sites[v] {
			c += entry(s.callee) * uint64(s.n)
		}
		if c > checkBudget {
			costly := slices.Clone(sites[v])
			slices.SortFunc(costly, func(a, b site) int {
				return cmp.Compare(entry(b.callee)*uint64(b.n), entry(a.callee)*uint64(a.n))
			})
			for _, s := range costly {
				if c <= checkBudget {
					break
				}
				if e := entry(s.callee); e > 1 {
					c -= (e - 1) * uint64(s.n)
					guard[s.callee] = true
				}
			}
		}
		cost[v] = min(c, maxCost)
	}
	// call_indirect's target may be any unguarded body; keep them all
	// under the budget that call_indirect sites were counted at.
	for i := range bodies {
		if cost[i] > checkBudget {
			guard[i] = true
		}
	}
	for i := range guard {
		if checked[i] {
			guard[i] = false
		}
	}
	return guard
}

// scanBody walks a function's instructions and returns the function
// indices it calls directly, how many call_indirect sites it has, and
// whether every call of it reaches a loop header before any branch or call
// (Go's compiler starts almost every function that way: its stack pointer
// into a local, a block, then a dispatch loop). An opcode outside
// WebAssembly 2.0 is an error.
func scanBody(code []byte) (calls []uint32, indirect int, checksAtEntry bool, err error) {
	r := reader{b: code}
	straight := true // no branch, call or loop yet
	for r.i < len(r.b) {
		op, arg := r.instr()
		if straight {
			switch {
			case op == 0x03:
				checksAtEntry, straight = true, false
			case op == 0x00 || op >= 0x04 && op <= 0x13: // unreachable, if … return_call_indirect
				straight = false
			}
		}
		switch op {
		case 0x10: // call
			calls = append(calls, arg)
		case 0x11: // call_indirect
			indirect++
		}
	}
	return calls, indirect, checksAtEntry, r.err
}

// instr reads one instruction and returns its opcode and one immediate:
// the function index of a call, the second opcode of a 0xfc instruction.
// An opcode outside WebAssembly 2.0 is an error.
func (r *reader) instr() (op byte, arg uint32) {
	op = r.byte()
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		r.blockType()
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x10: // call
		arg = r.u32()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		r.bytes(r.u32())
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41: // i32.const
		r.leb(5)
	case op == 0x42: // i64.const
		r.leb(10)
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op == 0xd0: // ref.null
		r.byte()
	case op == 0xd2: // ref.func
		r.u32()
	case op == 0xfc:
		arg = r.prefixedFC()
	case op == 0xfd:
		r.prefixedSIMD()
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// no immediates
	default:
		r.fail("opcode outside WebAssembly 2.0")
	}
	return op, arg
}

// reader reads the binary format; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.i = len(r.b)
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.fail("unexpected end of the module")
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 || n > 5 || v > 1<<32-1 {
		r.fail("invalid LEB128 integer")
		return 0
	}
	r.i += n
	return uint32(v)
}

// leb skips a signed LEB128 integer of at most max bytes.
func (r *reader) leb(max int) {
	for n := 1; ; n++ {
		if n > max {
			r.fail("invalid LEB128 integer")
			return
		}
		if r.byte()&0x80 == 0 {
			return
		}
	}
}

func (r *reader) bytes(n uint32) []byte {
	if uint64(len(r.b)-r.i) < uint64(n) {
		r.fail("a section or function runs past the end of the module")
		return nil
	}
	r.i += int(n)
	return r.b[r.i-int(n) : r.i]
}

func (r *reader) limits() {
	switch r.byte() {
	case 0x00:
		r.u32()
	case 0x01:
		r.u32()
		r.u32()
	default:
		r.fail("limits outside WebAssembly 2.0")
	}
}

// blockType skips a block type: 0x40, a value type, or a type index as a
// positive signed 33-bit integer.
func (r *reader) blockType() {
	if r.i < len(r.b) && r.b[r.i]&0xc0 == 0x40 { // one byte, negative
		r.i++
		return
	}
	r.leb(5)
}

func (r *reader) memarg() {
	r.u32() // alignment
	r.u32() // offset
}

func (r *reader) prefixedFC() uint32 {
	op := r.u32()
	switch {
	case op <= 7: // saturating truncations
	case op == 8: // memory.init
		r.u32()
		r.byte()
	case op == 9, op == 11, op == 13, op >= 15 && op <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	case op == 10, op == 12, op == 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	default:
		r.fail("0xfc opcode outside WebAssembly 2.0")
	}
	return op
}

func (r *reader) prefixedSIMD() {
	switch op := r.u32(); {
	case op <= 11, op == 92, op == 93: // loads, store, load zero
		r.memarg()
	case op == 12, op == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case op >= 21 && op <= 34: // extract and replace lane
		r.byte()
	case op >= 84 && op <= 91: // load and store lane
		r.memarg()
		r.byte()
	case op <= 255:
		// no immediates
	default:
		r.fail("SIMD opcode outside WebAssembly 2.0")
	}
}
