package host

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// appendRequest appends req as JSON, byte for byte what json.Marshal
// writes (encode_test.go holds it to that). Reflection made json.Marshal
// about 40% of a warm call of a tiny plugin; most of a RouteRequest is the
// catalog, plain ASCII ids and numbers, which this writes directly. Any
// string that needs escaping, and the body, still go through
// encoding/json, so escaping has one implementation.
func appendRequest(b []byte, req *abi.RouteRequest) ([]byte, error) {
	b = append(b, `{"abi":`...)
	b = strconv.AppendInt(b, int64(req.ABI), 10)
	b = appendField(b, "request_id", req.RequestID)
	b = appendField(b, "tenant", req.Tenant)
	b = appendField(b, "key_id", req.KeyID)
	b = appendField(b, "endpoint", req.Endpoint)
	b = appendField(b, "model", req.Model)
	b = append(b, `,"models":`...)
	if req.Models == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range req.Models {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m)
		}
		b = append(b, ']')
	}
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, req.Stream)
	b = append(b, `,"edge":{"location":`...)
	b = appendString(b, req.Edge.Location)
	b = appendField(b, "country", req.Edge.Country)
	b = append(b, `},"headers":`...)
	if req.Headers == nil {
		b = append(b, "null"...)
	} else {
		// json.Marshal sorts map keys by their bytes.
		names := make([]string, 0, len(req.Headers))
		for k := range req.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		b = append(b, '{')
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, req.Headers[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"estimated_input_tokens":`...)
	b = strconv.AppendInt(b, int64(req.EstimatedInputTokens), 10)
	b = append(b, `,"candidates":`...)
	b = appendCandidates(b, req.Candidates)
	b = append(b, `,"catalog":`...)
	b = appendCandidates(b, req.Catalog)
	b = append(b, `,"body":`...)
	if len(req.Body) == 0 {
		return append(b, "null}"...), nil
	}
	body, err := json.Marshal(req.Body) // validated and compacted, as json.Marshal does
	if err != nil {
		return nil, err
	}
	b = append(b, body...)
	return append(b, '}'), nil
}

func appendCandidates(b []byte, cs []abi.Candidate) []byte {
	if cs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = appendString(b, c.Model)
		b = appendField(b, "provider", c.Provider)
		b = append(b, `,"input_price":`...)
		b = strconv.AppendInt(b, c.InputPrice, 10)
		b = append(b, `,"output_price":`...)
		b = strconv.AppendInt(b, c.OutputPrice, 10)
		b = append(b, `,"context_length":`...)
		b = strconv.AppendInt(b, int64(c.ContextLength), 10)
		b = append(b, `,"healthy":`...)
		b = strconv.AppendBool(b, c.Healthy)
		b = append(b, `,"latency_ms":`...)
		b = strconv.AppendInt(b, c.LatencyMs, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendField appends `,"name":` and s; name needs no escaping.
func appendField(b []byte, name, s string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, s)
}

// appendString appends s as a JSON string the way json.Marshal does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// requestBuffers keeps encoding buffers between calls; the host copies a
// request into the instance's memory and is done with it.
// A buffer that grew for an unusually large request (a body, a long
// header) is let go rather than kept.
var requestBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putRequestBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		requestBuffers.Put(b)
	}
}
