// Package sdk is the Go side of Switchyard's plugin ABI (plugins/ABI.md):
// a plugin author writes one route function and registers it, and the SDK
// supplies the exports, the JSON and the host imports.
//
//	package main
//
//	import (
//		"github.com/switchyard-ai/switchyard/plugins/abi"
//		"github.com/switchyard-ai/switchyard/plugins/sdk"
//	)
//
//	func init() { sdk.Handle(route) }
//
//	func main() {}
//
//	func route(req *abi.RouteRequest) *abi.RouteDecision {
//		if req.Headers["x-sy-user"] == "" {
//			return sdk.Reject(400, "send x-sy-user")
//		}
//		return nil // route as requested
//	}
//
// Build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags='-s -w' -o plugin.wasm .
//
// Registration happens in init because a c-shared module never runs main:
// the host calls `_initialize`, which runs package initialisation only.
//
// Outside wasip1 the package builds with in-process stand-ins for the host
// imports, so a plugin's tests and examples run natively with `go test`.
package sdk

import (
	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// RouteFunc decides one request. Returning nil routes the request as the
// client asked; use Reject to refuse it.
type RouteFunc func(req *abi.RouteRequest) *abi.RouteDecision

var handler RouteFunc

// Handle registers the plugin's route function. Call it from init.
func Handle(f RouteFunc) { handler = f }

// RouteJSON runs the registered route function on a RouteRequest in JSON
// and returns the RouteDecision in JSON: what the sy_route export does.
// Natively it lets tests drive a plugin through the same path. The
// request's strings share memory with request, which must not change
// afterwards.
//
// It panics, which the host sees as a trap, when no route function is
// registered or the request is not a RouteRequest, since neither can be
// answered.
func RouteJSON(request []byte) []byte {
	if handler == nil {
		panic("sdk: no route function; call sdk.Handle from init")
	}
	var req abi.RouteRequest
	if err := decodeRequest(request, &req); err != nil {
		panic("sdk: " + err.Error())
	}
	d := handler(&req)
	if d == nil {
		d = &abi.RouteDecision{Action: abi.ActionRoute}
	}
	return appendDecision(make([]byte, 0, 256), d)
}

// Reject refuses the request with an HTTP status (400–499; others become
// 403) and a message the client sees.
func Reject(status int, message string) *abi.RouteDecision {
	return &abi.RouteDecision{Action: abi.ActionReject, Status: status, Message: message}
}

// Level is a log line's severity.
type Level int32

const (
	Debug Level = iota
	Info
	Warn
	Error
)

// Log writes a line to the tenant's plugin log. The host keeps at most 10
// lines a second and 512 bytes a line. Never log request content.
func Log(level Level, msg string) { hostLog(level, msg) }

// NowMs is the host's wall clock in Unix milliseconds.
func NowMs() int64 { return hostNowMs() }

// CounterAdd adds delta to the tenant's counter key (at most 128 bytes) in
// the current fixed window of windowSeconds (1 to 86400, aligned to the
// Unix epoch, so 86400 is a UTC day) and returns the new value; add 0 to
// read. Counters are shared by all of the tenant's requests at one edge.
//
// It panics on a key or window outside those bounds, as the host would
// trap on them.
func CounterAdd(key string, delta int64, windowSeconds int32) int64 {
	if len(key) > abi.MaxCounterKeyLen {
		panic("sdk: counter key longer than 128 bytes")
	}
	if windowSeconds < 1 || windowSeconds > abi.MaxCounterWindow {
		panic("sdk: counter window outside 1..86400 seconds")
	}
	return hostCounterAdd(key, delta, windowSeconds)
}
