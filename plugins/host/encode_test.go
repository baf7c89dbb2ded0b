package host

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// appendRequest writes exactly what json.Marshal writes, so plugins see
// the same bytes as before it existed.
func TestAppendRequestIsMarshal(t *testing.T) {
	sample := SampleRequest()
	odd := SampleRequest()
	odd.Model = "<script>&\"\\\n\t\x01é\u2028\xff"
	odd.Headers = map[string]string{"x-sy-b": "2", "x-sy-a": "<1>", "x-sy-\u00e9": ""}
	odd.Models = []string{}
	odd.Candidates = []abi.Candidate{}
	odd.Catalog = nil
	odd.Body = abi.RawJSON(` {"messages": [ {"content": "a<b"} ] } `)
	odd.ABI, odd.EstimatedInputTokens = -1, 1<<40
	odd.Edge = abi.Edge{Location: "FRA", Country: "\u00fc"}
	for _, c := range []struct {
		name string
		req  *abi.RouteRequest
	}{
		{"sample", sample},
		{"zero", &abi.RouteRequest{}},
		{"escapes, empty and nil lists, a body", odd},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := json.Marshal(c.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendRequest(nil, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	if _, err := appendRequest(nil, &abi.RouteRequest{Body: abi.RawJSON("{not json")}); err == nil {
		t.Error("a body that is not JSON encoded without an error")
	}
}

func FuzzAppendRequest(f *testing.F) {
	f.Add("openai/gpt-4o-mini", "x-sy-user", "user-42", []byte(`{"a":1}`))
	f.Add("<&>\u2028", "\x00", "\xff", []byte(nil))
	f.Fuzz(func(t *testing.T, model, header, value string, body []byte) {
		req := SampleRequest()
		req.Model = model
		req.Catalog[0].Provider = value
		req.Headers = map[string]string{header: value, "x-sy-z": model}
		req.Body = body
		want, wantErr := json.Marshal(req)
		got, err := appendRequest(nil, req)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
}
