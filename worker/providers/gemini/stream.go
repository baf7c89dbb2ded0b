package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// NewStreamDecoder decodes streamGenerateContent?alt=sse, where every data
// event is a whole GenerateContentResponse.
//
// # Notes
//
// Gemini repeats usageMetadata on chunks and has no end-of-stream event, and
// the decoder never sees EOF. So the chunk that carries a finishReason (or a
// prompt block) ends the stream: the decoder emits the finish chunk, then a
// usage-only chunk (empty choices) from the latest usageMetadata, and Done
// turns true. Whether the client sees that usage chunk is the gateway's
// decision (stream_options.include_usage).
func (Dialect) NewStreamDecoder() chat.StreamDecoder {
	return &streamDecoder{}
}

type streamDecoder struct {
	id      string
	model   string
	created int64
	ids     *callIDs
	// toolCalls counts calls so far; it is the next call's delta index.
	toolCalls int
	usage     chat.Tokens
	hasUsage  bool
	started   bool
	done      bool
}

func (d *streamDecoder) Decode(ev *sse.Event) ([]chat.Chunk, error) {
	if d.done || len(bytes.TrimSpace(ev.Data)) == 0 {
		return nil, nil
	}
	if e := gjson.GetBytes(ev.Data, "error"); e.IsObject() {
		return nil, errorFromObject(int(e.Get("code").Int()), nil, e)
	}
	var r generateContentResponse
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return nil, fmt.Errorf("gemini: decode stream event: %w", err)
	}
	if r.UsageMetadata != nil {
		d.usage, d.hasUsage = r.UsageMetadata.tokens(), true
	}
	var out []chat.Chunk
	if !d.started {
		d.started = true
		d.id = responseID(r.ResponseID)
		d.model = r.ModelVersion
		d.created = created(r.CreateTime)
		d.ids = newCallIDs(d.id)
		empty := ""
		out = append(out, d.chunk(chat.Delta{Role: "assistant", Content: &empty}, nil))
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			return d.finish(out, chat.FinishContentFilter), nil
		}
		return out, nil
	}
	c := r.Candidates[0]
	text, calls := candidateParts(c.Content, d.ids)
	if text != "" {
		out = append(out, d.chunk(chat.Delta{Content: &text}, nil))
	}
	// One call per chunk, each complete: Gemini never splits a call's
	// arguments, and some clients read only the first call of a delta.
	for i := range calls {
		n := d.toolCalls
		d.toolCalls++
		calls[i].Index = &n
		out = append(out, d.chunk(chat.Delta{ToolCalls: calls[i : i+1]}, nil))
	}
	if c.FinishReason != "" {
		return d.finish(out, finishReason(c.FinishReason, d.toolCalls > 0)), nil
	}
	return out, nil
}

func (d *streamDecoder) finish(out []chat.Chunk, reason string) []chat.Chunk {
	d.done = true
	out = append(out, d.chunk(chat.Delta{}, &reason))
	if d.hasUsage {
		u := d.chunk(chat.Delta{}, nil)
		u.Choices = []chat.ChunkChoice{}
		u.Usage = d.usage.Usage()
		out = append(out, u)
	}
	return out
}

func (d *streamDecoder) chunk(delta chat.Delta, finish *string) chat.Chunk {
	return chat.Chunk{
		ID:      d.id,
		Object:  "chat.completion.chunk",
		Created: d.created,
		Model:   d.model,
		Choices: []chat.ChunkChoice{{Delta: delta, FinishReason: finish}},
	}
}

func (d *streamDecoder) Usage() (chat.Tokens, bool) { return d.usage, d.hasUsage }

func (d *streamDecoder) Done() bool { return d.done }

// NewStreamTap watches a native Gemini stream. No client speaks Gemini
// today, so nothing calls it; it exists so Dialect honours chat.Outbound
// fully. Gemini puts usage inside content chunks rather than in an event of
// its own, so there is nothing to hold back and every event is forwarded
// whatever clientWantsUsage says.
func (Dialect) NewStreamTap(clientWantsUsage bool) chat.StreamTap {
	return &streamTap{}
}

type streamTap struct {
	usage    chat.Tokens
	hasUsage bool
	done     bool
}

func (t *streamTap) Tap(ev *sse.Event) (bool, error) {
	r := gjson.ParseBytes(ev.Data)
	if e := r.Get("error"); e.IsObject() {
		return false, errorFromObject(int(e.Get("code").Int()), nil, e)
	}
	if u, ok := usageFrom(r.Get("usageMetadata")); ok {
		t.usage, t.hasUsage = u, true
	}
	if r.Get("candidates.0.finishReason").String() != "" || r.Get("promptFeedback.blockReason").String() != "" {
		t.done = true
	}
	return true, nil
}

func (t *streamTap) Usage() (chat.Tokens, bool) { return t.usage, t.hasUsage }

func (t *streamTap) Done() bool { return t.done }
