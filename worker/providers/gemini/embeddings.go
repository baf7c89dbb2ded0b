package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality *int    `json:"outputDimensionality,omitempty"`
}

type batchEmbedResponse struct {
	// Values are read as float64 so that the float form repeats the
	// provider's numbers exactly; only the base64 form narrows them to the
	// float32s OpenAI's encoding carries.
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
	UsageMetadata *struct {
		PromptTokenCount int `json:"promptTokenCount"`
	} `json:"usageMetadata"`
}

// EncodeEmbeddings renders an OpenAI embeddings request as a
// batchEmbedContents body, one request per input. user is dropped; Gemini's
// taskType has no OpenAI counterpart and is left to the model's default.
//
// # Errors
//
// A 400 *chat.Error for token-array inputs (Gemini embeds text only), empty
// inputs, a non-positive dimensions, or an encoding_format other than float
// or base64.
func (Dialect) EncodeEmbeddings(r *chat.EmbeddingRequest, model string) ([]byte, error) {
	inputs, err := embeddingInputs(r.Input)
	if err != nil {
		return nil, err
	}
	switch r.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, chat.BadRequest("encoding_format", "encoding_format must be float or base64")
	}
	if r.Dimensions != nil && *r.Dimensions <= 0 {
		return nil, chat.BadRequest("dimensions", "dimensions must be positive")
	}
	name := modelResource(model)
	reqs := make([]embedRequest, len(inputs))
	for i, in := range inputs {
		reqs[i] = embedRequest{Model: name, Content: content{Parts: []part{{Text: in}}}, OutputDimensionality: r.Dimensions}
	}
	return marshal(batchEmbedRequest{Requests: reqs})
}

func embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	var inputs []string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, chat.BadRequest("input", "input must be a string or an array of strings")
		}
		inputs = []string{one}
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &inputs); err != nil {
			return nil, chat.BadRequest("input", "provider %s embeds text only: input must be a string or an array of strings, not tokens", vendor)
		}
	default:
		return nil, chat.BadRequest("input", "input must be a string or an array of strings")
	}
	if len(inputs) == 0 {
		return nil, chat.BadRequest("input", "input must not be empty")
	}
	for i, in := range inputs {
		if in == "" {
			return nil, chat.BadRequest(fmt.Sprintf("input[%d]", i), "input strings must not be empty")
		}
	}
	return inputs, nil
}

type embeddingsBody struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingsUsage `json:"usage"`
}

type embeddingItem struct {
	Object string `json:"object"`
	Index  int    `json:"index"`
	// Embedding is []float64 or, for encoding_format base64, a string.
	Embedding any `json:"embedding"`
}

type embeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// DecodeEmbeddings renders a batchEmbedContents response as an OpenAI
// embeddings body for the request r it answers.
//
// # Notes
//
// batchEmbedContents reports no token counts today. A
// usageMetadata.promptTokenCount is used if one ever appears; otherwise the
// count is an estimate, one token per four characters of each input rounded
// up, so billing and the client's usage field have a number.
func (Dialect) DecodeEmbeddings(body []byte, r *chat.EmbeddingRequest) ([]byte, chat.Tokens, error) {
	var g batchEmbedResponse
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, chat.Tokens{}, fmt.Errorf("gemini: decode embeddings: %w", err)
	}
	inputs, err := embeddingInputs(r.Input)
	if err != nil {
		return nil, chat.Tokens{}, err
	}
	if len(g.Embeddings) != len(inputs) {
		return nil, chat.Tokens{}, fmt.Errorf("gemini: %d embeddings for %d inputs", len(g.Embeddings), len(inputs))
	}
	out := embeddingsBody{Object: "list", Data: make([]embeddingItem, len(g.Embeddings)), Model: r.Model}
	for i, e := range g.Embeddings {
		out.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: e.Values}
		if r.EncodingFormat == "base64" {
			out.Data[i].Embedding = float32Base64(e.Values)
		} else if e.Values == nil {
			out.Data[i].Embedding = []float64{}
		}
	}
	var tokens chat.Tokens
	if g.UsageMetadata != nil && g.UsageMetadata.PromptTokenCount > 0 {
		tokens.Input = g.UsageMetadata.PromptTokenCount
	} else {
		for _, in := range inputs {
			tokens.Input += (utf8.RuneCountInString(in) + 3) / 4
		}
	}
	out.Usage = embeddingsUsage{PromptTokens: tokens.Input, TotalTokens: tokens.Input}
	b, err := marshal(out)
	if err != nil {
		return nil, chat.Tokens{}, err
	}
	return b, tokens, nil
}

// float32Base64 is OpenAI's base64 encoding: the little-endian float32
// bytes, in standard base64.
func float32Base64(v []float64) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// modelResource is the "models/<name>" form Gemini uses in bodies and paths;
// a name that already has the prefix is not prefixed twice.
func modelResource(model string) string {
	return "models/" + strings.TrimPrefix(model, "models/")
}
