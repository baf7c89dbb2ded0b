package sdk

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// The codec must read what the host's encoding/json writes, and write what
// the host's encoding/json reads, for every field of the ABI types.

func fullRequest() *abi.RouteRequest {
	c := abi.Candidate{Model: "openai/gpt-4o-mini", Provider: "openai", InputPrice: 150000, OutputPrice: 600000, ContextLength: 128000, Healthy: true, LatencyMs: 180}
	return &abi.RouteRequest{
		ABI: 1, RequestID: "req_1", Tenant: "acct_1", KeyID: "key_1", Endpoint: "chat.completions",
		Model: "fast", Models: []string{"a/b", "c/d"}, Stream: true,
		Edge:                 abi.Edge{Location: "FRA", Country: "DE"},
		Headers:              map[string]string{"x-sy-user": "Zoë \"quoted\" \\ <tag> \u2028 \t\n 😀"},
		EstimatedInputTokens: -3,
		Candidates:           []abi.Candidate{c, {Model: "x/y"}},
		Catalog:              []abi.Candidate{c},
		Body:                 abi.RawJSON(`{"messages":[{"role":"user","content":"hi \"there\""}],"n":1.5e3,"ok":[true,false,null]}`),
	}
}

func TestDecodeRequestMatchesEncodingJSON(t *testing.T) {
	want := fullRequest()
	in, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got abi.RouteRequest
	if err := decodeRequest(in, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, *want)
	}
}

func TestDecodeRequest(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     *abi.RouteRequest // nil: an error
	}{
		{"unknown fields are skipped", `{"future":{"a":[1,"x",{"b":null}]},"model":"m","later":-1.5e-3}`, &abi.RouteRequest{Model: "m"}},
		{"nulls leave zero values", `{"model":null,"models":null,"headers":null,"edge":null,"candidates":null,"body":null,"stream":null,"abi":null}`, &abi.RouteRequest{}},
		{"whitespace", " {\n\t\"model\" : \"m\" ,\r\n \"models\" : [ \"a\" , \"b\" ] } ", &abi.RouteRequest{Model: "m", Models: []string{"a", "b"}}},
		{"escapes", `{"model":"\u00e9\ud83d\ude00\/\b\f\r"}`, &abi.RouteRequest{Model: "é😀/\b\f\r"}},
		{"lone surrogate", `{"model":"\ud83d"}`, &abi.RouteRequest{Model: "\uFFFD"}},
		{"empty containers", `{"models":[],"headers":{},"candidates":[]}`, &abi.RouteRequest{Models: []string{}, Headers: map[string]string{}, Candidates: []abi.Candidate{}}},
		{"not an object", `[]`, nil},
		{"trailing data", `{} {}`, nil},
		{"unterminated string", `{"model":"m`, nil},
		{"bad escape", `{"model":"\x"}`, nil},
		{"float for an int", `{"abi":1.0}`, nil},
		{"string for an int", `{"abi":"1"}`, nil},
		{"huge int", `{"abi":12345678901234567890}`, nil},
		{"missing colon", `{"model" "m"}`, nil},
		{"missing comma", `{"model":"m" "stream":true}`, nil},
		{"bad literal", `{"stream":tru}`, nil},
		{"deep body", `{"body":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, nil},
		{"bad number in body", `{"body":1.2.3}`, nil},
		{"truncated", `{"models":["a",`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got abi.RouteRequest
			err := decodeRequest([]byte(c.in), &got)
			switch {
			case c.want == nil && err == nil:
				t.Errorf("decoded %+v, want an error", got)
			case c.want != nil && err != nil:
				t.Errorf("error %v", err)
			case c.want != nil && !reflect.DeepEqual(&got, c.want):
				t.Errorf("decoded %+v, want %+v", got, *c.want)
			}
		})
	}
}

func TestAppendDecisionMatchesEncodingJSON(t *testing.T) {
	full := abi.RouteDecision{
		Action: "route", Model: "m\"1", Fallbacks: []string{"a", "b\n"}, Providers: []string{"p"},
		Headers: map[string]string{"x-b": "2", "x-a": "\x01<&>"}, Tags: map[string]string{"t": "ü"},
		Status: 429, Message: "used up",
	}
	// Every field set: a field added to RouteDecision and not to the
	// encoder fails here.
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("field %s is not set in the test decision", v.Type().Field(i).Name)
		}
	}
	for _, d := range []abi.RouteDecision{full, {Action: "route"}, {Action: "reject", Status: 403, Message: "no"}} {
		var got abi.RouteDecision
		out := appendDecision(nil, &d)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("%s decodes to %+v, want %+v", out, got, d)
		}
		std, _ := json.Marshal(d)
		if d.Headers == nil && string(out) != string(std) {
			t.Errorf("got %s, encoding/json writes %s", out, std)
		}
	}
}
