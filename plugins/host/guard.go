package host

import (
	"encoding/binary"
	"errors"
)

// guardEntries returns the module with an empty loop at the start of every
// function body.
//
// wazero stops a call that runs past its deadline only where the code
// checks, and it checks at loop headers. A function that recurses twice
// into itself has no loop and runs for 2^depth calls; in compiled code it
// cannot be preempted either, so it would run on past the deadline and
// hold up the Go runtime's next stop-the-world, freezing every goroutine.
// An empty loop is a loop header: with one at each entry, every call
// checks.
func guardEntries(wasm []byte) ([]byte, error) {
	const codeSection = 10
	out := make([]byte, 0, len(wasm)+64<<10)
	out = append(out, wasm[:8]...) // magic and version, checked by Load
	for r := (reader{b: wasm, i: 8}); r.i < len(r.b); {
		id := r.byte()
		payload := r.bytes(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		if id == codeSection {
			var err error
			if payload, err = guardBodies(payload); err != nil {
				return nil, err
			}
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	return out, nil
}

// emptyLoop is `loop (no result) end`.
var emptyLoop = []byte{0x03, 0x40, 0x0b}

func guardBodies(section []byte) ([]byte, error) {
	r := reader{b: section}
	n := r.u32()
	if uint64(n) > uint64(len(section)) { // each body takes a byte at least
		return nil, errors.New("code section: more functions than bytes")
	}
	out := binary.AppendUvarint(make([]byte, 0, len(section)+int(n)*len(emptyLoop)), uint64(n))
	for range n {
		body := r.bytes(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		// The locals come first: a vector of (count, type) pairs, each
		// type one byte in WebAssembly 2.0.
		b := reader{b: body}
		for range b.u32() {
			b.u32()
			b.byte()
		}
		if b.err != nil {
			return nil, b.err
		}
		out = binary.AppendUvarint(out, uint64(len(body)+len(emptyLoop)))
		out = append(out, body[:b.i]...)
		out = append(out, emptyLoop...)
		out = append(out, body[b.i:]...)
	}
	if r.i != len(section) {
		return nil, errors.New("code section: data after the last function")
	}
	return out, nil
}

// reader reads the binary format's integers; the first error sticks.
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

func (r *reader) bytes(n uint32) []byte {
	if uint64(len(r.b)-r.i) < uint64(n) {
		r.fail("a section or function runs past the end of the module")
		return nil
	}
	r.i += int(n)
	return r.b[r.i-int(n) : r.i]
}
