package sdk

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// A JSON codec for exactly the two ABI types. encoding/json brings reflect
// and fmt, which take a Go plugin from 2.0 MB to 3.3 MB, and makes a call
// three to four times slower: the host's deadline check runs on every
// taken branch of Go's wasm output, so a plugin pays for every branch and
// call, and reflection takes many.

// maxDepth bounds nesting in skipped values (the request body), so a deep
// body cannot exhaust the plugin's stack.
const maxDepth = 512

type decoder struct {
	b     []byte
	i     int
	err   error
	depth int
}

func decodeRequest(b []byte, r *abi.RouteRequest) error {
	d := decoder{b: b}
	d.request(r)
	if d.ws(); d.err == nil && d.i != len(d.b) {
		d.fail("data after the request")
	}
	return d.err
}

func (d *decoder) request(r *abi.RouteRequest) {
	for k := d.firstKey(); k != nil; k = d.nextKey() {
		switch string(k) {
		case "abi":
			r.ABI = int(d.int())
		case "request_id":
			r.RequestID = d.str()
		case "tenant":
			r.Tenant = d.str()
		case "key_id":
			r.KeyID = d.str()
		case "endpoint":
			r.Endpoint = d.str()
		case "model":
			r.Model = d.str()
		case "models":
			r.Models = d.strs()
		case "stream":
			r.Stream = d.bool()
		case "edge":
			d.edge(&r.Edge)
		case "headers":
			r.Headers = d.strMap()
		case "estimated_input_tokens":
			r.EstimatedInputTokens = int(d.int())
		case "candidates":
			r.Candidates = d.candidates()
		case "catalog":
			r.Catalog = d.candidates()
		case "body":
			r.Body = d.raw()
		default:
			d.skip()
		}
	}
}

func (d *decoder) edge(e *abi.Edge) {
	for k := d.firstKey(); k != nil; k = d.nextKey() {
		switch string(k) {
		case "location":
			e.Location = d.str()
		case "country":
			e.Country = d.str()
		default:
			d.skip()
		}
	}
}

func (d *decoder) candidates() []abi.Candidate {
	if d.null() {
		return nil
	}
	cs := []abi.Candidate{}
	for first := true; d.nextElem(&first); {
		var c abi.Candidate
		for k := d.firstKey(); k != nil; k = d.nextKey() {
			switch string(k) {
			case "model":
				c.Model = d.str()
			case "provider":
				c.Provider = d.str()
			case "input_price":
				c.InputPrice = d.int()
			case "output_price":
				c.OutputPrice = d.int()
			case "context_length":
				c.ContextLength = int(d.int())
			case "healthy":
				c.Healthy = d.bool()
			case "latency_ms":
				c.LatencyMs = d.int()
			default:
				d.skip()
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New("request JSON: " + msg + " at byte " + strconv.Itoa(d.i))
	}
	d.i = len(d.b)
}

func (d *decoder) ws() {
	b, i := d.b, d.i
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	d.i = i
}

func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) bool {
	if d.peek() != c {
		d.failExpected(c)
		return false
	}
	d.i++
	return true
}

func (d *decoder) failExpected(c byte) { d.fail("expected " + strconv.QuoteRune(rune(c))) }

// null consumes a JSON null, which leaves any field at its zero value.
func (d *decoder) null() bool {
	if d.peek() != 'n' {
		return false
	}
	return d.literal("null")
}

func (d *decoder) literal(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		d.fail("invalid literal")
		return false
	}
	d.i += len(s)
	return true
}

// firstKey and nextKey step through an object's members: firstKey
// consumes the opening brace, nextKey the comma before the next member,
// and both return the member's key with its colon consumed, or nil at the
// closing brace or on an error. A null object has no members. The key
// aliases the input: it is for comparing, as `switch string(key)`, which
// does not copy.
func (d *decoder) firstKey() []byte {
	if d.null() || !d.expect('{') {
		return nil
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	return d.key()
}

func (d *decoder) nextKey() []byte {
	switch d.peek() {
	case ',':
		d.i++
		return d.key()
	case '}':
		d.i++
	default:
		d.fail("expected , or }")
	}
	return nil
}

func (d *decoder) key() []byte {
	if d.peek() != '"' {
		d.fail("expected a key")
		return nil
	}
	k := d.strBytes()
	if k == nil || !d.expect(':') {
		return nil
	}
	return k
}

func (d *decoder) nextElem(first *bool) bool {
	if *first {
		*first = false
		if !d.expect('[') {
			return false
		}
		if d.peek() == ']' {
			d.i++
			return false
		}
		return true
	}
	switch d.peek() {
	case ',':
		d.i++
		return true
	case ']':
		d.i++
	default:
		d.fail("expected , or ]")
	}
	return false
}

// str aliases the input where it can: the request buffer then lives as
// long as its strings, and most of a request is copied nowhere.
func (d *decoder) str() string {
	if d.peek() != '"' && d.null() {
		return ""
	}
	b := d.strBytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// strBytes reads a string; without escapes the result aliases the input.
// It finds the closing quote with bytes.IndexByte, whose wasm version
// reads a word at a time: a byte loop here would pay the host's deadline
// check on every byte. Control characters, which JSON forbids in strings
// and encoding/json never writes, are let through.
func (d *decoder) strBytes() []byte {
	if !d.expect('"') {
		return nil
	}
	b, start := d.b, d.i
	n := bytes.IndexByte(b[start:], '"')
	if n < 0 {
		d.fail("unterminated string")
		return nil
	}
	s := b[start : start+n]
	if bytes.IndexByte(s, '\\') >= 0 {
		return d.unescape(make([]byte, 0, n))
	}
	d.i = start + n + 1
	return s
}

func (d *decoder) unescape(out []byte) []byte {
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return out
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := d.hex4()
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					d.i += 2
					r2 = d.hex4()
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			d.fail("invalid escape")
			return nil
		}
	}
	d.fail("unterminated string")
	return nil
}

func (d *decoder) hex4() rune {
	if len(d.b)-d.i < 4 {
		d.fail("short \\u escape")
		return 0
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			d.fail("invalid \\u escape")
			return 0
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r
}

func (d *decoder) int() int64 {
	if d.null() {
		return 0
	}
	b, i := d.b, d.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 18; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	if i == start || i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		d.fail("expected an integer of at most 18 digits")
		return 0
	}
	d.i = i
	if neg {
		return -int64(n)
	}
	return int64(n)
}

func (d *decoder) bool() bool {
	switch d.peek() {
	case 't':
		return d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.null()
	default:
		d.fail("expected true or false")
	}
	return false
}

func (d *decoder) strs() []string {
	if d.null() {
		return nil
	}
	ss := []string{}
	for first := true; d.nextElem(&first); {
		ss = append(ss, d.str())
	}
	return ss
}

func (d *decoder) strMap() map[string]string {
	if d.null() {
		return nil
	}
	m := map[string]string{}
	for k := d.firstKey(); k != nil; k = d.nextKey() {
		m[string(k)] = d.str()
	}
	return m
}

// raw keeps a value as it was sent; null is no value.
func (d *decoder) raw() abi.RawJSON {
	if d.null() {
		return nil
	}
	start := d.i
	d.skip()
	if d.err != nil {
		return nil
	}
	return append(abi.RawJSON(nil), d.b[start:d.i]...)
}

func (d *decoder) skip() {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		d.fail("nested too deep")
		return
	}
	switch c := d.peek(); {
	case c == '"':
		d.strBytes()
	case c == '{':
		for k := d.firstKey(); k != nil; k = d.nextKey() {
			d.skip()
		}
	case c == '[':
		for first := true; d.nextElem(&first); {
			d.skip()
		}
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		for d.i < len(d.b) && (d.b[d.i] >= '0' && d.b[d.i] <= '9' || d.b[d.i] == '-' || d.b[d.i] == '+' || d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
			d.i++
		}
		if _, err := strconv.ParseFloat(string(d.b[start:d.i]), 64); err != nil {
			d.i = start
			d.fail("invalid number")
		}
	default:
		d.fail("expected a value")
	}
}

// appendDecision writes d with the field names and omissions of its json
// tags.
func appendDecision(b []byte, d *abi.RouteDecision) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, d.Action)
	if d.Model != "" {
		b = append(b, `,"model":`...)
		b = appendString(b, d.Model)
	}
	if len(d.Fallbacks) > 0 {
		b = append(b, `,"fallbacks":`...)
		b = appendStrings(b, d.Fallbacks)
	}
	if len(d.Providers) > 0 {
		b = append(b, `,"providers":`...)
		b = appendStrings(b, d.Providers)
	}
	if len(d.Headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendMap(b, d.Headers)
	}
	if len(d.Tags) > 0 {
		b = append(b, `,"tags":`...)
		b = appendMap(b, d.Tags)
	}
	if d.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(d.Status), 10)
	}
	if d.Message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, d.Message)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendMap sorts keys, as encoding/json does, so output is reproducible.
func appendMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
