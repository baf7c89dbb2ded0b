package host

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// decodeSlow is decodeDecision's encoding/json path.
func decodeSlow(b []byte) (*abi.RouteDecision, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d abi.RouteDecision
	if dec.Decode(&d) != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return &d, true
}

var decisionInputs = []struct {
	in    string
	plain bool // the fast path takes it
}{
	{`{"action":"route"}`, true},
	{` { "action" : "route" , "model" : "anthropic/claude-haiku-4-5" } ` + "\n", true},
	{`{"action":"route","model":"m","fallbacks":["a","b"],"providers":[],"headers":{"x-a":"1","x-a":"2"},"tags":{}}`, true},
	{`{"action":"reject","status":429,"message":"daily quota for this user is used up"}`, true},
	{`{"action":"reject","status":-0}`, true},
	{`{}`, true},
	{`{"Action":"route"}`, false},
	{`{"action":"route","action":"reject"}`, false},
	{`{"action":"r\u006fute"}`, false},
	{`{"action":"route","model":"é"}`, false},
	{`{"action":"route","model":null}`, false},
	{`{"action":"route","fallbacks":null}`, false},
	{`{"action":"reject","status":429.0}`, false},
	{`{"action":"reject","status":4e2}`, false},
	{`{"action":"reject","status":0429}`, false},
	{`{"action":"reject","status":12345678901}`, false},
	{`{"action":"route","provider":["openai"]}`, false},
	{`{"action":"route"}{}`, false},
	{`{"action":"route",}`, false},
	{`{"action":"route"`, false},
	{`["route"]`, false},
	{``, false},
	{`{"action":1}`, false},
}

// The fast path takes the usual decisions, and whatever it takes decodes
// to what encoding/json makes of it.
func TestDecodePlain(t *testing.T) {
	for _, c := range decisionInputs {
		got, ok := decodePlain([]byte(c.in))
		if ok != c.plain {
			t.Errorf("%s: fast path %v, want %v", c.in, ok, c.plain)
		}
		if !ok {
			continue
		}
		if want, _ := decodeSlow([]byte(c.in)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, encoding/json %#v", c.in, got, want)
		}
	}
}

func FuzzDecodePlain(f *testing.F) {
	for _, c := range decisionInputs {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := decodePlain(in)
		if !ok {
			return
		}
		want, wantOK := decodeSlow(in)
		if !wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v, encoding/json %#v (ok %v)", in, got, want, wantOK)
		}
	})
}
