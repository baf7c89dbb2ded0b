package gemini

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/sse"
)

// FuzzDecodeResponse feeds arbitrary upstream bodies to every reader of
// upstream bytes. Nothing may panic: an upstream, or anything between it and
// the gateway, controls these bytes. The seed corpus is in
// testdata/fuzz/FuzzDecodeResponse.
func FuzzDecodeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		d := Dialect{}
		if resp, err := d.DecodeResponse(body); err == nil {
			if len(resp.Choices) != 1 || resp.Choices[0].FinishReason == "" {
				t.Fatalf("decoded choices %+v, want one with a finish reason", resp.Choices)
			}
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("decoded response does not marshal: %v", err)
			}
		}
		d.ResponseUsage(body)
		d.ParseError(http.StatusBadRequest, nil, body)
		ev := &sse.Event{Data: body}
		dec := d.NewStreamDecoder()
		for range 2 {
			chunks, err := dec.Decode(ev)
			if err != nil {
				break
			}
			if _, err := json.Marshal(chunks); err != nil {
				t.Fatalf("chunks do not marshal: %v", err)
			}
		}
		d.NewStreamTap(true).Tap(ev)
	})
}
