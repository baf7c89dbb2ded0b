package chat

import (
	"net/http"

	"github.com/switchyard-ai/switchyard/worker/sse"
)

// Inbound is a client-facing API style: it decodes what clients send and
// encodes what they receive.
type Inbound interface {
	// DecodeRequest parses a request body. Errors are *Error (400).
	DecodeRequest(body []byte) (*Request, error)
	// EncodeResponse renders a complete response.
	EncodeResponse(r *Response) ([]byte, error)
	// NewStreamEncoder starts a stream for one response.
	NewStreamEncoder() StreamEncoder
	// EncodeError renders an error body in the dialect's error object.
	EncodeError(e *Error) []byte
}

// StreamEncoder renders canonical chunks as the dialect's SSE events.
// It is stateful: some dialects open and close blocks around deltas.
type StreamEncoder interface {
	// Encode appends the events for c to dst.
	Encode(dst []byte, c *Chunk) []byte
	// Finish appends whatever ends a successful stream.
	Finish(dst []byte) []byte
	// Fail appends the dialect's in-stream error event, ending the stream.
	Fail(dst []byte, e *Error) []byte
}

// Outbound is an upstream wire format: it encodes requests for it and
// decodes what it answers.
type Outbound interface {
	// EncodeRequest renders a canonical request in this dialect for the
	// upstream model name model. A parameter the dialect cannot honour is an
	// *Error from Unsupported, never silently dropped.
	EncodeRequest(r *Request, model string) ([]byte, error)
	// DecodeResponse parses a complete response.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamDecoder starts decoding one streamed response.
	NewStreamDecoder() StreamDecoder

	// PrepareNative adapts a client body already in this dialect for the
	// upstream: it sets the upstream model name and, for streams, asks for
	// usage to be reported.
	PrepareNative(body []byte, model string, stream bool) ([]byte, error)
	// ResponseUsage reads usage from a native response body without
	// decoding the rest of it.
	ResponseUsage(body []byte) (Tokens, bool)
	// NewStreamTap watches a native stream that passes through unchanged.
	NewStreamTap(clientWantsUsage bool) StreamTap
	// ParseError reads an upstream error body into a client-safe error.
	ParseError(status int, header http.Header, body []byte) *Error
}

// StreamDecoder turns upstream events into canonical chunks.
type StreamDecoder interface {
	// Decode converts one event into zero or more chunks. An in-stream
	// upstream error is returned as *Error.
	Decode(ev *sse.Event) ([]Chunk, error)
	// Usage is what the upstream has reported so far.
	Usage() (Tokens, bool)
	// Done reports whether the upstream ended the stream properly.
	Done() bool
}

// StreamTap inspects native events that pass through to a client speaking
// the same dialect.
type StreamTap interface {
	// Tap reads usage and completion from ev and reports whether ev should
	// be forwarded to the client (false for usage the client did not ask for).
	// An in-stream upstream error is returned as *Error.
	Tap(ev *sse.Event) (forward bool, err error)
	Usage() (Tokens, bool)
	Done() bool
}
