package anthropic

import (
	"encoding/json"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// NewStreamEncoder renders canonical chunks as a Messages event stream:
// message_start, then for each content block content_block_start, its
// deltas and content_block_stop, then message_delta and message_stop.
//
// # Notes
//
//   - message_start goes out with the first chunk. Its usage is whatever
//     that chunk carries, usually nothing (OpenAI and Gemini report usage
//     at the end), so input_tokens is then 0.
//   - message_delta, with the stop reason and complete usage (input,
//     cache and output tokens), is written by Finish, not when the finish
//     reason arrives: OpenAI sends usage in a later chunk with no choices.
//     Anthropic's SDKs take the counts in message_delta as final.
//   - A new block starts whenever the delta switches between text and tool
//     calls or from one tool call index to another. Tool call fragments
//     must arrive contiguously per call, as every upstream sends them.
//   - Only choice 0 is rendered; a translated request never asks for more.
func (Dialect) NewStreamEncoder() chat.StreamEncoder { return &streamEncoder{} }

type blockKind int

const (
	noBlock blockKind = iota
	textBlock
	toolBlock
)

type streamEncoder struct {
	started bool
	open    blockKind
	blocks  int // blocks started so far; the open one has index blocks-1
	tool    int // canonical index of the tool call in the open block
	finish  string
	refused bool
	usage   *chat.Usage
}

// blockEvent is content_block_start, content_block_delta and content_block_stop.
type blockEvent struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block,omitempty"`
	Delta        any    `json:"delta,omitempty"`
}

type textStart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type inputJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type messageDelta struct {
	Type  string          `json:"type"`
	Delta stopDelta       `json:"delta"`
	Usage messageDeltaUse `json:"usage"`
}

type stopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// messageDeltaUse carries output tokens always and the input counts once
// known; Anthropic's SDKs keep message_start's input counts when absent.
type messageDeltaUse struct {
	InputTokens              *int `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int  `json:"output_tokens"`
}

func (e *streamEncoder) Encode(dst []byte, c *chat.Chunk) []byte {
	if c.Usage != nil {
		e.usage = c.Usage
	}
	if !e.started {
		dst = e.start(dst, c)
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		if s := ch.Delta.Content; s != nil && *s != "" {
			dst = e.text(dst, *s)
		}
		if s := ch.Delta.Refusal; s != nil && *s != "" {
			e.refused = true
			dst = e.text(dst, *s)
		}
		for _, tc := range ch.Delta.ToolCalls {
			dst = e.toolCall(dst, tc)
		}
		if f := ch.FinishReason; f != nil && *f != "" {
			e.finish = *f
			dst = e.closeBlock(dst)
		}
	}
	return dst
}

func (e *streamEncoder) Finish(dst []byte) []byte {
	if !e.started {
		dst = e.start(dst, &chat.Chunk{})
	}
	dst = e.closeBlock(dst)
	d := messageDelta{Type: "message_delta", Delta: stopDelta{StopReason: stopReason(e.finish, e.refused)}}
	if e.usage != nil {
		t := e.usage.Tokens()
		d.Usage = messageDeltaUse{
			InputTokens:              &t.Input,
			CacheCreationInputTokens: &t.CacheWrite,
			CacheReadInputTokens:     &t.CachedInput,
			OutputTokens:             t.Output,
		}
	}
	dst = event(dst, "message_delta", d)
	return event(dst, "message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"})
}

// Fail writes Anthropic's in-stream error event. Open blocks stay open, as
// they do when Anthropic itself fails mid-stream.
func (e *streamEncoder) Fail(dst []byte, err *chat.Error) []byte {
	return sse.AppendEvent(dst, "error", errorBody(err))
}

func (e *streamEncoder) start(dst []byte, c *chat.Chunk) []byte {
	e.started = true
	var t chat.Tokens
	if e.usage != nil {
		t = e.usage.Tokens()
	}
	return event(dst, "message_start", struct {
		Type    string          `json:"type"`
		Message messageResponse `json:"message"`
	}{"message_start", messageResponse{
		ID:      messageID(c.ID),
		Type:    "message",
		Role:    "assistant",
		Model:   c.Model,
		Content: []responseBlock{},
		Usage:   usageOf(t),
	}})
}

func (e *streamEncoder) text(dst []byte, s string) []byte {
	if e.open != textBlock {
		dst = e.closeBlock(dst)
		dst = e.openBlock(dst, textBlock, textStart{Type: "text"})
	}
	return e.delta(dst, textDelta{Type: "text_delta", Text: s})
}

func (e *streamEncoder) toolCall(dst []byte, tc chat.ToolCall) []byte {
	index := 0
	if tc.Index != nil {
		index = *tc.Index
	}
	if e.open != toolBlock || e.tool != index {
		dst = e.closeBlock(dst)
		dst = e.openBlock(dst, toolBlock, responseBlock{
			Type: "tool_use", ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: json.RawMessage(`{}`),
		})
		e.tool = index
	}
	if a := tc.Function.Arguments; a != "" {
		dst = e.delta(dst, inputJSONDelta{Type: "input_json_delta", PartialJSON: a})
	}
	return dst
}

func (e *streamEncoder) openBlock(dst []byte, kind blockKind, start any) []byte {
	e.open = kind
	e.blocks++
	return event(dst, "content_block_start", blockEvent{Type: "content_block_start", Index: e.blocks - 1, ContentBlock: start})
}

func (e *streamEncoder) delta(dst []byte, d any) []byte {
	return event(dst, "content_block_delta", blockEvent{Type: "content_block_delta", Index: e.blocks - 1, Delta: d})
}

func (e *streamEncoder) closeBlock(dst []byte) []byte {
	if e.open == noBlock {
		return dst
	}
	e.open = noBlock
	return event(dst, "content_block_stop", blockEvent{Type: "content_block_stop", Index: e.blocks - 1})
}

// event appends a named event whose data is v. The values are built here
// from plain strings and numbers, so marshalling cannot fail.
func event(dst []byte, name string, v any) []byte {
	data, _ := marshal(v)
	return sse.AppendEvent(dst, name, data)
}
