// Package abi holds the JSON types of Switchyard's plugin ABI version 1
// (plugins/ABI.md): the RouteRequest the host sends and the RouteDecision a
// plugin returns, plus the rules a decision must follow. The host, the Go
// SDK, the edge and the control service all use these one definitions.
package abi

import (
	"errors"
	"strconv"
	"strings"
)

// Version is the ABI version this package describes.
const Version = 1

// Export and import names.
const (
	ExportMemory     = "memory"
	ExportABIVersion = "sy_abi_version"
	ExportAlloc      = "sy_alloc"
	ExportRoute      = "sy_route"
	ExportFree       = "sy_free"
	ExportInitialize = "_initialize"

	ImportModule     = "sy"
	ImportLog        = "log"
	ImportNowMs      = "now_ms"
	ImportCounterAdd = "counter_add"
	WASIModule       = "wasi_snapshot_preview1"
)

// Decision actions.
const (
	ActionRoute  = "route"
	ActionReject = "reject"
)

// Fail policies.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// Per-edge limits from ABI.md: the native edge's are plugins/host's
// defaults; the Workers edge runs plugins in an isolate of 128 MB. The
// deadline is in milliseconds because importing time would add 250 KB to
// every Go plugin.
const (
	NativeMaxModuleBytes  = 16 << 20
	NativeMaxMemoryPages  = 512
	WorkersMaxModuleBytes = 1 << 20
	WorkersMaxMemoryPages = 256
	CallDeadlineMs        = 10
)

// Limits from ABI.md.
const (
	MaxDecisionBytes  = 64 << 10
	MaxRequestBytes   = 1 << 20
	MaxHeaders        = 16
	MaxHeaderValueLen = 256
	MaxTags           = 8
	MaxTagKeyLen      = 32
	MaxTagValueLen    = 64
	MaxMessageLen     = 256
	MaxCounterKeyLen  = 128
	MaxCounterWindow  = 86400 // seconds
	MaxLogLineLen     = 512
	LogLinesPerSecond = 10
)

// RouteRequest is what a plugin sees of one request.
type RouteRequest struct {
	ABI                  int               `json:"abi"`
	RequestID            string            `json:"request_id"`
	Tenant               string            `json:"tenant"`
	KeyID                string            `json:"key_id"`
	Endpoint             string            `json:"endpoint"`
	Model                string            `json:"model"`
	Models               []string          `json:"models"`
	Stream               bool              `json:"stream"`
	Edge                 Edge              `json:"edge"`
	Headers              map[string]string `json:"headers"`
	EstimatedInputTokens int               `json:"estimated_input_tokens"`
	Candidates           []Candidate       `json:"candidates"`
	Catalog              []Candidate       `json:"catalog"`
	// Body is the raw request body, present only for plugins that asked.
	Body RawJSON `json:"body"`
}

// Edge says where the request entered.
type Edge struct {
	Location string `json:"location"`
	Country  string `json:"country"`
}

// Candidate is one model the request could go to.
type Candidate struct {
	Model         string `json:"model"`
	Provider      string `json:"provider"`
	InputPrice    int64  `json:"input_price"`
	OutputPrice   int64  `json:"output_price"`
	ContextLength int    `json:"context_length"`
	Healthy       bool   `json:"healthy"`
	LatencyMs     int64  `json:"latency_ms"`
}

// RouteDecision is a plugin's answer.
type RouteDecision struct {
	Action    string            `json:"action"`
	Model     string            `json:"model,omitempty"`
	Fallbacks []string          `json:"fallbacks,omitempty"`
	Providers []string          `json:"providers,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	Status    int               `json:"status,omitempty"`
	Message   string            `json:"message,omitempty"`
}

// RawJSON is a JSON value kept as bytes; it encodes as null when empty.
type RawJSON []byte

func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = append((*r)[:0], b...)
	return nil
}

// Check enforces the shape rules of ABI.md that need no catalog: action,
// header names and sizes, tag counts and sizes, reject status and message.
// Whether named models exist is the gateway's to check.
//
// It uses no fmt: the Go SDK links this package into every plugin, and fmt
// alone adds 400 KB to a module.
func (d *RouteDecision) Check() error {
	var errs []error
	bad := func(parts ...string) { errs = append(errs, errors.New(strings.Join(parts, ""))) }
	switch d.Action {
	case ActionRoute:
		if d.Status != 0 || d.Message != "" {
			bad("status and message belong to reject decisions")
		}
	case ActionReject:
		if len(d.Message) > MaxMessageLen {
			bad("message longer than ", strconv.Itoa(MaxMessageLen), " bytes")
		}
	default:
		bad("action must be ", strconv.Quote(ActionRoute), " or ", strconv.Quote(ActionReject), ", not ", strconv.Quote(d.Action))
	}
	if len(d.Headers) > MaxHeaders {
		bad("more than ", strconv.Itoa(MaxHeaders), " headers")
	}
	for k, v := range d.Headers {
		if !strings.HasPrefix(strings.ToLower(k), "x-") || !validHeaderName(k) {
			bad("header ", strconv.Quote(k), ": names must start with x- and be a valid token")
		}
		if len(v) > MaxHeaderValueLen || strings.ContainsAny(v, "\r\n\x00") {
			bad("header ", strconv.Quote(k), ": value too long or not a single line")
		}
	}
	if len(d.Tags) > MaxTags {
		bad("more than ", strconv.Itoa(MaxTags), " tags")
	}
	for k, v := range d.Tags {
		if k == "" || len(k) > MaxTagKeyLen || len(v) > MaxTagValueLen {
			bad("tag ", strconv.Quote(k), ": key 1-", strconv.Itoa(MaxTagKeyLen), " bytes, value up to ", strconv.Itoa(MaxTagValueLen), " bytes")
		}
	}
	return errors.Join(errs...)
}

// RejectStatus is the HTTP status a reject decision produces: its own when
// it is a 4xx, 403 otherwise.
func (d *RouteDecision) RejectStatus() int {
	if d.Status >= 400 && d.Status <= 499 {
		return d.Status
	}
	return 403
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
