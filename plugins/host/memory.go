package host

import "github.com/tetratelabs/wazero/experimental"

// linearMemory backs one instance's memory and enforces the host's memory
// cap itself, rather than through wazero's page limit, which refuses a
// grow without telling anyone. Knowing that a grow was refused is what
// tells "out of memory" apart from whatever the guest's runtime does next
// (Go exits, AssemblyScript traps).
type linearMemory struct {
	buf     []byte
	limit   uint64 // bytes
	refused bool
}

var _ experimental.LinearMemory = (*linearMemory)(nil)

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// A quarter of headroom, as append gives large slices, keeps a module
	// that grows page by page from copying its memory at every step
	// without reserving much it will not use.
	buf := make([]byte, size, min(max(size, uint64(cap(m.buf))*5/4), m.limit))
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

func (m *linearMemory) Free() { m.buf = nil }
