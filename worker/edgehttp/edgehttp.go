// Package edgehttp carries the gateway core on net/http: an http.Handler for
// tests and Workers, and an Upstream built on http.Client.
package edgehttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Handler serves the gateway on net/http.
func Handler(g *worker.Gateway) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responder{w: w}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.MaxBodyBytes()))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				g.ReportTooLarge(r.URL.Path, rw)
				return
			}
			http.Error(w, "reading request body failed", http.StatusBadRequest)
			return
		}
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		g.Serve(&worker.Request{
			Method:   r.Method,
			Path:     r.URL.Path,
			Header:   r.Header,
			Body:     body,
			RemoteIP: ip,
			Context:  r.Context(),
		}, rw)
	})
}

type responder struct {
	w http.ResponseWriter
}

func (r *responder) setHeader(status int, header [][2]string) {
	h := r.w.Header()
	for _, kv := range header {
		h.Set(kv[0], kv[1])
	}
	r.w.WriteHeader(status)
}

func (r *responder) Respond(status int, header [][2]string, body []byte) {
	r.setHeader(status, header)
	_, _ = r.w.Write(body)
}

func (r *responder) Stream(status int, header [][2]string, fn func(worker.StreamWriter)) {
	r.setHeader(status, header)
	sw := &streamWriter{w: r.w, rc: http.NewResponseController(r.w)}
	fn(sw)
}

type streamWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *streamWriter) Send(p []byte) error {
	if _, err := s.w.Write(p); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Client is an Upstream over net/http.
type Client struct {
	HTTP *http.Client
}

// NewClient returns a client with a transport tuned for many concurrent
// calls to few hosts. Compression is off so that streams pass through
// event by event.
func NewClient() *Client {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	return &Client{HTTP: &http.Client{Transport: t}}
}

var _ worker.Upstream = (*Client)(nil)

func (c *Client) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(r.Body))
	for _, kv := range r.Header {
		req.Header.Set(kv[0], kv[1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	return &worker.UpstreamResponse{Status: resp.StatusCode, Header: resp.Header, Body: resp.Body}, nil
}
