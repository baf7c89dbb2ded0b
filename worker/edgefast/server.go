// Package edgefast carries the gateway core on fasthttp: the native edge's
// server and its upstream client. The native data path sets the gateway's
// speed, and fasthttp is where the measured floor of a minimal proxy is low
// enough to meet the edge's latency and throughput targets (DESIGN.md, "The
// edge worker"); edgehttp remains the net/http twin for Workers and tests.
package edgefast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-ai/switchyard/worker"
)

// Handler serves the gateway on fasthttp.
//
// # Notes
//
// fasthttp neither gives a request a context nor reads from the connection
// while the handler runs, so a client that hangs up is noticed only when a
// write to it fails: StreamWriter.Send then returns an error and the core
// records status 499. A client that leaves while a non-streamed answer is
// being prepared is not noticed at all; the answer is dropped on write.
//
// The Request.Context given to the core ends when the response is complete,
// after the last streamed byte for a streamed one, so nothing the core tied
// to it outlives the exchange.
//
// Request.Header and Request.Body alias fasthttp's buffers, which the
// connection reuses for its next request. They stay valid while the core
// prepares its answer and while a stream is written; a stream that fasthttp
// drops unwritten (the client left first) runs after they were recycled,
// which is safe because the core reads neither once it has started a stream.
func Handler(g *worker.Gateway) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		reqCtx, cancel := context.WithCancel(context.Background())
		rw := &responder{ctx: ctx, cancel: cancel}
		g.Serve(&worker.Request{
			Method:   method(ctx),
			Path:     string(ctx.Path()),
			Header:   (*requestHeader)(&ctx.Request.Header),
			Body:     ctx.PostBody(),
			RemoteIP: remoteIP(ctx),
			Context:  reqCtx,
		}, rw)
		if !rw.streaming {
			cancel()
		}
	}
}

// NewServer returns a server for g, tuned for long-lived SSE responses.
//
// # Notes
//
//   - Request bodies are limited to g.MaxBodyBytes(); a larger one is
//     answered with the gateway's own JSON 413 rather than fasthttp's text.
//   - ReadTimeout (60s) bounds reading a request, IdleTimeout (120s) a
//     keep-alive connection between requests. There is no WriteTimeout:
//     fasthttp applies it to the whole response, which would cut long
//     streams; the core ends streams whose upstream goes quiet instead.
//   - Error messages never quote the request (SecureErrorLogMessage),
//     because request content must not reach any log; fasthttp's own
//     connection errors go to slog at debug level.
//   - Serve with Serve(listener); stop with ShutdownWithContext, which lets
//     running streams finish until its context ends.
func NewServer(g *worker.Gateway) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               Handler(g),
		ErrorHandler:          errorHandler(g),
		MaxRequestBodySize:    int(g.MaxBodyBytes()),
		ReadBufferSize:        16 << 10, // also the request header limit; fasthttp's 4 KiB is tight for long tokens and cookies
		ReadTimeout:           60 * time.Second,
		IdleTimeout:           120 * time.Second,
		TCPKeepalive:          true,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		SecureErrorLogMessage: true,
		Logger:                connLogger{},
	}
}

// connLogger sends fasthttp's connection errors to slog at debug level: they
// are routine (clients hanging up, bodies over the limit) and were already
// answered or recorded by the core.
type connLogger struct{}

func (connLogger) Printf(format string, args ...any) {
	if slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		slog.Debug(fmt.Sprintf(format, args...))
	}
}

// errorHandler answers requests fasthttp could not read.
func errorHandler(g *worker.Gateway) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		var small *fasthttp.ErrSmallBuffer
		var netErr net.Error
		switch {
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			g.ReportTooLarge(string(ctx.Path()), &responder{ctx: ctx})
		case errors.As(err, &small):
			ctx.Error("request headers too large", http.StatusRequestHeaderFieldsTooLarge)
		case errors.As(err, &netErr) && netErr.Timeout():
			ctx.Error("request timeout", http.StatusRequestTimeout)
		default:
			ctx.Error("malformed HTTP request", http.StatusBadRequest)
		}
	}
}

// remoteIP formats the client address through netip, which is several times
// cheaper than net.IP's String.
func remoteIP(ctx *fasthttp.RequestCtx) string {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap().String()
	}
	return ctx.RemoteIP().String()
}

// method avoids allocating a string for the methods the gateway serves.
func method(ctx *fasthttp.RequestCtx) string {
	switch {
	case ctx.IsPost():
		return http.MethodPost
	case ctx.IsGet():
		return http.MethodGet
	}
	return string(ctx.Method())
}

// requestHeader reads request headers case-insensitively, as the core expects.
type requestHeader fasthttp.RequestHeader

func (h *requestHeader) Get(name string) string {
	return string((*fasthttp.RequestHeader)(h).Peek(name))
}

var _ worker.HeaderLister = (*requestHeader)(nil)

func (h *requestHeader) EachHeader(fn func(name, value string)) {
	for k, v := range (*fasthttp.RequestHeader)(h).All() {
		fn(string(k), string(v))
	}
}

type responder struct {
	ctx *fasthttp.RequestCtx
	// cancel ends the core's request context; nil for the error handler,
	// which answers before the core ever sees the request.
	cancel    context.CancelFunc
	streaming bool
}

func (r *responder) head(status int, header [][2]string) {
	r.ctx.SetStatusCode(status)
	for _, kv := range header {
		r.ctx.Response.Header.Set(kv[0], kv[1])
	}
}

func (r *responder) Respond(status int, header [][2]string, body []byte) {
	r.head(status, header)
	// The core hands the body over, so it need not be copied.
	r.ctx.Response.SetBodyRaw(body)
}

// Stream hands fn to fasthttp as the response body. fasthttp writes the
// headers after the handler returns and then calls the body's WriteTo on the
// connection's own goroutine, where every Send becomes one chunk, flushed at
// once. SetBodyStreamWriter would run fn on a goroutine of its own and pass
// each event through a pipe to the connection's goroutine: two hand-offs per
// event, and a client's hang-up reported only events later.
func (r *responder) Stream(status int, header [][2]string, fn func(worker.StreamWriter)) {
	r.streaming = true
	r.head(status, header)
	r.ctx.Response.SetBodyStream(&streamBody{fn: fn, cancel: r.cancel}, -1)
}

// streamBody runs the core's stream function exactly once: when fasthttp
// writes the body or, if it never does (the client left first), when it
// closes it, with every Send failing as for a client that is gone.
type streamBody struct {
	fn     func(worker.StreamWriter)
	cancel context.CancelFunc
	ran    bool
}

var _ fasthttp.BodyWriterTo = (*streamBody)(nil)

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

// WriteTo gets fasthttp's chunk writer, which flushes every chunk.
func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	sw := &chunkSender{w: w}
	b.run(sw)
	return sw.n, sw.err
}

// Read is fasthttp's fallback when it cannot use WriteTo; it never needs it
// for a body of unknown length, which is always sent chunked.
func (b *streamBody) Read([]byte) (int, error) {
	return 0, errors.New("edgefast: stream bodies are written with WriteTo")
}

func (b *streamBody) Close() error {
	b.run(&chunkSender{err: errClientGone})
	return nil
}

func (b *streamBody) run(sw *chunkSender) {
	if b.ran {
		return
	}
	b.ran = true
	defer b.cancel()
	b.fn(sw)
}

var errClientGone = errors.New("edgefast: the client is gone")

type chunkSender struct {
	w   io.Writer
	n   int64
	err error // the first write error; every later Send returns it
}

func (s *chunkSender) Send(p []byte) error {
	if s.err != nil {
		return s.err
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	s.err = err
	return err
}
