package anthropic

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// PrepareNative sets the upstream model name and leaves every other byte of
// the body alone. stream changes nothing: Anthropic streams always report
// usage, so there is nothing to ask for.
func (Dialect) PrepareNative(body []byte, model string, _ bool) ([]byte, error) {
	if !gjson.ParseBytes(body).IsObject() {
		return nil, chat.BadRequest("", "request body must be a JSON object")
	}
	out, err := sjson.SetBytes(body, "model", model)
	if err != nil {
		return nil, chat.BadRequest("", "request body must be a JSON object")
	}
	return out, nil
}

// ResponseUsage reads usage from a Message body.
func (Dialect) ResponseUsage(body []byte) (chat.Tokens, bool) {
	var m meter
	m.read(gjson.GetBytes(body, "usage"))
	return m.Usage()
}

// NewStreamTap watches a Messages stream passing through. Every event is
// forwarded: usage rides in message_start and message_delta, which clients
// need anyway, so clientWantsUsage changes nothing. An error event is
// forwarded too (the client understands it) and returned as a *chat.Error.
func (Dialect) NewStreamTap(bool) chat.StreamTap { return &streamTap{} }

type streamTap struct {
	meter
	done bool
}

func (t *streamTap) Tap(ev *sse.Event) (bool, error) {
	data := gjson.ParseBytes(ev.Data)
	switch eventType(ev, data) {
	case "message_start":
		t.read(data.Get("message.usage"))
	case "message_delta":
		t.read(data.Get("usage"))
	case "message_stop":
		t.done = true
	case "error":
		return true, streamError(data)
	}
	return true, nil
}

func (t *streamTap) Done() bool { return t.done }

// ParseError classifies an Anthropic error response with
// chat.UpstreamStatusError, so every provider's failures are retried and
// reported alike; Anthropic's message reaches the client for 4xx only. The
// error type goes to Cause for the log; the message stays out of it, since
// it may quote the request.
func (Dialect) ParseError(status int, header http.Header, body []byte) *chat.Error {
	e := chat.UpstreamStatusError(providerName, status, gjson.GetBytes(body, "error.message").String(), retryAfter(header))
	e.Cause = fmt.Errorf("anthropic status %d, error type %q", status, gjson.GetBytes(body, "error.type").String())
	return e
}

// retryAfter reads Retry-After, which Anthropic sends in seconds; the HTTP
// date form is accepted too, as the header allows it.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now()), 0)
	}
	return 0
}
