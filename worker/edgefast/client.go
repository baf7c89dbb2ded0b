package edgefast

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Client is an Upstream over fasthttp. Response bodies stream, so SSE passes
// through event by event.
//
// fasthttp has no contexts, so Client runs fasthttp's Client over its own
// transport, which lets each call know the connection it uses: when the
// call's context ends, that connection is closed, which ends the wait for
// headers or a body read in progress at once. Doing the call on another
// goroutine and abandoning it would cost two goroutine hand-offs per call
// (tens of microseconds at concurrency 1 on the two-core benchmark machine)
// and leave the upstream working for nobody.
type Client struct {
	http *fasthttp.Client
}

var _ worker.Upstream = (*Client)(nil)

// NewClient returns a client tuned for many concurrent calls to few hosts.
//
// # Notes
//
//   - Up to 1024 connections per host, waiting up to 10s for a free one;
//     idle connections are closed after 30s, before providers drop them.
//   - No read timeout: one would apply to the whole body and cut slow
//     streams. The core bounds the wait for headers and each quiet gap in a
//     stream, and ends the call through its context.
//   - Writing a request may take up to 30s.
//   - Response headers may take up to 16 KiB (providers send many).
//   - Error messages never quote the response (SecureErrorLogMessage).
//   - TLS 1.2 or later for https upstreams.
func NewClient() *Client {
	return &Client{http: &fasthttp.Client{
		Transport:              transport{},
		Name:                   "switchyard",
		MaxConnsPerHost:        1024,
		MaxConnWaitTimeout:     10 * time.Second,
		MaxIdleConnDuration:    30 * time.Second,
		WriteTimeout:           30 * time.Second,
		ReadBufferSize:         16 << 10,
		DialDualStack:          true,
		DisablePathNormalizing: true, // Gemini's paths carry ':' and must reach it as built
		StreamResponseBody:     true,
		TLSConfig:              &tls.Config{MinVersion: tls.VersionTLS12},
		ConfigureClient: func(hc *fasthttp.HostClient) error {
			hc.SecureErrorLogMessage = true
			return nil
		},
	}}
}

func (c *Client) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &body{req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse()}
	b.hold.ctx = ctx
	req := b.req
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	for _, kv := range r.Header {
		req.Header.Set(kv[0], kv[1])
	}
	// The core never changes a body it has handed over.
	req.SetBodyRaw(r.Body)
	req.SetUserValue(holdKey{}, &b.hold)
	b.stop = context.AfterFunc(ctx, b.hold.interrupt)
	if err := c.http.Do(req, b.resp); err != nil {
		b.stop()
		b.release()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return &worker.UpstreamResponse{Status: b.resp.StatusCode(), Header: copyHeader(&b.resp.Header), Body: b}, nil
}

// copyHeader copies response headers into one backing array for all values.
// fasthttp has put the names in canonical form already.
func copyHeader(rh *fasthttp.ResponseHeader) http.Header {
	n := rh.Len()
	h, vals := make(http.Header, n), make([]string, 0, n)
	for k, v := range rh.All() {
		name := string(k)
		if prev, ok := h[name]; ok {
			h[name] = append(prev, string(v))
			continue
		}
		vals = append(vals, string(v))
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return h
}

// holdKey finds a call's hold among its request's user values.
type holdKey struct{}

// hold is a call's claim on the connection it uses, so that the end of its
// context can close it. It has no Close method: fasthttp closes user values
// that have one when it resets a request.
type hold struct {
	ctx   context.Context
	mu    sync.Mutex
	conn  net.Conn // while the call uses it
	ended bool     // ctx ended; conn is closed and no other may be attached

	// While a body streams from the connection: finish frees the reader and
	// gives the connection back to the pool or closes it.
	finish    func(reuse bool)
	keepAlive bool
}

func (h *hold) interrupt() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	if h.conn != nil {
		_ = h.conn.Close()
	}
}

// attach reports false if the context already ended.
func (h *hold) attach(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = c
	return !h.ended
}

// detach ends the claim; afterwards interrupt leaves the connection alone,
// and the returned flag says whether it had closed it.
func (h *hold) detach() (interrupted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = nil
	return h.ended
}

// transport is fasthttp's default transport, minus options this client does
// not set, plus the hold: the connection is attached to the call before the
// request is written and, when a body streams, stays attached until the body
// is closed.
type transport struct{}

func (transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	h := req.UserValue(holdKey{}).(*hold) // Do always sets it
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	fail := func(retry bool, err error) (bool, error) {
		h.detach()
		hc.CloseConn(cc)
		return retry, err
	}
	if !h.attach(conn) {
		return fail(false, h.ctx.Err())
	}
	var writeDeadline time.Time
	if hc.WriteTimeout > 0 {
		writeDeadline = time.Now().Add(hc.WriteTimeout)
	}
	if err := conn.SetWriteDeadline(writeDeadline); err != nil {
		return fail(true, err)
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		return fail(true, err)
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	br := hc.AcquireReader(conn)
	if err := resp.ReadLimitBody(br, 0); err != nil {
		hc.ReleaseReader(br)
		return fail(true, err)
	}
	keepAlive := !req.ConnectionClose() && !resp.ConnectionClose()
	finish := func(reuse bool) {
		hc.ReleaseReader(br)
		if reuse {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}
	if resp.BodyStream() == nil {
		finish(!h.detach() && keepAlive)
		return false, nil
	}
	h.finish, h.keepAlive = finish, keepAlive
	return false, nil
}

// body is a streamed response body. Close gives the connection back to the
// pool if the body was read to its end, closes it otherwise, and returns the
// pooled request and response to fasthttp.
type body struct {
	hold
	req    *fasthttp.Request
	resp   *fasthttp.Response
	stop   func() bool // stops the interrupt
	eof    bool
	closed bool
}

var errReadAfterClose = errors.New("edgefast: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errReadAfterClose
	}
	s := b.resp.BodyStream()
	if s == nil {
		return 0, io.EOF
	}
	n, err := s.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		// A read cut short by the context reports why.
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	return n, err
}

func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.stop()
	b.release()
	return nil
}

func (b *body) release() {
	interrupted := b.detach()
	if b.finish != nil {
		// The stream reads through the reader finish frees: close it first.
		_ = b.resp.CloseBodyStream()
		b.finish(b.eof && b.keepAlive && !interrupted)
	}
	fasthttp.ReleaseResponse(b.resp)
	fasthttp.ReleaseRequest(b.req)
}
