package gemini

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

func embeddingRequest(t *testing.T, body string) *chat.EmbeddingRequest {
	t.Helper()
	var r chat.EmbeddingRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestEncodeEmbeddingsGolden(t *testing.T) {
	tests := []struct {
		name, body, model string
	}{
		{"one_string", `{"model":"google/gemini-embedding-001","input":"hello world"}`, "gemini-embedding-001"},
		{"many_strings_dimensions", `{"model":"google/gemini-embedding-001","input":["a","b & <c>"],"dimensions":768,"encoding_format":"base64","user":"u1"}`, "models/gemini-embedding-001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Dialect{}.EncodeEmbeddings(embeddingRequest(t, tt.body), tt.model)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "testdata/embeddings/"+tt.name+".golden.json", got)
		})
	}
}

func TestEncodeEmbeddingsErrors(t *testing.T) {
	tests := []struct {
		name, body, wantParam string
	}{
		{"tokens", `{"input":[1,2,3]}`, "input"},
		{"token arrays", `{"input":[[1,2],[3]]}`, "input"},
		{"empty array", `{"input":[]}`, "input"},
		{"empty string", `{"input":["a",""]}`, "input[1]"},
		{"null", `{"input":null}`, "input"},
		{"missing", `{}`, "input"},
		{"number", `{"input":5}`, "input"},
		{"format", `{"input":"a","encoding_format":"int8"}`, "encoding_format"},
		{"dimensions", `{"input":"a","dimensions":0}`, "dimensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dialect{}.EncodeEmbeddings(embeddingRequest(t, tt.body), "gemini-embedding-001")
			var e *chat.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Param != tt.wantParam {
				t.Errorf("err = %v, want a 400 naming %q", err, tt.wantParam)
			}
		})
	}
}

const embedResponse = `{
  "embeddings": [
    {"values": [0.25, -1.5, 3.0e-7]},
    {"values": [1, 0, -0.125]}
  ]
}`

func TestDecodeEmbeddingsGolden(t *testing.T) {
	tests := []struct {
		name, request, response string
		wantTokens              chat.Tokens
	}{
		// "héllo wörld" is 11 characters: 3 estimated tokens; "abc" is 1.
		{"float", `{"model":"google/gemini-embedding-001","input":["héllo wörld","abc"]}`, embedResponse, chat.Tokens{Input: 4}},
		{"base64", `{"model":"google/gemini-embedding-001","input":["héllo wörld","abc"],"encoding_format":"base64"}`, embedResponse, chat.Tokens{Input: 4}},
		{"reported_usage", `{"model":"emb","input":"x"}`, `{"embeddings":[{"values":[0.5]}],"usageMetadata":{"promptTokenCount":7}}`, chat.Tokens{Input: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tokens, err := Dialect{}.DecodeEmbeddings([]byte(tt.response), embeddingRequest(t, tt.request))
			if err != nil {
				t.Fatal(err)
			}
			if tokens != tt.wantTokens {
				t.Errorf("tokens = %+v, want %+v", tokens, tt.wantTokens)
			}
			checkGolden(t, "testdata/embeddings/decode_"+tt.name+".golden.json", got)
		})
	}
}

// The base64 form must decode, as OpenAI clients do it, to the same floats
// as the float form.
func TestDecodeEmbeddingsBase64RoundTrip(t *testing.T) {
	out, _, err := Dialect{}.DecodeEmbeddings([]byte(embedResponse), embeddingRequest(t, `{"model":"m","input":["a","b"],"encoding_format":"base64"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{0.25, -1.5, 3.0e-7}, {1, 0, -0.125}}
	for i, d := range body.Data {
		raw, err := base64.StdEncoding.DecodeString(d.Embedding)
		if err != nil || len(raw) != 4*len(want[i]) {
			t.Fatalf("embedding %d: %v, %d bytes", i, err, len(raw))
		}
		for j, w := range want[i] {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); got != w {
				t.Errorf("embedding %d value %d = %v, want %v", i, j, got, w)
			}
		}
	}
}

// The float form repeats the provider's numbers; narrowing them to float32
// text would hand float64 clients values the provider never sent.
func TestDecodeEmbeddingsKeepsPrecision(t *testing.T) {
	out, _, err := Dialect{}.DecodeEmbeddings([]byte(`{"embeddings":[{"values":[0.920501708984375,-0.11480712890625]}]}`),
		embeddingRequest(t, `{"model":"m","input":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatal(err)
	}
	if got := body.Data[0].Embedding; len(got) != 2 || got[0] != 0.920501708984375 || got[1] != -0.11480712890625 {
		t.Errorf("embedding %v, want the provider's values exactly", got)
	}
}

func TestDecodeEmbeddingsErrors(t *testing.T) {
	r := embeddingRequest(t, `{"model":"m","input":["a","b"]}`)
	for name, body := range map[string]string{
		"count mismatch": `{"embeddings":[{"values":[1]}]}`,
		"not JSON":       `{"embeddings":`,
	} {
		if _, _, err := (Dialect{}).DecodeEmbeddings([]byte(body), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
