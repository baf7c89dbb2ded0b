// Package sse reads and writes server-sent events as the model APIs use them.
package sse

import (
	"bufio"
	"bytes"
	"io"
)

// Event is one server-sent event. Raw holds the event's bytes exactly as
// received, terminator included, so a pass-through can forward it untouched.
// The slices are valid until the next call to Next.
type Event struct {
	Name string
	Data []byte
	Raw  []byte
}

// Reader splits a stream into events. Events may arrive split across reads
// in any way; Reader reassembles them.
type Reader struct {
	br   *bufio.Reader
	raw  []byte
	data []byte
	ev   Event
}

// NewReader returns a reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
}

// Next returns the next event with data, skipping comments and empty events.
// At the end of the stream it returns io.EOF, or io.ErrUnexpectedEOF when the
// stream stopped inside an event.
func (r *Reader) Next() (*Event, error) {
	r.raw, r.data = r.raw[:0], r.data[:0]
	r.ev = Event{}
	hasData := false
	for {
		line, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: gather it whole.
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = r.br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil {
			if err == io.EOF {
				if len(line) > 0 || len(r.raw) > 0 {
					if hasData && len(line) == 0 {
						return r.finish(), nil
					}
					return nil, io.ErrUnexpectedEOF
				}
				return nil, io.EOF
			}
			return nil, err
		}
		r.raw = append(r.raw, line...)
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			if hasData || r.ev.Name != "" {
				return r.finish(), nil
			}
			r.raw = r.raw[:0]
			continue
		}
		if content[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(content, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			r.ev.Name = string(value)
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		}
	}
}

func (r *Reader) finish() *Event {
	r.ev.Data = r.data
	r.ev.Raw = r.raw
	return &r.ev
}

// AppendData appends a data-only event.
func AppendData(dst, data []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

// AppendEvent appends a named event.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, '\n')
	return AppendData(dst, data)
}
