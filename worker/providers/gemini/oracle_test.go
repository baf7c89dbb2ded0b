package gemini

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// The official SDK is the oracle for field names: its types carry the REST
// API's JSON names, and a strict decode into them fails on any field the
// API does not have. The SDK exposes no GenerateContentRequest, so its
// fields are assembled here from the SDK's own part types.
type oracleRequest struct {
	Contents          []*genai.Content        `json:"contents"`
	SystemInstruction *genai.Content          `json:"systemInstruction,omitempty"`
	Tools             []*genai.Tool           `json:"tools,omitempty"`
	ToolConfig        *genai.ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *genai.GenerationConfig `json:"generationConfig,omitempty"`
}

func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("the SDK's types reject the JSON: %v\n%s", err, data)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// Protobuf's JSON accepts bytes in either base64 alphabet, Go's
// encoding/json only the standard one; the placeholder signature is written
// in the URL-safe one. Translating the alphabet changes no byte.
var stdAlphabet = strings.NewReplacer("_", "/", "-", "+")

func TestOracleRequestFieldNames(t *testing.T) {
	for name, path := range inputs(t, "encode", ".request.json") {
		t.Run(name, func(t *testing.T) {
			r := decodeRequest(t, string(readFile(t, path)))
			body, err := Dialect{}.EncodeRequest(r, r.Model)
			if err != nil {
				t.Fatal(err)
			}
			body = []byte(strings.ReplaceAll(string(body), `"thoughtSignature":"`+skipSignature+`"`,
				`"thoughtSignature":"`+stdAlphabet.Replace(skipSignature)+`"`))
			var o oracleRequest
			strictDecode(t, body, &o)
			again, err := json.Marshal(&o)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, body, again) {
				t.Errorf("the SDK's types lose or change fields:\n ours: %s\n  sdk: %s", body, again)
			}
		})
	}
}

func TestOracleResponseDecoding(t *testing.T) {
	for name, path := range inputs(t, "decode", ".json") {
		if strings.HasSuffix(name, ".golden") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			body := readFile(t, path)
			var sdk genai.GenerateContentResponse
			strictDecode(t, body, &sdk)
			ours, err := Dialect{}.DecodeResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			compareWithSDK(t, &sdk, ours)
		})
	}
}

func compareWithSDK(t *testing.T, sdk *genai.GenerateContentResponse, ours *chat.Response) {
	t.Helper()
	if sdk.ResponseID != ours.ID || sdk.ModelVersion != ours.Model {
		t.Errorf("id, model = %q, %q; SDK read %q, %q", ours.ID, ours.Model, sdk.ResponseID, sdk.ModelVersion)
	}
	msg := ours.Choices[0].Message
	var text strings.Builder
	var calls []*genai.FunctionCall
	finish := ""
	if len(sdk.Candidates) > 0 {
		c := sdk.Candidates[0]
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				if p.FunctionCall != nil {
					calls = append(calls, p.FunctionCall)
				} else if !p.Thought {
					text.WriteString(p.Text)
				}
			}
		}
		finish = finishReason(string(c.FinishReason), len(calls) > 0)
	} else if sdk.PromptFeedback != nil && sdk.PromptFeedback.BlockReason != "" {
		finish = chat.FinishContentFilter
	}
	if got := deref(msg.Content); got != nil && got != text.String() {
		t.Errorf("text = %q, SDK read %q", got, text.String())
	}
	if ours.Choices[0].FinishReason != finish {
		t.Errorf("finish = %q, SDK's reason maps to %q", ours.Choices[0].FinishReason, finish)
	}
	if len(msg.ToolCalls) != len(calls) {
		t.Fatalf("%d tool calls, SDK read %d", len(msg.ToolCalls), len(calls))
	}
	for i, fc := range calls {
		args, _ := json.Marshal(fc.Args)
		if fc.Args == nil {
			args = []byte("{}")
		}
		tc := msg.ToolCalls[i]
		if tc.Function.Name != fc.Name || !jsonEqual(t, []byte(tc.Function.Arguments), args) || (fc.ID != "" && tc.ID != fc.ID) {
			t.Errorf("call %d = %s(%s) id %q; SDK read %s(%s) id %q", i, tc.Function.Name, tc.Function.Arguments, tc.ID, fc.Name, args, fc.ID)
		}
	}
	if u := sdk.UsageMetadata; u != nil {
		want := chat.Tokens{
			Input:       int(u.PromptTokenCount-u.CachedContentTokenCount) + int(u.ToolUsePromptTokenCount),
			CachedInput: int(u.CachedContentTokenCount),
			Output:      int(u.CandidatesTokenCount + u.ThoughtsTokenCount),
			Reasoning:   int(u.ThoughtsTokenCount),
		}
		if got := ours.Usage.Tokens(); got != want {
			t.Errorf("tokens = %+v, SDK's counts give %+v", got, want)
		}
	} else if ours.Usage != nil {
		t.Errorf("usage %+v where the SDK read none", ours.Usage)
	}
}

// Every recorded stream event must be a GenerateContentResponse (or an
// error object) the SDK accepts, so the stream tests exercise the real shape.
func TestOracleStreamTranscripts(t *testing.T) {
	for name, path := range inputs(t, "stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			rd := sse.NewReader(bytes.NewReader(readFile(t, path)))
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if bytes.HasPrefix(ev.Data, []byte(`{"error"`)) {
					var e struct {
						Error struct {
							Code    int    `json:"code"`
							Message string `json:"message"`
							Status  string `json:"status"`
						} `json:"error"`
					}
					strictDecode(t, ev.Data, &e)
					continue
				}
				var sdk genai.GenerateContentResponse
				strictDecode(t, ev.Data, &sdk)
			}
		})
	}
}

func TestOracleEmbeddings(t *testing.T) {
	body, err := Dialect{}.EncodeEmbeddings(embeddingRequest(t, `{"input":["a","b"],"dimensions":8}`), "gemini-embedding-001")
	if err != nil {
		t.Fatal(err)
	}
	// The SDK has no batch request type either; its Content checks the
	// part of each request that is not a plain scalar.
	var req struct {
		Requests []struct {
			Model                string         `json:"model"`
			Content              *genai.Content `json:"content"`
			OutputDimensionality int32          `json:"outputDimensionality"`
		} `json:"requests"`
	}
	strictDecode(t, body, &req)
	if len(req.Requests) != 2 || req.Requests[1].Content.Parts[0].Text != "b" || req.Requests[0].Model != "models/gemini-embedding-001" {
		t.Errorf("SDK read %+v", req)
	}
	var resp genai.EmbedContentResponse
	strictDecode(t, []byte(embedResponse), &resp)
	if len(resp.Embeddings) != 2 || resp.Embeddings[0].Values[1] != -1.5 {
		t.Errorf("SDK read %+v", resp.Embeddings)
	}
}
