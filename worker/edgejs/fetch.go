//go:build js && wasm

package edgejs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"syscall/js"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Fetch is a worker.Upstream over the isolate's fetch. It runs each
// operation through the io object of the request in ctx (see withIO), so
// that the fetch and its body belong to that request's context; work for no
// single request uses direct, which runs in the current context. The
// response body is read chunk by chunk, so streams pass through as they
// arrive.
type Fetch struct {
	direct js.Value
}

// NewFetch returns an upstream whose requests without an io in their
// context use direct: an object with fetch(url, init), read(reader) and
// cancel(reader), as the shim provides.
func NewFetch(direct js.Value) *Fetch { return &Fetch{direct: direct} }

var _ worker.Upstream = (*Fetch)(nil)

func (f *Fetch) io(ctx context.Context) js.Value { return ioFor(ctx, f.direct) }

func (f *Fetch) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	io := f.io(ctx)
	token := jsObject.New()
	init := jsObject.New()
	init.Set("method", r.Method)
	init.Set("headers", flatHeaders(r.Header))
	if len(r.Body) > 0 {
		init.Set("body", bytesToJS(r.Body))
	}
	// The abort covers the whole exchange, body included, until Close.
	stop := context.AfterFunc(ctx, func() {
		token.Set("aborted", true)
		io.Call("later", "abort", []any{token})
	})
	res, err := call(ctx, io, "fetch", r.URL, init, token)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	header := http.Header{}
	parseHeaders(res.Get("headers").String(), header.Add)
	body := &bodyReader{ctx: ctx, stop: stop, io: io, reader: res.Get("body")}
	return &worker.UpstreamResponse{Status: res.Get("status").Int(), Header: header, Body: body}, nil
}

// bodyReader reads a ReadableStream's default reader.
type bodyReader struct {
	ctx    context.Context
	stop   func() bool
	io     js.Value
	reader js.Value // null for an empty body
	buf    []byte
	done   bool

	closeOnce sync.Once
}

func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.done || b.reader.IsNull() {
			return 0, io.EOF
		}
		chunk, err := call(b.ctx, b.io, "read", b.reader)
		if err != nil {
			if b.ctx.Err() != nil {
				return 0, b.ctx.Err()
			}
			return 0, err
		}
		if chunk.Get("done").Bool() {
			b.done = true
			return 0, io.EOF
		}
		b.buf = bytesFromJS(b.buf[:0], chunk.Get("value"))
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// Close cancels the rest of the body, which tells workerd to drop the
// upstream connection.
func (b *bodyReader) Close() error {
	b.closeOnce.Do(func() {
		b.stop()
		if !b.done && !b.reader.IsNull() {
			_ = try(func() { b.io.Call("later", "cancel", []any{b.reader}) })
		}
	})
	return nil
}

var errClientGone = errors.New("client went away")
