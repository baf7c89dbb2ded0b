package gemini

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// ParseError classifies a Google API error body,
// {"error":{"code","message","status","details"}}. Streaming endpoints have
// been seen to wrap it in an array, which is accepted too.
//
// # Notes
//
// Google answers a bad, expired or blocked API key with 400
// INVALID_ARGUMENT, not 401. That is the gateway's credential failing, not
// the client's request, so it becomes the same 502 a 401 would. Likewise
// FAILED_PRECONDITION (the gateway's account or region cannot use the API)
// is no fault of the client and is worth trying another provider for.
func (Dialect) ParseError(status int, header http.Header, body []byte) *chat.Error {
	root := gjson.ParseBytes(body)
	if root.IsArray() {
		root = root.Get("0")
	}
	return errorFromObject(status, header, root.Get("error"))
}

// errorFromObject builds the client-safe error; the upstream's own words go
// to Cause, for the log, whatever the status.
func errorFromObject(status int, header http.Header, obj gjson.Result) *chat.Error {
	if status < 400 || status > 599 {
		// In-stream errors carry their code in the body; a missing or odd
		// one is still a failure of the upstream.
		status = http.StatusInternalServerError
	}
	msg := obj.Get("message").String()
	grpcStatus := obj.Get("status").String()
	retryAfter := retryDelay(header, obj)
	var e *chat.Error
	switch {
	case status == http.StatusBadRequest && badAPIKey(obj, msg):
		e = chat.UpstreamStatusError(vendor, http.StatusUnauthorized, "", retryAfter)
	case grpcStatus == "FAILED_PRECONDITION":
		e = chat.UpstreamStatusError(vendor, http.StatusBadGateway, "", retryAfter)
		e.Message = fmt.Sprintf("provider %s cannot serve requests from the gateway's account or region", vendor)
	default:
		e = chat.UpstreamStatusError(vendor, status, strings.TrimSpace(msg), retryAfter)
	}
	e.Cause = fmt.Errorf("gemini: status %d %s: %s", status, grpcStatus, msg)
	return e
}

func badAPIKey(obj gjson.Result, msg string) bool {
	for _, d := range obj.Get("details").Array() {
		if strings.HasPrefix(d.Get("reason").String(), "API_KEY_") {
			return true
		}
	}
	return strings.Contains(msg, "API key not valid") || strings.Contains(msg, "API key expired")
}

// retryDelay prefers the Retry-After header and falls back to the RetryInfo
// detail Google attaches to RESOURCE_EXHAUSTED ("retryDelay": "37s").
func retryDelay(header http.Header, obj gjson.Result) time.Duration {
	if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	for _, d := range obj.Get("details").Array() {
		if !strings.HasSuffix(d.Get("@type").String(), "google.rpc.RetryInfo") {
			continue
		}
		if dur, err := time.ParseDuration(d.Get("retryDelay").String()); err == nil && dur > 0 {
			return dur
		}
	}
	return 0
}
