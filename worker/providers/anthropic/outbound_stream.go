package anthropic

import (
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// NewStreamDecoder turns a Messages event stream into canonical chunks.
//
// # Notes
//
//   - message_start gives the role chunk; text and tool input deltas give
//     content and tool call chunks, tool calls numbered in order of appearance
//     rather than by content block index.
//   - message_delta gives the finish chunk and then a usage chunk with no
//     choices, as OpenAI sends it when include_usage is set. The decoder
//     always emits it; dropping it for clients that did not ask is the
//     caller's business.
//   - Thinking, signature and citation deltas, ping and event types Anthropic
//     may add later produce nothing.
//   - An error event is returned as a *chat.Error classified like the HTTP
//     status Anthropic documents for its type (overloaded_error as 529, so a
//     retryable 503).
func (Dialect) NewStreamDecoder() chat.StreamDecoder {
	return &streamDecoder{tools: map[int64]*toolState{}}
}

type streamDecoder struct {
	meter
	id      string
	model   string
	created int64
	// tools maps a tool_use content block index to its call.
	tools map[int64]*toolState
	done  bool
}

type toolState struct {
	index int
	// hasArgs records whether any argument text went out; a call without
	// parameters streams none, yet OpenAI clients parse the arguments.
	hasArgs bool
}

func (d *streamDecoder) Decode(ev *sse.Event) ([]chat.Chunk, error) {
	data := gjson.ParseBytes(ev.Data)
	switch eventType(ev, data) {
	case "message_start":
		m := data.Get("message")
		d.id, d.model, d.created = m.Get("id").String(), m.Get("model").String(), now().Unix()
		d.read(m.Get("usage"))
		empty := ""
		return d.chunk(chat.Delta{Role: "assistant", Content: &empty}, nil), nil
	case "content_block_start":
		b := data.Get("content_block")
		switch b.Get("type").String() {
		case "text":
			if t := b.Get("text").String(); t != "" {
				return d.chunk(chat.Delta{Content: &t}, nil), nil
			}
		case "tool_use":
			t := &toolState{index: len(d.tools)}
			d.tools[data.Get("index").Int()] = t
			return d.toolChunk(t, chat.ToolCall{
				ID: b.Get("id").String(), Type: "function", Function: chat.FunctionCall{Name: b.Get("name").String()},
			}), nil
		}
	case "content_block_delta":
		delta := data.Get("delta")
		switch delta.Get("type").String() {
		case "text_delta":
			if t := delta.Get("text").String(); t != "" {
				return d.chunk(chat.Delta{Content: &t}, nil), nil
			}
		case "input_json_delta":
			t, ok := d.tools[data.Get("index").Int()]
			if p := delta.Get("partial_json").String(); ok && p != "" {
				t.hasArgs = true
				return d.toolChunk(t, chat.ToolCall{Function: chat.FunctionCall{Arguments: p}}), nil
			}
		}
	case "content_block_stop":
		if t, ok := d.tools[data.Get("index").Int()]; ok && !t.hasArgs {
			t.hasArgs = true
			return d.toolChunk(t, chat.ToolCall{Function: chat.FunctionCall{Arguments: "{}"}}), nil
		}
	case "message_delta":
		d.read(data.Get("usage"))
		finish := finishReason(data.Get("delta.stop_reason").String())
		return append(d.chunk(chat.Delta{}, &finish), chat.Chunk{
			ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model,
			Choices: []chat.ChunkChoice{}, Usage: d.tokens.Usage(),
		}), nil
	case "message_stop":
		d.done = true
	case "error":
		return nil, streamError(data)
	}
	return nil, nil
}

func (d *streamDecoder) Done() bool { return d.done }

func (d *streamDecoder) chunk(delta chat.Delta, finish *string) []chat.Chunk {
	return []chat.Chunk{{
		ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model,
		Choices: []chat.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	}}
}

func (d *streamDecoder) toolChunk(t *toolState, tc chat.ToolCall) []chat.Chunk {
	index := t.index
	tc.Index = &index
	return d.chunk(chat.Delta{ToolCalls: []chat.ToolCall{tc}}, nil)
}

// eventType reads the event name, or the data's type when a relay dropped
// the event lines; Anthropic sends both and they agree.
func eventType(ev *sse.Event, data gjson.Result) string {
	if ev.Name != "" {
		return ev.Name
	}
	return data.Get("type").String()
}

// streamError classifies an in-stream error event by the status Anthropic
// documents for its type, so it is retried or reported like the same failure
// before the stream began.
func streamError(data gjson.Result) *chat.Error {
	typ := data.Get("error.type").String()
	e := chat.UpstreamStatusError(providerName, errorStatus(typ), data.Get("error.message").String(), 0)
	e.Cause = fmt.Errorf("anthropic stream error event of type %q", typ)
	return e
}
