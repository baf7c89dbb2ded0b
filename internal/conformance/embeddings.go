package conformance

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// testEmbeddings asks both embedding models for the same inputs as floats
// and as base64: the emulator embeds a text identically whatever the model,
// and float32 base64 carries its values exactly, so all four must agree.
func (s *suite) testEmbeddings(t *testing.T) {
	inputs := []string{"the first input", "and the second one"}
	c := newOpenAIClient(t, s.tg, s.tg.APIKey)
	var reference [][]float64
	for _, model := range []string{"openai/text-embedding-3-small", "google/gemini-embedding-001"} {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			var raw *http.Response
			ctx, cancel := callContext(t)
			resp, err := c.sdk.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          model,
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
				EncodingFormat: format,
			}, option.WithResponseInto(&raw))
			cancel()
			if err != nil {
				t.Fatalf("%s %s: %v", model, format, err)
			}
			var got [][]float64
			for i, d := range resp.Data {
				if d.Index != int64(i) {
					t.Errorf("%s %s: embedding %d has index %d", model, format, i, d.Index)
				}
				if isString := d.JSON.Embedding.Raw()[0] == '"'; isString != (format == openai.EmbeddingNewParamsEncodingFormatBase64) {
					t.Errorf("%s %s: the embedding came as %.20s…", model, format, d.JSON.Embedding.Raw())
				}
				got = append(got, d.Embedding)
			}
			if len(got) != len(inputs) || len(got[0]) == 0 {
				t.Fatalf("%s %s: %d embeddings of %d values, want %d", model, format, len(got), len(got[0]), len(inputs))
			}
			if reference == nil {
				reference = got
			} else if !reflect.DeepEqual(got, reference) {
				t.Errorf("%s %s: vectors differ from openai/text-embedding-3-small's floats", model, format)
			}
			rec, ok := s.record(t, requestID(raw))
			if ok && (rec.Status != 200 || rec.Endpoint != "embeddings" || rec.ServedModel != model || rec.Tokens.Prompt() != int(resp.Usage.PromptTokens)) {
				t.Errorf("%s %s: record %+v does not match the response's usage %+v", model, format, rec, resp.Usage)
			}
		}
	}
}
