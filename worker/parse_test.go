package worker

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestRoutingFieldsMatchesGetMany holds the one-pass reader to what gjson's
// path lookups return for the same bodies.
func TestRoutingFieldsMatchesGetMany(t *testing.T) {
	bodies := []string{
		`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"model":"inner"}],"stream":true,"model":"m","stream_options":{"include_usage":true}}`,
		`{"model":"first","model":"second","stream":false,"stream":true}`,
		`{"stream_options":{"other":1},"stream_options":{"include_usage":true}}`,
		`{"stream_options":true,"models":["a","b"],"provider":{"sort":"price"}}`,
		`{"stream_options":true,"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}}`,
		`{"mo\u0064el":"escaped","str\u0065am":true}`,
		`{"model":null,"stream":"yes","models":{},"provider":[]}`,
		`{}`,
		`{"nested":{"model":"no","stream":true},"list":[{"provider":1}]}`,
	}
	for _, b := range bodies {
		want := gjson.GetMany(b, "model", "stream", "models", "provider", "stream_options.include_usage")
		got := routingFields(gjson.Parse(b))
		for i := range want {
			if got[i].Type != want[i].Type || got[i].Raw != want[i].Raw || got[i].Str != want[i].Str || got[i].Exists() != want[i].Exists() {
				t.Errorf("%s: field %d = %#v, gjson.Get gives %#v", b, i, got[i], want[i])
			}
		}
	}
}
