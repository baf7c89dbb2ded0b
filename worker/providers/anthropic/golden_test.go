package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/switchyard-ai/switchyard/internal/golden"
	"os"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

// errorJSON renders a translation error for a golden file; anything but a
// *chat.Error fails the test.
func errorJSON(t *testing.T, err error) []byte {
	t.Helper()
	var e *chat.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *chat.Error", err, err)
	}
	return indent(t, map[string]any{"error": errorFields(e)})
}

func errorFields(e *chat.Error) map[string]any {
	return map[string]any{
		"status": e.Status, "type": e.Type, "code": e.Code, "param": e.Param, "message": e.Message,
		"retryable": e.Retryable, "cause": fmt.Sprint(e.Cause),
	}
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// indentRaw pretty-prints wire JSON without reordering it, failing on
// anything that is not valid JSON.
func indentRaw(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		t.Fatalf("invalid JSON %q: %v", raw, err)
	}
	return append(b.Bytes(), '\n')
}

func TestInboundDecodeRequest(t *testing.T) {
	golden.Run(t, "inbound_request", ".json", ".json", func(t *testing.T, in []byte) []byte {
		r, err := Dialect{}.DecodeRequest(in)
		if err != nil {
			return errorJSON(t, err)
		}
		return indent(t, r)
	})
}

func TestInboundEncodeResponse(t *testing.T) {
	golden.Run(t, "inbound_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		var r chat.Response
		if err := json.Unmarshal(in, &r); err != nil {
			t.Fatal(err)
		}
		out, err := Dialect{}.EncodeResponse(&r)
		if err != nil {
			t.Fatal(err)
		}
		return indentRaw(t, out)
	})
}

// streamInput is a canonical chunk sequence; Fail, when set, ends the stream
// in place of Finish.
type streamInput struct {
	Chunks []chat.Chunk `json:"chunks"`
	Fail   *chat.Error  `json:"fail"`
}

func encodeStream(t *testing.T, in []byte) []byte {
	t.Helper()
	var s streamInput
	if err := json.Unmarshal(in, &s); err != nil {
		t.Fatal(err)
	}
	enc := Dialect{}.NewStreamEncoder()
	var out []byte
	for i := range s.Chunks {
		out = enc.Encode(out, &s.Chunks[i])
	}
	if s.Fail != nil {
		return enc.Fail(out, s.Fail)
	}
	return enc.Finish(out)
}

func TestInboundStreamEncode(t *testing.T) {
	golden.Run(t, "inbound_stream", ".json", ".sse", encodeStream)
}

func TestOutboundEncodeRequest(t *testing.T) {
	golden.Run(t, "outbound_request", ".json", ".json", func(t *testing.T, in []byte) []byte {
		var r chat.Request
		if err := json.Unmarshal(in, &r); err != nil {
			t.Fatal(err)
		}
		out, err := Dialect{}.EncodeRequest(&r, "claude-upstream-name")
		if err != nil {
			return errorJSON(t, err)
		}
		return indentRaw(t, out)
	})
}

func TestOutboundDecodeResponse(t *testing.T) {
	golden.Run(t, "outbound_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		r, err := Dialect{}.DecodeResponse(in)
		if err != nil {
			return errorJSON(t, err)
		}
		return indent(t, r)
	})
}

// decodedStream is what a StreamDecoder made of a transcript.
type decodedStream struct {
	Chunks []chat.Chunk   `json:"chunks"`
	Usage  *chat.Tokens   `json:"usage"`
	Done   bool           `json:"done"`
	Error  map[string]any `json:"error,omitempty"`
}

func decodeStream(t *testing.T, in []byte) decodedStream {
	t.Helper()
	dec := Dialect{}.NewStreamDecoder()
	rd := sse.NewReader(bytes.NewReader(in))
	var out decodedStream
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		chunks, err := dec.Decode(ev)
		if err != nil {
			var e *chat.Error
			if !errors.As(err, &e) {
				t.Fatalf("stream error %v is not a *chat.Error", err)
			}
			out.Error = errorFields(e)
			break
		}
		out.Chunks = append(out.Chunks, chunks...)
	}
	if u, ok := dec.Usage(); ok {
		out.Usage = &u
	}
	out.Done = dec.Done()
	return out
}

func TestOutboundStreamDecode(t *testing.T) {
	golden.Run(t, "outbound_stream", ".sse", ".json", func(t *testing.T, in []byte) []byte {
		return indent(t, decodeStream(t, in))
	})
}
