// Package gemini speaks Google's Gemini API (generateContent,
// streamGenerateContent and batchEmbedContents) on the upstream side of the
// gateway.
//
// Only the outbound direction exists: no client talks Gemini's format to the
// gateway, so requests always arrive in the canonical (OpenAI) shape and are
// translated here, and responses are translated back. The mapping decisions,
// what is refused with a 400 and what is dropped, are in RATIONALE.md.
package gemini

import (
	"bytes"
	"encoding/json"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// vendor names the upstream in client-facing messages. It is the vendor, not
// the operator's provider id, because Dialect is shared by every Gemini
// account the operator configures.
const vendor = "google"

// Dialect is Gemini's wire format. The zero value is ready to use.
type Dialect struct{}

var (
	_ chat.Outbound = Dialect{}
	_ chat.Embedder = Dialect{}
)

// The types below are the subset of Gemini's REST schema the gateway writes
// and reads. Field names are checked against the official Go SDK in
// oracle_test.go.

type generateContentRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

// blob carries base64 data exactly as it came in the client's data URL; the
// gateway never decodes it.
type blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionDeclaration struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ParametersJSONSchema takes full JSON Schema, unlike `parameters`, which
	// takes an OpenAPI subset and would reject schemas clients already send
	// to OpenAI.
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *thinkingConfig `json:"thinkingConfig,omitempty"`
}

type thinkingConfig struct {
	// ThinkingBudget is a pointer because 0 is meaningful: thinking off.
	ThinkingBudget *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel  string `json:"thinkingLevel,omitempty"`
}

type generateContentResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	CreateTime     string          `json:"createTime"`
}

type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
}

// tokens applies the canonical accounting rule. Gemini's promptTokenCount
// already includes the cached tokens, and tool-use prompt tokens (results of
// server-side tools fed back to the model) are billed as input but reported
// beside the prompt, so they are added to Input.
func (u *usageMetadata) tokens() chat.Tokens {
	return chat.Tokens{
		Input:       max(u.PromptTokenCount-u.CachedContentTokenCount, 0) + u.ToolUsePromptTokenCount,
		CachedInput: u.CachedContentTokenCount,
		Output:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		Reasoning:   u.ThoughtsTokenCount,
	}
}

// marshal is json.Marshal without HTML escaping, so text travels to the
// upstream byte for byte as the client wrote it.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
