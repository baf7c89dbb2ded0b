package conformance

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// A client style is one inbound API and its official SDK. The matrix states
// each case once, as a chatRequest, and every style renders it with its own
// SDK types and reads the SDK's answer back into a reply.
type client interface {
	// chat sends r and returns what the SDK made of the answer. The reply
	// carries the request id even when err is set.
	chat(ctx context.Context, r chatRequest) (reply, error)
	// finish spells a canonical finish reason (chat.FinishStop, …) the way
	// this style reports it.
	finish(canonical string) string
	// apiError unwraps the SDK's error for an HTTP error status.
	apiError(err error) (apiError, bool)
}

type style struct {
	name string
	// unavailable is the error type of a 503 in this style.
	unavailable string
	// open makes a client for one test using key.
	open func(t *testing.T, s *suite, key string) client
}

var styles = []style{
	{
		name:        "openai",
		unavailable: chat.TypeUpstream,
		open:        func(t *testing.T, s *suite, key string) client { return newOpenAIClient(t, s.tg, key) },
	},
	{
		name:        "anthropic",
		unavailable: "overloaded_error",
		open:        func(t *testing.T, s *suite, key string) client { return newAnthropicClient(s.tg, key) },
	},
}

// chatRequest is one chat call, independent of the client style.
type chatRequest struct {
	model  string
	system string
	turns  []turn
	// tools defines get_weather and get_time.
	tools bool
	// maxTokens limits the output; 0 sends no limit (the Anthropic style
	// sends its SDK-required default instead).
	maxTokens int
	stream    bool
	// hangUpAfter, for streams, cancels the request after this many events.
	hangUpAfter int
	// extra holds Switchyard's own request fields (models, provider), sent
	// the way each SDK sends fields it does not model.
	extra map[string]any
}

// turn is one message of a conversation.
type turn struct {
	role  string // "user" or "assistant"
	text  string
	image bool // a user turn carrying testImage
	// answered, on an assistant turn, replays that earlier reply (with its
	// tool calls) as the SDK's own message and follows it with one tool
	// result per call.
	answered *reply
}

func user(text string) turn      { return turn{role: "user", text: text} }
func assistant(text string) turn { return turn{role: "assistant", text: text} }

// toolResults replays r and answers each of its tool calls.
func toolResults(r *reply) turn { return turn{role: "assistant", answered: r} }

// toolResult is the content sent back for a call.
func toolResult(tc toolCall) string { return `{"result":"done by ` + tc.name + `"}` }

// reply is what a client style read from the SDK.
type reply struct {
	requestID string
	text      string
	finish    string // as the style spells it
	// tokens is the usage the client saw, in disjoint counts: OpenAI's
	// prompt_tokens is Input+CachedInput; Anthropic's input_tokens is Input.
	tokens    chat.Tokens
	toolCalls []toolCall
	// events counts the stream events the SDK delivered.
	events int
	// native is the SDK's message, replayed by toolResults.
	native any
}

type toolCall struct {
	id, name, args string
}

type apiError struct {
	status int
	typ    string
	// body is everything the client can read of the error.
	body string
}

// The two tools every tools case defines, and the arguments the emulator
// builds for them from their schemas.
var (
	weatherSchema = map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	}
	timeSchema = map[string]any{
		"type":       "object",
		"properties": map[string]any{"zone": map[string]any{"type": "string", "enum": []string{"UTC", "CET"}}},
		"required":   []string{"zone"},
	}
	wantCalls = []toolCall{
		{name: "get_weather", args: `{"city":"sample"}`},
		{name: "get_time", args: `{"zone":"UTC"}`},
	}
)

// testImage is a 1×1 PNG.
var testImage = func() []byte {
	b, err := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==")
	if err != nil {
		panic(err)
	}
	return b
}()
