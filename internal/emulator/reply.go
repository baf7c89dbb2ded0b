package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// conversation is what a chat request of any provider boils down to; the
// provider adapters fill it in and render the reply in their own format, so
// that the three APIs behave identically where the package comment promises.
type conversation struct {
	model        string
	seed         string // hash of the request content, for ids
	promptTokens int    // P of the package comment
	lastUserText string
	lastImages   int
	lastIsUser   bool
	toolResults  int // results carried by the last message
	tools        []toolSpec
	toolMode     toolMode
	allowed      []string // when non-empty, only these tools may be called
	maxTokens    int      // 0 = no limit
	stop         []string
	jsonMode     bool
	jsonSchema   map[string]any
}

type toolSpec struct {
	name   string
	schema map[string]any
}

type toolMode int

const (
	toolAuto toolMode = iota
	toolNone
	toolRequired
)

type finishReason int

const (
	finishStop finishReason = iota
	finishLength
	finishStopSequence
	finishToolCalls
)

type toolCall struct {
	id   string
	name string
	args string // compact JSON object
}

// reply is the provider-neutral answer.
type reply struct {
	text         string
	pieces       []string // stream deltas; they concatenate to text
	toolCalls    []toolCall
	finish       finishReason
	stopSequence string
	promptTokens int // P
	outputTokens int // W
	cached       int // C
	reasoning    int // R
}

// promptCounter implements the prompt side of the token rule.
type promptCounter struct{ tokens int }

func (p *promptCounter) message()            { p.tokens += 3 }
func (p *promptCounter) text(s string)       { p.tokens += ceilDiv(len(s), 4) }
func (p *promptCounter) images(n int)        { p.tokens += 85 * n }
func (p *promptCounter) json(v any)          { b, _ := json.Marshal(v); p.text(string(b)) }
func ceilDiv(a, b int) int                   { return (a + b - 1) / b }
func callTokens(args string) int             { return ceilDiv(len(args), 4) + 3 }
func wordCount(s string) int                 { return len(strings.Fields(s)) }
func hashHex(parts ...string) string         { return hex.EncodeToString(hashBytes(parts...)) }
func newID(prefix, seed, salt string) string { return prefix + hashHex(seed, salt)[:24] }

func hashBytes(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// requestSeed hashes a JSON body without the keys that only select the
// transport (stream, stream_options), so the JSON and streaming forms of one
// request get the same ids.
func requestSeed(provider, model string, body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return hashHex(provider, model, string(body))
	}
	delete(m, "stream")
	delete(m, "stream_options")
	canon, _ := json.Marshal(m)
	return hashHex(provider, model, string(canon))
}

// respond decides the reply; callIDPrefix is "call_", "toolu_" or "" for
// providers whose function calls carry no id.
func (c *conversation) respond(rule Rule, callIDPrefix string) reply {
	rp := reply{promptTokens: c.promptTokens, cached: rule.CachedTokens, reasoning: rule.ReasoningTokens}
	var text string
	switch {
	case rule.Text != "":
		text = rule.Text
	case c.toolResults > 0:
		text = c.jsonWrap(fmt.Sprintf("Got %d tool result(s).", c.toolResults))
	case c.lastIsUser && len(c.tools) > 0 && c.toolMode != toolNone:
		rp.toolCalls = c.toolCalls(callIDPrefix)
		rp.finish = finishToolCalls
		for _, tc := range rp.toolCalls {
			rp.outputTokens += callTokens(tc.args)
		}
		return rp
	default:
		text = c.jsonWrap(c.defaultText())
	}
	if i, seq := firstStop(text, c.stop); i >= 0 {
		text, rp.finish, rp.stopSequence = text[:i], finishStopSequence, seq
	}
	rp.pieces = splitWords(text)
	if c.maxTokens > 0 && wordCount(text) > c.maxTokens {
		rp.pieces = rp.pieces[:c.maxTokens]
		text = strings.Join(rp.pieces, "")
		rp.finish, rp.stopSequence = finishLength, ""
	}
	rp.text = text
	rp.outputTokens = wordCount(text)
	return rp
}

func (c *conversation) defaultText() string {
	words := strings.Fields(c.lastUserText)
	if len(words) > 8 {
		words = words[:8]
	}
	text := "Hello from " + c.model + "."
	if len(words) > 0 {
		text += " You said: " + strings.Join(words, " ")
	}
	switch {
	case c.lastImages == 1:
		text += " I see 1 image."
	case c.lastImages > 1:
		text += fmt.Sprintf(" I see %d images.", c.lastImages)
	}
	return text
}

func (c *conversation) jsonWrap(text string) string {
	if !c.jsonMode {
		return text
	}
	var v any = map[string]any{"answer": text}
	if c.jsonSchema != nil {
		v = sampleObject(c.jsonSchema)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (c *conversation) toolCalls(idPrefix string) []toolCall {
	var calls []toolCall
	for _, t := range c.tools {
		if len(c.allowed) > 0 && !slices.Contains(c.allowed, t.name) {
			continue
		}
		args, _ := json.Marshal(sampleObject(t.schema))
		tc := toolCall{name: t.name, args: string(args)}
		if idPrefix != "" {
			tc.id = newID(idPrefix, c.seed, fmt.Sprint("call", len(calls)))
		}
		calls = append(calls, tc)
	}
	return calls
}

func (c *conversation) hasTool(name string) bool {
	return slices.ContainsFunc(c.tools, func(t toolSpec) bool { return t.name == name })
}

// firstStop finds the earliest stop sequence in text.
func firstStop(text string, stops []string) (int, string) {
	at, seq := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, seq = i, s
		}
	}
	return at, seq
}

// splitWords cuts text into one piece per word, each piece carrying the
// whitespace before its word (the first also any leading whitespace, the last
// any trailing), so pieces concatenate back to text and len(pieces) equals
// wordCount(text) whenever text has a word.
func splitWords(text string) []string {
	if text == "" {
		return nil
	}
	var pieces []string
	start, lastEnd, inWord := 0, -1, false
	for i, r := range text {
		if unicode.IsSpace(r) {
			if inWord {
				lastEnd, inWord = i, false
			}
			continue
		}
		if !inWord && lastEnd >= 0 {
			pieces = append(pieces, text[start:lastEnd])
			start = lastEnd
		}
		inWord = true
	}
	return append(pieces, text[start:])
}

// splitJSON cuts an argument string into at least two fragments (when it has
// two runes) on rune boundaries, as providers stream partial JSON.
func splitJSON(s string) []string {
	n := utf8.RuneCountInString(s)
	size := min(12, max(1, n/2))
	var out []string
	var cur []rune
	for _, r := range s {
		cur = append(cur, r)
		if len(cur) == size {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}

// sampleObject builds a value for an object schema, always returning an
// object because tool arguments and structured replies must be objects.
func sampleObject(schema map[string]any) map[string]any {
	if m, ok := sampleValue(schema).(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// sampleValue fills a schema with the documented placeholder values. It reads
// both JSON Schema and Gemini's OpenAPI subset (upper-case type names).
func sampleValue(schema map[string]any) any {
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	switch schemaType(schema) {
	case "object":
		obj := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		required, _ := schema["required"].([]any)
		for _, r := range required {
			name, ok := r.(string)
			if !ok {
				continue
			}
			prop, _ := props[name].(map[string]any)
			obj[name] = sampleValue(prop)
		}
		return obj
	case "string":
		return "sample"
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "null":
		return nil
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := schema[k].([]any); ok && len(alts) > 0 {
			if first, ok := alts[0].(map[string]any); ok {
				return sampleValue(first)
			}
		}
	}
	if _, ok := schema["properties"]; ok {
		return sampleValue(map[string]any{"type": "object", "properties": schema["properties"], "required": schema["required"]})
	}
	return "sample"
}

func schemaType(schema map[string]any) string {
	switch t := schema["type"].(type) {
	case string:
		return strings.ToLower(t)
	case []any:
		for _, v := range t {
			if s, ok := v.(string); ok && s != "null" {
				return strings.ToLower(s)
			}
		}
	}
	return ""
}
