package gemini

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// DecodeResponse translates a GenerateContentResponse. Only the first
// candidate is read, since EncodeRequest never asks for more. Thought parts,
// thought signatures and parts the canonical model has no place for (inline
// media, executable code) are dropped.
//
// # Errors
//
// A *chat.Error when the body is a Gemini error object, otherwise a wrapped
// JSON error.
func (Dialect) DecodeResponse(body []byte) (*chat.Response, error) {
	if e := gjson.GetBytes(body, "error"); e.IsObject() {
		return nil, errorFromObject(int(e.Get("code").Int()), nil, e)
	}
	var r generateContentResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("gemini: decode response: %w", err)
	}
	id := responseID(r.ResponseID)
	resp := &chat.Response{
		ID:      id,
		Object:  "chat.completion",
		Created: created(r.CreateTime),
		Model:   r.ModelVersion,
	}
	choice := chat.Choice{Message: chat.ResponseMessage{Role: "assistant"}}
	var text string
	if len(r.Candidates) > 0 {
		c := r.Candidates[0]
		var calls []chat.ToolCall
		text, calls = candidateParts(c.Content, newCallIDs(id))
		choice.Message.ToolCalls = calls
		choice.FinishReason = finishReason(c.FinishReason, len(calls) > 0)
	} else {
		choice.FinishReason = chat.FinishStop
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			choice.FinishReason = chat.FinishContentFilter
		}
	}
	// OpenAI sends null content only beside tool calls; clients often
	// assume a string otherwise.
	if text != "" || len(choice.Message.ToolCalls) == 0 {
		choice.Message.Content = &text
	}
	resp.Choices = []chat.Choice{choice}
	if r.UsageMetadata != nil {
		resp.Usage = r.UsageMetadata.tokens().Usage()
	}
	return resp, nil
}

// candidateParts splits a candidate's content into visible text and tool
// calls.
func candidateParts(c *content, ids *callIDs) (string, []chat.ToolCall) {
	if c == nil {
		return "", nil
	}
	var text strings.Builder
	var calls []chat.ToolCall
	for _, p := range c.Parts {
		switch {
		case p.Thought:
		case p.FunctionCall != nil:
			calls = append(calls, ids.toolCall(p.FunctionCall))
		default:
			text.WriteString(p.Text)
		}
	}
	return text.String(), calls
}

// callIDs names tool calls. Gemini's API often sends calls without ids, so
// ids are derived from the response id and the call's position: the same
// response always yields the same ids, streamed or not, and ids stay unique
// across a conversation (Anthropic, a possible fallback upstream, rejects
// repeated tool ids in one conversation).
type callIDs struct {
	prefix string
	next   int
}

func newCallIDs(responseID string) *callIDs {
	h := fnv.New64a()
	h.Write([]byte(responseID))
	return &callIDs{prefix: fmt.Sprintf("call_%016x_", h.Sum64())}
}

func (c *callIDs) toolCall(fc *functionCall) chat.ToolCall {
	id := fc.ID
	if id == "" {
		id = c.prefix + strconv.Itoa(c.next)
	}
	c.next++
	// A call without arguments still gets "{}": clients parse the string.
	args := "{}"
	var b bytes.Buffer
	if a := bytes.TrimSpace(fc.Args); len(a) > 0 && !bytes.Equal(a, []byte("null")) && json.Compact(&b, a) == nil {
		args = b.String()
	}
	return chat.ToolCall{ID: id, Type: "function", Function: chat.FunctionCall{Name: fc.Name, Arguments: args}}
}

// finishReason maps Gemini's reasons. Everything that means "the output was
// withheld by a filter" becomes content_filter; reasons with no OpenAI
// counterpart (OTHER, MALFORMED_FUNCTION_CALL, ...) become stop, or
// tool_calls when complete calls were produced.
func finishReason(reason string, toolCalls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return chat.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return chat.FinishContentFilter
	}
	if toolCalls {
		return chat.FinishToolCalls
	}
	return chat.FinishStop
}

// responseID keeps Gemini's id so a response can be found in Google's logs;
// only when it is missing is one made up.
func responseID(id string) string {
	if id != "" {
		return id
	}
	return "chatcmpl-" + rand.Text()
}

// created uses the upstream's timestamp when there is one (Vertex sends it,
// the Gemini API usually does not).
func created(createTime string) int64 {
	if t, err := time.Parse(time.RFC3339Nano, createTime); err == nil {
		return t.Unix()
	}
	return time.Now().Unix()
}

// ResponseUsage reads usageMetadata without decoding the rest of the body.
func (Dialect) ResponseUsage(body []byte) (chat.Tokens, bool) {
	return usageFrom(gjson.GetBytes(body, "usageMetadata"))
}

func usageFrom(u gjson.Result) (chat.Tokens, bool) {
	if !u.IsObject() {
		return chat.Tokens{}, false
	}
	m := usageMetadata{
		PromptTokenCount:        int(u.Get("promptTokenCount").Int()),
		CachedContentTokenCount: int(u.Get("cachedContentTokenCount").Int()),
		CandidatesTokenCount:    int(u.Get("candidatesTokenCount").Int()),
		ThoughtsTokenCount:      int(u.Get("thoughtsTokenCount").Int()),
		ToolUsePromptTokenCount: int(u.Get("toolUsePromptTokenCount").Int()),
	}
	return m.tokens(), true
}

// errNoNativeClient is returned by PrepareNative. The gateway offers no
// Gemini-shaped endpoint, so a body in Gemini's format can only come from a
// routing bug.
var errNoNativeClient = errors.New("gemini: no client speaks Gemini's native format; requests must be translated with EncodeRequest")

// PrepareNative always fails: see errNoNativeClient.
func (Dialect) PrepareNative(body []byte, model string, stream bool) ([]byte, error) {
	return nil, errNoNativeClient
}
