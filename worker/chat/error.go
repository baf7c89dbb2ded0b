package chat

import (
	"fmt"
	"net/http"
	"time"
)

// Error types, in OpenAI's vocabulary; each dialect maps them to its own.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeInsufficient   = "insufficient_quota"
	TypeUpstream       = "upstream_error"
	TypeServer         = "server_error"
	TypeTimeout        = "timeout_error"
	TypeTooLarge       = "request_too_large"
)

// Error is the gateway's one error type. Message is safe to show the client:
// it never carries upstream secrets or request content. Internal detail for
// the log goes in Cause.
type Error struct {
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// Retryable marks upstream failures worth another attempt or candidate.
	Retryable bool
	// RetryAfter is the upstream's or the limiter's hint, zero when absent.
	RetryAfter time.Duration
	// Cause is for logs only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Type, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an error with a formatted client-safe message.
func Errorf(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 invalid_request_error naming the offending parameter.
func BadRequest(param, format string, args ...any) *Error {
	e := Errorf(http.StatusBadRequest, TypeInvalidRequest, format, args...)
	e.Param = param
	return e
}

// Unsupported is the 400 for a parameter the chosen upstream cannot honour.
func Unsupported(provider, param string) *Error {
	e := BadRequest(param, "parameter %q is not supported by provider %s", param, provider)
	e.Code = "unsupported_parameter"
	return e
}

// UpstreamStatusError classifies an upstream HTTP failure. The upstream's
// message is passed on only for 4xx (it describes the client's request);
// 5xx bodies may hold internals and are replaced.
func UpstreamStatusError(provider string, status int, msg string, retryAfter time.Duration) *Error {
	e := &Error{Status: status, RetryAfter: retryAfter}
	switch {
	case status == http.StatusTooManyRequests:
		e.Type, e.Retryable = TypeRateLimit, true
		e.Message = fmt.Sprintf("provider %s is rate limiting requests", provider)
	case status == http.StatusRequestTimeout:
		e.Status, e.Type, e.Retryable = http.StatusGatewayTimeout, TypeTimeout, true
		e.Message = fmt.Sprintf("provider %s timed out", provider)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusPaymentRequired:
		// The client's Switchyard key was fine; the gateway's provider
		// credentials or provider account were not. That is a gateway
		// fault, not the client's, and a 402 passed on would read as the
		// client's own balance being exhausted.
		e.Status, e.Type, e.Retryable = http.StatusBadGateway, TypeUpstream, true
		e.Message = fmt.Sprintf("provider %s rejected the gateway's credentials or account", provider)
	case status >= 400 && status < 500:
		e.Type = TypeInvalidRequest
		if status == http.StatusNotFound {
			e.Type = TypeNotFound
		}
		e.Message = fmt.Sprintf("provider %s: %s", provider, msg)
		if msg == "" {
			e.Message = fmt.Sprintf("provider %s refused the request (status %d)", provider, status)
		}
	case status == http.StatusGatewayTimeout:
		e.Type, e.Retryable = TypeTimeout, true
		e.Message = fmt.Sprintf("provider %s timed out", provider)
	case status == http.StatusServiceUnavailable || status == 529:
		e.Status, e.Type, e.Retryable = http.StatusServiceUnavailable, TypeUpstream, true
		e.Message = fmt.Sprintf("provider %s is overloaded or unavailable", provider)
	default:
		e.Status, e.Type, e.Retryable = http.StatusBadGateway, TypeUpstream, true
		e.Message = fmt.Sprintf("provider %s failed (status %d)", provider, status)
	}
	return e
}
