package host

import (
	"encoding/binary"
	"errors"
)

// Fuel bounds a call's work where no deadline can: on GOOS=js the Go
// program has one thread and no preemption, so the goroutine that would
// close a module when its context's deadline passes never runs while the
// interpreter spins, and workerd does not even advance the clock during
// CPU work. So the module counts its own work.
//
// Load rewrites the module (guardEntries, with meter) to keep a counter in
// a global of its own, exported as fuelExport, which the host sets before
// each call. Every function entry and every loop header subtracts what the
// code it starts can run before the next one, and traps when the counter
// goes below 0. The unit is a byte of code: a function's entry is charged
// the bytes of its body outside its loops, a loop's header the bytes of its
// body outside nested loops, each plus checkCost for the check itself.
// Within such a stretch every instruction runs at most once (a backward
// jump is a jump to a loop header, which charges again), and a call
// charges at the callee's entry, so a call that has used F units has run
// at most F bytes of code, whatever the module does. Bulk memory and table
// instructions, whose work grows with their count operand, are charged that
// count too (bulkCost).
//
// The charge for a stretch is its size, not the part of it that runs, so a
// loop over a large switch pays for every case on every turn. The budget
// is set from measured plugins, with a margin (plugins/RATIONALE.md).

// fuelExport names the counter's export. The name cannot be a plugin's
// own: a module exporting it already fails to compile.
const fuelExport = "switchyard:fuel"

// checkCost is one check's own cost, about its size in bytes.
const checkCost = 16

// meter adds fuel metering to one module.
type meter struct {
	init            int64
	fuel, scratch   uint32 // global indices: the counter, and a place for a count operand
	globals, export bool   // the sections that now hold them are written
}

func newMeter(init int64, importedGlobals int, globals []byte) (*meter, error) {
	n := uint32(0)
	if globals != nil {
		r := reader{b: globals}
		n = r.u32()
		if r.err != nil {
			return nil, errors.New("global section: " + r.err.Error())
		}
	}
	fuel := uint32(importedGlobals) + n
	return &meter{init: init, fuel: fuel, scratch: fuel + 1}, nil
}

// Section ids, and their order in a module (custom sections, id 0, may go
// anywhere).
const (
	globalSection = 6
	exportSection = 7
)

var sectionOrder = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type newSection struct {
	id      byte
	payload []byte
}

// missing returns the sections meter needs that must come before a
// section id and are not in the module; 0xff means the end of the module.
func (m *meter) missing(id byte) []newSection {
	if id == 0 {
		return nil
	}
	rank, ok := sectionOrder[id]
	if !ok {
		rank = len(sectionOrder) + 1
	}
	var out []newSection
	if !m.globals && rank > sectionOrder[globalSection] {
		m.globals = true
		out = append(out, newSection{globalSection, append([]byte{2}, m.globalEntries()...)})
	}
	if !m.export && rank > sectionOrder[exportSection] {
		m.export = true
		out = append(out, newSection{exportSection, append([]byte{1}, m.exportEntry()...)})
	}
	return out
}

// extend adds meter's globals and export to the module's own sections.
func (m *meter) extend(id byte, payload []byte) ([]byte, error) {
	var add []byte
	var k uint64
	switch id {
	case globalSection:
		m.globals, add, k = true, m.globalEntries(), 2
	case exportSection:
		m.export, add, k = true, m.exportEntry(), 1
	default:
		return payload, nil
	}
	r := reader{b: payload}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := binary.AppendUvarint(make([]byte, 0, len(payload)+len(add)+5), uint64(n)+k)
	out = append(out, payload[r.i:]...)
	return append(out, add...), nil
}

// globalEntries are the counter (i64, starting at init) and the scratch
// global (i32).
func (m *meter) globalEntries() []byte {
	out := append([]byte{0x7e, 0x01, 0x42}, sleb(m.init)...)
	return append(out, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
}

func (m *meter) exportEntry() []byte {
	out := binary.AppendUvarint(nil, uint64(len(fuelExport)))
	out = append(out, fuelExport...)
	out = append(out, 0x03)
	return binary.AppendUvarint(out, uint64(m.fuel))
}

// bulkCost is the shift applied to the count operand of each bulk
// instruction, by its 0xfc opcode: a byte of memory.fill or memory.copy
// costs far less than an interpreted instruction, an element of a table
// about as much.
var bulkCost = map[uint32]uint{
	8:  4, // memory.init
	10: 4, // memory.copy
	11: 4, // memory.fill
	12: 0, // table.init
	14: 0, // table.copy
	15: 0, // table.grow
	17: 0, // table.fill
}

// body returns a function's instructions (after its locals) with charges
// at its entry, at each loop header and before each bulk instruction.
func (m *meter) body(code []byte) ([]byte, error) {
	type charge struct {
		at     int // offset in code
		region int // the stretch it charges for; -1 for a bulk instruction
		shift  uint
	}
	costs := []int64{checkCost} // by stretch: the function's, then each loop's
	charges := []charge{{at: 0, region: 0}}
	var open []int // the stretch to go back to at each open block's end
	cur := 0
	r := reader{b: code}
	for r.i < len(r.b) {
		start := r.i
		op, arg := r.instr()
		costs[cur] += int64(r.i - start)
		switch op {
		case 0x02, 0x04: // block, if
			open = append(open, cur)
		case 0x03: // loop
			open = append(open, cur)
			cur = len(costs)
			costs = append(costs, checkCost)
			charges = append(charges, charge{at: r.i, region: cur})
		case 0x0b: // end; the function's own has no open block
			if len(open) > 0 {
				cur, open = open[len(open)-1], open[:len(open)-1]
			}
		case 0xfc:
			if shift, ok := bulkCost[arg]; ok {
				charges = append(charges, charge{at: start, region: -1, shift: shift})
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	out := make([]byte, 0, len(code)+len(charges)*24)
	prev := 0
	for _, c := range charges {
		out = append(out, code[prev:c.at]...)
		prev = c.at
		if c.region >= 0 {
			out = m.chargeFixed(out, costs[c.region])
		} else {
			out = m.chargeCount(out, c.shift)
		}
	}
	return append(out, code[prev:]...), nil
}

// chargeFixed subtracts cost from the counter and traps when it is below 0.
func (m *meter) chargeFixed(out []byte, cost int64) []byte {
	out = m.global(out, 0x23, m.fuel) // global.get
	out = append(out, 0x42)           // i64.const
	out = append(out, sleb(cost)...)
	out = append(out, 0x7d)           // i64.sub
	out = m.global(out, 0x24, m.fuel) // global.set
	return m.trapWhenOut(out)
}

// chargeCount subtracts the i32 count on top of the stack, shifted right
// by shift, plus checkCost, and leaves the count where it was.
func (m *meter) chargeCount(out []byte, shift uint) []byte {
	out = m.global(out, 0x24, m.scratch) // global.set: the count
	out = m.global(out, 0x23, m.fuel)
	out = m.global(out, 0x23, m.scratch)
	out = append(out, 0xad, 0x42) // i64.extend_i32_u, i64.const
	out = append(out, sleb(int64(shift))...)
	out = append(out, 0x88, 0x7d, 0x42) // i64.shr_u, i64.sub, i64.const
	out = append(out, sleb(checkCost)...)
	out = append(out, 0x7d) // i64.sub
	out = m.global(out, 0x24, m.fuel)
	out = m.trapWhenOut(out)
	return m.global(out, 0x23, m.scratch) // the count, back
}

// trapWhenOut is `if (counter < 0) unreachable`.
func (m *meter) trapWhenOut(out []byte) []byte {
	out = m.global(out, 0x23, m.fuel)
	return append(out, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b) // i64.const 0, i64.lt_s, if, unreachable, end
}

func (m *meter) global(out []byte, op byte, index uint32) []byte {
	return binary.AppendUvarint(append(out, op), uint64(index))
}

// sleb is signed LEB128.
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
