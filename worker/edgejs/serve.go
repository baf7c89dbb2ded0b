//go:build js && wasm

package edgejs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"

	"github.com/switchyard-ai/switchyard/worker"
)

// Edge serves requests handed over by the shim.
type Edge struct {
	g      *worker.Gateway
	bg     *Background
	log    *slog.Logger
	before func(ctx context.Context) (wait func())
}

// NewEdge serves g. Background work that g's parts queue on bg is handed to
// a request that ends, which runs it in its context and waits for it.
// before, when set, runs at the start of every request with the request's
// context; the request does not finish before the function it returns
// (if any) has returned.
func NewEdge(g *worker.Gateway, bg *Background, log *slog.Logger, before func(ctx context.Context) (wait func())) *Edge {
	return &Edge{g: g, bg: bg, log: log, before: before}
}

// Serve answers a request the shim read: {method, url, headers,
// body, tooLarge, country}. io carries out the request's I/O in its own
// context (see Fetch). It returns {answer, finished, cancel}: a Promise of
// the answer the shim turns into a Response ({status, headers, body} or
// {status, headers, pipe} for a stream), a Promise that settles when Go is
// done with the request (a streamed body's end included), and a function
// the shim calls when the client goes away.
func (e *Edge) Serve(req, io js.Value) js.Value {
	answer, resolve, _ := newPromise()
	fin, finish, _ := newPromise()
	ctx, cancel := context.WithCancel(withIO(context.Background(), io))
	rw := &responder{resolve: resolve, io: io, ctx: ctx}
	cancelFn := js.FuncOf(func(js.Value, []js.Value) any {
		rw.gone.Store(true)
		cancel()
		return nil
	})
	go func() {
		defer func() {
			cancel()
			cancelFn.Release()
			finish.Invoke()
		}()
		e.serve(ctx, req, io, rw)
	}()
	out := jsObject.New()
	out.Set("answer", answer)
	out.Set("finished", fin)
	out.Set("cancel", cancelFn)
	return out
}

func (e *Edge) serve(ctx context.Context, in, io js.Value, rw *responder) {
	var wait func()
	defer func() {
		if r := recover(); r != nil {
			// The core does not panic on any input the tests know; if it
			// does, this request fails alone instead of the whole isolate.
			// Only the panic's type: its value could quote the request.
			e.log.Error("request panicked", "panic", fmt.Sprintf("%T", r))
			if !rw.started {
				rw.Respond(http.StatusInternalServerError, [][2]string{{"Content-Type", "application/json"}},
					[]byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`))
			}
		}
		rw.close()
		if wait != nil {
			wait()
		}
		e.bg.HandTo(io)
	}()
	if e.before != nil {
		wait = e.before(ctx)
	}
	h := headers{}
	parseHeaders(in.Get("headers").String(), func(name, value string) { h[name] = value })
	path := "/"
	if u, err := url.Parse(in.Get("url").String()); err == nil {
		path = u.Path
	}
	if in.Get("tooLarge").Bool() {
		e.g.ReportTooLarge(path, rw)
		return
	}
	req := &worker.Request{
		Method:   in.Get("method").String(),
		Path:     path,
		Header:   h,
		RemoteIP: h["cf-connecting-ip"],
		Country:  in.Get("country").String(),
		Context:  ctx,
	}
	if b := in.Get("body"); b.Truthy() {
		req.Body = bytesFromJS(nil, b)
	}
	e.g.Serve(req, rw)
}

// MaxBodyBytes is the request body limit the shim enforces.
func (e *Edge) MaxBodyBytes() int64 { return e.g.MaxBodyBytes() }

// headers are a request's headers by lower-case name.
type headers map[string]string

func (h headers) Get(name string) string { return h[strings.ToLower(name)] }

func (h headers) EachHeader(fn func(name, value string)) {
	for k, v := range h {
		fn(k, v)
	}
}

// responder resolves the shim's answer promise. The shim builds the
// Response in the request's own context: workerd refuses a Response (or a
// stream) made during another request's callbacks.
type responder struct {
	resolve   js.Value
	io        js.Value
	ctx       context.Context
	started   bool
	streaming bool
	gone      atomic.Bool
}

func answer(status int, header [][2]string) js.Value {
	a := jsObject.New()
	a.Set("status", status)
	a.Set("headers", flatHeaders(header))
	return a
}

func (r *responder) Respond(status int, header [][2]string, body []byte) {
	r.started = true
	a := answer(status, header)
	a.Set("body", js.Null())
	if len(body) > 0 {
		a.Set("body", bytesToJS(body))
	}
	r.resolve.Invoke(a)
}

func (r *responder) Stream(status int, header [][2]string, fn func(worker.StreamWriter)) {
	r.started = true
	a := answer(status, header)
	if _, err := call(r.ctx, r.io, "openStream"); err != nil {
		// Only a client already gone gets here; it sees nothing.
		r.gone.Store(true)
		a.Set("body", js.Null())
		r.resolve.Invoke(a)
		fn(r)
		return
	}
	r.streaming = true
	a.Set("stream", true)
	r.resolve.Invoke(a)
	fn(r)
}

// Send writes p to the response stream and waits until the client side
// has taken it, so a slow client slows the upstream read rather than
// filling memory, and a client that went away is noticed at once.
func (r *responder) Send(p []byte) error {
	if r.gone.Load() {
		return errClientGone
	}
	if _, err := call(r.ctx, r.io, "write", bytesToJS(p)); err != nil {
		r.gone.Store(true)
		return errClientGone
	}
	return nil
}

// close ends a streamed body.
func (r *responder) close() {
	if r.streaming {
		_ = try(func() { r.io.Call("later", "closeStream", []any{}) })
	}
}

// Background collects operations that must run after a response (usage
// reports, cache writes) until a request that ends takes them: the shim
// runs them in that request's context and its waitUntil waits for them.
// It is safe for concurrent use.
type Background struct {
	mu      sync.Mutex
	pending []laterOp
}

type laterOp struct {
	name string
	args []any
}

// Later queues the shim's operation name with args.
func (b *Background) Later(name string, args ...any) {
	b.mu.Lock()
	b.pending = append(b.pending, laterOp{name, args})
	b.mu.Unlock()
}

// HandTo passes every queued operation to a request's io.
func (b *Background) HandTo(io js.Value) {
	b.mu.Lock()
	ops := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, op := range ops {
		_ = try(func() { io.Call("later", op.name, op.args) })
	}
}
