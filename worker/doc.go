// Package worker is Switchyard's edge gateway core. It authenticates a
// request, lets the tenant's routing plugin (Plugins, plugins/ABI.md) amend
// or refuse it, picks the upstream candidates, translates between API
// styles when client and upstream differ, forwards the call with retries
// and fallbacks, streams the answer back, and hands one metadata-only
// UsageRecord per request to a UsageSink.
//
// The core knows nothing about where it runs: it reads a Request and answers
// through a Responder, and reaches upstreams through an Upstream. Thin
// adapters carry it on net/http (worker/edgehttp), fasthttp (worker/edgefast)
// and, later, workerd's fetch.
package worker
