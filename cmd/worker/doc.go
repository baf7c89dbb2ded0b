// Command worker is the edge gateway as a Cloudflare Worker: the same core
// the native edge serves, built with GOOS=js GOARCH=wasm (`make worker`)
// and driven by the project's JavaScript shim, worker/js/worker.mjs, which
// keeps one Go instance per isolate.
//
// The shim calls the global function __switchyardStart(env, host) once per
// instance and then api.serve(request, ctx) for every request. Settings
// come from the Worker's env (wrangler.toml [vars] and secrets); README.md
// lists them.
package main
