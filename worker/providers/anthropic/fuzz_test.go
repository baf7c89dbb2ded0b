package anthropic

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// FuzzDecodeRequest feeds arbitrary bodies to the inbound decoder, which sees
// whatever clients send. It must never panic, must fail only with a 400
// *chat.Error, and what it accepts must be a request the outbound encoders
// can take without panicking either.
func FuzzDecodeRequest(f *testing.F) {
	inputs, err := filepath.Glob("testdata/inbound_request/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range inputs {
		if strings.Contains(in, ".golden") {
			continue
		}
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Dialect{}.DecodeRequest(body)
		if err != nil {
			var e *chat.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 *chat.Error", err)
			}
			return
		}
		if r.Model == "" || r.MaxCompletionTokens == nil || *r.MaxCompletionTokens < 1 || len(r.Messages) == 0 {
			t.Fatalf("accepted an incomplete request: %+v", r)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("canonical request does not marshal: %v", err)
		}
		if _, err := (Dialect{}).EncodeRequest(r, "m"); err != nil {
			var e *chat.Error
			if !errors.As(err, &e) {
				t.Fatalf("encode error %v is not a *chat.Error", err)
			}
		}
	})
}
