package emulator

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	for _, text := range []string{
		"", "one", "Hello from gpt-4o. You said: hi", "  leading and trailing  ", "tabs\tand\nnewlines", "ünïcödé wörds ✓ ok", "   ",
	} {
		pieces := splitWords(text)
		if strings.Join(pieces, "") != text {
			t.Errorf("%q: pieces %q do not concatenate back", text, pieces)
		}
		if n := wordCount(text); n > 0 && len(pieces) != n {
			t.Errorf("%q: %d pieces for %d words", text, len(pieces), n)
		}
		for i, p := range pieces[min(1, len(pieces)):] {
			if !strings.HasPrefix(p, " ") && !strings.HasPrefix(p, "\t") && !strings.HasPrefix(p, "\n") {
				t.Errorf("%q: piece %d %q should carry the whitespace before its word", text, i+1, p)
			}
		}
	}
}

func TestSplitJSON(t *testing.T) {
	for _, s := range []string{"{}", `{"a":1}`, `{"city":"sample","days":1,"units":"celsius"}`, `{"é":"✓✓"}`} {
		frags := splitJSON(s)
		if len(frags) < 2 || strings.Join(frags, "") != s {
			t.Errorf("%q: fragments %q", s, frags)
		}
		for _, f := range frags {
			if !json.Valid([]byte(`"`+f+`"`)) && strings.ContainsRune(f, '\uFFFD') {
				t.Errorf("%q: fragment %q splits a rune", s, f)
			}
		}
	}
}

func TestSampleValue(t *testing.T) {
	tests := []struct {
		schema string
		want   string
	}{
		{`{"type":"object","properties":{"s":{"type":"string"},"i":{"type":"integer"},"n":{"type":"number"},"b":{"type":"boolean"},"a":{"type":"array"},"o":{"type":"object"},"opt":{"type":"string"}},"required":["s","i","n","b","a","o"]}`,
			`{"a":[],"b":true,"i":1,"n":1,"o":{},"s":"sample"}`},
		{`{"type":"OBJECT","properties":{"x":{"type":"STRING","enum":["first","second"]}},"required":["x"]}`, `{"x":"first"}`},
		{`{"type":"object","properties":{"in":{"type":"object","properties":{"deep":{"type":["integer","null"]}},"required":["deep"]}},"required":["in"]}`, `{"in":{"deep":1}}`},
		{`{"properties":{"u":{"anyOf":[{"type":"boolean"},{"type":"null"}]}},"required":["u","missing"]}`, `{"missing":"sample","u":true}`},
		{`{"type":"string"}`, `{}`},
		{`null`, `{}`},
	}
	for _, tt := range tests {
		var schema map[string]any
		if err := json.Unmarshal([]byte(tt.schema), &schema); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(sampleObject(schema))
		if string(got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.schema, got, tt.want)
		}
	}
}

func TestRespond(t *testing.T) {
	tools := []toolSpec{{name: "a", schema: map[string]any{"type": "object"}}, {name: "b"}}
	tests := []struct {
		name   string
		c      conversation
		rule   Rule
		text   string
		calls  []string
		finish finishReason
	}{
		{"default echoes eight words", conversation{model: "m", lastUserText: "one two three four five six seven eight nine", lastIsUser: true},
			Rule{}, "Hello from m. You said: one two three four five six seven eight", nil, finishStop},
		{"no user text", conversation{model: "m", lastIsUser: true}, Rule{}, "Hello from m.", nil, finishStop},
		{"images", conversation{model: "m", lastUserText: "hi", lastImages: 3, lastIsUser: true}, Rule{}, "Hello from m. You said: hi I see 3 images.", nil, finishStop},
		{"tools", conversation{model: "m", lastIsUser: true, tools: tools}, Rule{}, "", []string{"a", "b"}, finishToolCalls},
		{"allowed tools", conversation{model: "m", lastIsUser: true, tools: tools, allowed: []string{"b"}}, Rule{}, "", []string{"b"}, finishToolCalls},
		{"tools after assistant prefill", conversation{model: "m", tools: tools}, Rule{}, "Hello from m.", nil, finishStop},
		{"tool results", conversation{model: "m", tools: tools, toolResults: 1}, Rule{}, "Got 1 tool result(s).", nil, finishStop},
		{"rule text beats tools", conversation{model: "m", lastIsUser: true, tools: tools}, Rule{Text: "scripted"}, "scripted", nil, finishStop},
		{"stop before limit", conversation{model: "m", maxTokens: 3, stop: []string{"from"}}, Rule{}, "Hello ", nil, finishStopSequence},
		{"limit", conversation{model: "m", maxTokens: 1}, Rule{}, "Hello", nil, finishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := tt.c.respond(tt.rule, "call_")
			var calls []string
			for _, tc := range rp.toolCalls {
				calls = append(calls, tc.name)
				if !strings.HasPrefix(tc.id, "call_") || !json.Valid([]byte(tc.args)) {
					t.Errorf("call %+v", tc)
				}
			}
			if rp.text != tt.text || strings.Join(calls, ",") != strings.Join(tt.calls, ",") || rp.finish != tt.finish {
				t.Fatalf("got %q %v %v, want %q %v %v", rp.text, calls, rp.finish, tt.text, tt.calls, tt.finish)
			}
			if len(calls) == 0 && rp.outputTokens != wordCount(rp.text) {
				t.Errorf("output tokens %d for %q", rp.outputTokens, rp.text)
			}
		})
	}
}
