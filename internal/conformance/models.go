package conformance

import (
	"slices"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
)

// testModels lists the catalog through both SDKs: OpenAI's list has every
// model, Anthropic's only the chat models.
func (s *suite) testModels(t *testing.T) {
	chatModels := []string{providers[0].model, providers[1].model, providers[2].model}
	for _, m := range Models() {
		chatModels = append(chatModels, m.ID)
	}
	embeddingModels := []string{"openai/text-embedding-3-small", "google/gemini-embedding-001"}

	t.Run("openai", func(t *testing.T) {
		t.Parallel()
		c := newOpenAIClient(t, s.tg, s.tg.APIKey)
		ctx, cancel := callContext(t)
		defer cancel()
		page, err := c.sdk.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		for _, want := range append(chatModels, embeddingModels...) {
			if !slices.Contains(ids, want) {
				t.Errorf("%s is not listed in %v", want, ids)
			}
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		t.Parallel()
		c := newAnthropicClient(s.tg, s.tg.APIKey)
		ctx, cancel := callContext(t)
		defer cancel()
		page, err := c.sdk.Models.List(ctx, anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		for _, want := range chatModels {
			if !slices.Contains(ids, want) {
				t.Errorf("%s is not listed in %v", want, ids)
			}
		}
		for _, unwanted := range embeddingModels {
			if slices.Contains(ids, unwanted) {
				t.Errorf("the embedding model %s is listed for Messages clients", unwanted)
			}
		}
	})
}
