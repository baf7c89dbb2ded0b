package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// eventWriter sends the events of one streamed answer, applying the rule's
// ChunkDelay and FailAfterEvents.
type eventWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	ctx       context.Context
	delay     time.Duration
	failAfter int
	sent      int
}

// startStream writes the 200 headers at once, as providers do, so clients see
// the stream open before the first event.
func (ex *exchange) startStream(contentType string) *eventWriter {
	h := ex.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	ex.w.WriteHeader(http.StatusOK)
	ew := &eventWriter{
		w: ex.w, rc: http.NewResponseController(ex.w), ctx: ex.r.Context(),
		delay: ex.rule.ChunkDelay, failAfter: ex.rule.FailAfterEvents,
	}
	_ = ew.rc.Flush()
	return ew
}

// send writes one event. It returns false once the client has gone, and
// aborts the connection (net/http closes it without finishing the chunked
// body) when the rule's FailAfterEvents budget is spent.
func (ew *eventWriter) send(frame []byte) bool {
	if ew.sent > 0 && !sleep(ew.ctx, ew.delay) {
		return false
	}
	if ew.failAfter > 0 && ew.sent >= ew.failAfter {
		panic(http.ErrAbortHandler)
	}
	if _, err := ew.w.Write(frame); err != nil {
		return false
	}
	if err := ew.rc.Flush(); err != nil {
		return false
	}
	ew.sent++
	return true
}

// sseData frames v as a data-only SSE event (OpenAI, Gemini) with the given
// terminator: "\n\n" for OpenAI, "\r\n\r\n" as Gemini sends.
func sseData(v any, terminator string) []byte {
	b, _ := json.Marshal(v)
	out := append([]byte("data: "), b...)
	return append(out, terminator...)
}

// sseEvent frames v as a named SSE event (Anthropic).
func sseEvent(name string, v any) []byte {
	b, _ := json.Marshal(v)
	out := append([]byte("event: "+name+"\ndata: "), b...)
	return append(out, "\n\n"...)
}
