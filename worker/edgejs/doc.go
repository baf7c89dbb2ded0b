// Package edgejs carries the gateway core in a Cloudflare Worker: Go built
// for js/wasm, driven by the project's own JavaScript shim (worker/js).
//
// The shim keeps one Go instance per isolate and hands every request to
// [Edge.Serve] with its own env and execution context. Upstream calls go
// through the isolate's fetch ([Fetch]); streamed answers leave through a
// ReadableStream as they are written; background work (usage reports, key
// snapshots written to Workers KV) is handed to the request's waitUntil, so
// it survives the response.
//
// Nothing else in worker/ knows it runs in workerd. Outside js/wasm this
// package holds only this documentation.
package edgejs
