package gemini

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		header        http.Header
		body          string
		wantStatus    int
		wantType      string
		wantRetryable bool
		wantRetry     time.Duration
		wantMessage   string // substring
		hideMessage   string // must not reach the client
	}{
		{
			name:   "bad API key is the gateway's fault",
			status: 400,
			body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			wantStatus: 502, wantType: chat.TypeUpstream, wantRetryable: true,
			wantMessage: "credentials", hideMessage: "API key",
		},
		{
			name:       "expired key without details",
			status:     400,
			body:       `{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT"}}`,
			wantStatus: 502, wantType: chat.TypeUpstream, wantRetryable: true, wantMessage: "credentials",
		},
		{
			name:        "invalid argument is the client's",
			status:      400,
			body:        `{"error":{"code":400,"message":"* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n","status":"INVALID_ARGUMENT"}}`,
			wantStatus:  400,
			wantType:    chat.TypeInvalidRequest,
			wantMessage: "provider google: * GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences",
		},
		{
			name:       "permission denied",
			status:     403,
			body:       `{"error":{"code":403,"message":"Method doesn't allow unregistered callers","status":"PERMISSION_DENIED"}}`,
			wantStatus: 502, wantType: chat.TypeUpstream, wantRetryable: true, wantMessage: "credentials",
		},
		{
			name:       "unsupported region",
			status:     400,
			body:       `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			wantStatus: 502, wantType: chat.TypeUpstream, wantRetryable: true, wantMessage: "region", hideMessage: "User location",
		},
		{
			name:        "unknown model",
			status:      404,
			body:        `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta","status":"NOT_FOUND"}}`,
			wantStatus:  404,
			wantType:    chat.TypeNotFound,
			wantMessage: "models/gemini-9 is not found",
		},
		{
			name:   "quota with RetryInfo",
			status: 429,
			body: `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
				"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`,
			wantStatus: 429, wantType: chat.TypeRateLimit, wantRetryable: true, wantRetry: 37 * time.Second,
		},
		{
			name:       "Retry-After header wins",
			status:     429,
			header:     http.Header{"Retry-After": {"3"}},
			body:       `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`,
			wantStatus: 429, wantType: chat.TypeRateLimit, wantRetryable: true, wantRetry: 3 * time.Second,
		},
		{
			name:       "internal error hides upstream detail",
			status:     500,
			body:       `{"error":{"code":500,"message":"An internal error has occurred at shard 17","status":"INTERNAL"}}`,
			wantStatus: 502, wantType: chat.TypeUpstream, wantRetryable: true, hideMessage: "shard",
		},
		{
			name:       "overloaded",
			status:     503,
			body:       `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			wantStatus: 503, wantType: chat.TypeUpstream, wantRetryable: true,
		},
		{
			name:        "array-wrapped",
			status:      400,
			body:        `[{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}]`,
			wantStatus:  400,
			wantType:    chat.TypeInvalidRequest,
			wantMessage: "Invalid JSON payload received.",
		},
		{
			name:        "not JSON",
			status:      400,
			body:        `<html>Bad Request</html>`,
			wantStatus:  400,
			wantType:    chat.TypeInvalidRequest,
			wantMessage: "refused the request (status 400)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Dialect{}.ParseError(tt.status, tt.header, []byte(tt.body))
			if e.Status != tt.wantStatus || e.Type != tt.wantType || e.Retryable != tt.wantRetryable {
				t.Errorf("got %d %s retryable=%v, want %d %s retryable=%v", e.Status, e.Type, e.Retryable, tt.wantStatus, tt.wantType, tt.wantRetryable)
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("retry after %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if !strings.Contains(e.Message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMessage)
			}
			if tt.hideMessage != "" && strings.Contains(e.Message, tt.hideMessage) {
				t.Errorf("message %q leaks %q to the client", e.Message, tt.hideMessage)
			}
			if e.Cause == nil {
				t.Error("no Cause for the log")
			}
		})
	}
}
