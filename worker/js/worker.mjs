// Switchyard edge gateway: the Cloudflare Worker shim.
//
// It keeps one Go instance per isolate (booting Go costs tens of
// milliseconds; a warm request through a running instance costs little
// more than a plain JS worker), hands each request to Go, and boots a
// fresh instance if Go exits. Requests in flight on an instance that died
// fail with a 500 rather than hang.
//
// workerd binds every I/O object (a fetch, a stream, a body) to the request
// during which it was created, and refuses its use from another request.
// Go has one scheduler for all requests, so Go code working for request B
// may run during request A's callbacks. Therefore Go never does I/O
// directly: each request has an `io` object whose operations are queued
// and run by that request's own pump loop, in its own context, and the
// Response is built here from what Go answered. See
// worker/edgejs/RATIONALE.md.

import "../../build/worker/wasm_exec.js";
import module from "../../build/worker/switchyard.wasm";

let instance = null;

function boot(env) {
  const go = new Go();
  go.argv = ["switchyard-worker"];
  go.env = {};
  const wasm = new WebAssembly.Instance(module, go.importObject);
  const state = { alive: true, api: null, error: null, pending: new Set() };
  // run() executes Go's main up to its first wait, so __switchyardStart
  // exists when it returns.
  go.run(wasm).finally(() => {
    state.alive = false;
    for (const fail of state.pending) fail(new Error("the Go instance exited"));
    state.pending.clear();
  });
  state.ops = makeOps(env);
  const host = { io: directIO(state.ops) };
  const api = globalThis.__switchyardStart(env, host);
  if (api && api.error) state.error = String(api.error);
  else state.api = api;
  return state;
}

// ops are the I/O operations Go asks for, by name. An abort signal is an
// I/O object too, so each fetch makes its own and Go aborts it through the
// token the fetch was given.
function makeOps(env) {
  return {
    fetch: async (url, init, token) => {
      const abort = new AbortController();
      token.abort = () => abort.abort();
      if (token.aborted) abort.abort();
      const res = await fetch(url, { method: init.method, headers: unflat(init.headers), body: init.body, signal: abort.signal });
      return { status: res.status, headers: flat(res.headers), body: res.body ? res.body.getReader() : null };
    },
    read: (reader) => reader.read(),
    cancel: (reader) => reader.cancel(),
    abort: (token) => {
      token.aborted = true;
      if (token.abort) token.abort();
    },
    kvGet: (kv, key) => kv.get(key, "text"),
    kvGetBytes: async (kv, key) => {
      const b = await kv.get(key, "arrayBuffer");
      return b === null ? null : new Uint8Array(b);
    },
    kvPut: (kv, key, value, ttl) => kv.put(key, value, { expirationTtl: ttl }),
    postUsage: (body) => postUsage(env, body),
  };
}

// startOp runs one operation in the current context and reports to Go
// through a plain callback, cb(id, error, value): a promise Go waited on
// would resume Go in the context that created it, which may be gone.
function startOp(ops, op) {
  let p;
  try {
    p = Promise.resolve(ops[op.name](...op.args));
  } catch (e) {
    p = Promise.reject(e);
  }
  const { cb, id } = op;
  if (cb) p.then((v) => cb(id, null, v), (e) => cb(id, e === undefined || e === null ? new Error("rejected") : e, undefined));
  return p.catch(() => {});
}

// directIO runs operations at once: only for work that belongs to no
// request (there is none today; kept for Go code paths without one).
function directIO(ops) {
  return {
    run: (name, args, cb, id) => void startOp(ops, { name, args, cb, id }),
    later: (name, args) => void startOp(ops, { name, args, cb: null }),
  };
}

// requestIO queues operations for the request's pump, which runs them in
// the request's own context. Operations started with later() are awaited
// by the request's waitUntil. A streamed body is a transform stream made in
// the request's context: Go writes chunks through write operations, each
// done when the client side took the chunk, and failing once the client is
// gone.
function requestIO(ops) {
  const io = {
    queue: [],
    background: [],
    wake: null,
    ended: false,
    readable: null,
    writer: null,
    push(op) {
      if (io.ended) {
        // The request is over: run in the current context rather than
        // drop the operation.
        const p = startOp(all, op);
        if (!op.cb) io.background.push(p);
        return;
      }
      io.queue.push(op);
      if (io.wake) io.wake();
    },
    run: (name, args, cb, id) => io.push({ name, args, cb, id }),
    later: (name, args) => io.push({ name, args, cb: null }),
    drain() {
      io.wake = null;
      const q = io.queue;
      io.queue = [];
      for (const op of q) {
        const p = startOp(all, op);
        if (!op.cb) io.background.push(p);
      }
    },
  };
  const all = {
    ...ops,
    openStream: () => {
      const ts = typeof IdentityTransformStream === "function" ? new IdentityTransformStream() : new TransformStream();
      io.readable = ts.readable;
      io.writer = ts.writable.getWriter();
    },
    write: (chunk) => io.writer.write(chunk),
    closeStream: () => io.writer.close(),
  };
  return io;
}

// PUMP_MS bounds how long a ready goroutine or an expired Go timer (retry
// backoff, deadlines) waits for a request's context to run it.
const PUMP_MS = 5;

async function readBody(request, max) {
  const declared = Number(request.headers.get("content-length"));
  if (declared > max) return { tooLarge: true };
  if (!request.body) return { body: null };
  const reader = request.body.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return { tooLarge: true };
    }
    parts.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.byteLength;
  }
  return { body };
}

async function serve(state, request, env, ctx) {
  const { body, tooLarge } = await readBody(request, state.api.maxBodyBytes);
  const io = requestIO(state.ops);
  const req = {
    method: request.method,
    url: request.url,
    headers: flat(request.headers),
    body,
    tooLarge: Boolean(tooLarge),
    country: request.cf && typeof request.cf.country === "string" ? request.cf.country : "",
  };
  let handle;
  const answer = new Promise((resolve, reject) => {
    state.pending.add(reject);
    handle = state.api.serve(req, io, ctx);
    handle.answer.then(resolve, reject);
    handle.finished.finally(() => state.pending.delete(reject));
  });
  if (request.signal) request.signal.addEventListener("abort", () => handle.cancel());

  let finished = false;
  handle.finished.finally(() => {
    finished = true;
    if (io.wake) io.wake();
  });
  const pump = (async () => {
    try {
      while (!finished && state.alive) {
        // Operations Go queued while this loop ran (in tick, or in an
        // operation's callback) need no wait.
        const woken =
          io.queue.length > 0 ||
          (await Promise.race([sleep(PUMP_MS).then(() => false), new Promise((r) => (io.wake = () => r(true)))]));
        io.drain();
        if (!woken && !finished && state.alive) state.api.tick();
      }
    } catch {
      // workerd may end the request's context when the client goes away
      // ("Network connection lost"); Go must stop working for it.
      handle.cancel();
    } finally {
      // From here on, operations run in whichever context asks for them.
      io.drain();
      io.ended = true;
    }
    // Background work, such as the usage report, outlives the response.
    while (io.background.length > 0) await io.background.shift();
  })();
  ctx.waitUntil(pump);

  const a = await answer;
  return new Response(a.stream ? io.readable : a.body, { status: a.status, headers: unflat(a.headers) });
}

// Headers cross between JavaScript and Go as one string, "name\0value\0…"
// (NUL cannot occur in a header), which costs one conversion instead of
// several JavaScript values per header.
function flat(headers) {
  let s = "";
  for (const [name, value] of headers) s += name + "\0" + value + "\0";
  return s;
}

function unflat(s) {
  const h = new Headers();
  const parts = s.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) h.append(parts[i], parts[i + 1]);
  return h;
}

function errorResponse(status, message) {
  const body = { error: { message, type: "server_error", param: null, code: null } };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// postUsage delivers one usage batch (JSON, metadata only) to the control
// service: up to four attempts over about five seconds; a batch still not
// delivered is kept in Workers KV when the SWITCHYARD_KV binding exists and
// sent again by a later request. The control service ingests by request
// id, so a batch sent twice is counted once.
async function postUsage(env, body) {
  if (await sendUsage(env, body)) return;
  if (env.SWITCHYARD_KV) {
    const id = `usage:${Date.now()}:${crypto.randomUUID()}`;
    await env.SWITCHYARD_KV.put(id, body, { expirationTtl: 7 * 86400 });
    console.warn(JSON.stringify({ msg: "usage batch kept in KV for a later retry", key: id }));
  } else {
    console.error(JSON.stringify({ msg: "usage batch not delivered and no SWITCHYARD_KV binding to keep it" }));
  }
}

async function sendUsage(env, body, attempts = 4) {
  const url = env.CONTROL_URL.replace(/\/+$/, "") + "/edge/v1/usage";
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await sleep(250 * 4 ** (i - 1));
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${env.EDGE_TOKEN}`, "content-type": "application/json" },
        body,
      });
      await res.arrayBuffer();
      if (res.ok) return true;
      if (res.status === 400 || res.status === 413 || res.status === 422) {
        // Refused for good (a malformed or oversized batch): retrying
        // cannot help. Other refusals (401 or 403 from a rotated
        // EDGE_TOKEN, 404 from a wrong CONTROL_URL, 429) are the
        // operator's to fix; the batch is kept until then.
        console.error(JSON.stringify({ msg: "usage batch refused by the control service", status: res.status }));
        return true;
      }
    } catch {
      // unreachable: retry
    }
  }
  return false;
}

// resendKept sends batches kept in KV, at most once per
// SWITCHYARD_USAGE_RESEND_SECONDS (default 60) per isolate.
let lastResend = 0;
async function resendKept(env) {
  const list = await env.SWITCHYARD_KV.list({ prefix: "usage:", limit: 20 });
  for (const { name } of list.keys) {
    const body = await env.SWITCHYARD_KV.get(name, "text");
    if (body === null || (await sendUsage(env, body, 1))) await env.SWITCHYARD_KV.delete(name);
  }
}

export default {
  async fetch(request, env, ctx) {
    if (instance === null || !instance.alive) instance = boot(env);
    const state = instance;
    if (state.error !== null) return errorResponse(500, `the edge is misconfigured: ${state.error}`);
    const resendMs = 1000 * (Number(env.SWITCHYARD_USAGE_RESEND_SECONDS) || 60);
    if (env.SWITCHYARD_KV && Date.now() - lastResend > resendMs) {
      lastResend = Date.now();
      ctx.waitUntil(resendKept(env).catch(() => {}));
    }
    try {
      return await serve(state, request, env, ctx);
    } catch (e) {
      state.alive = false;
      console.error(JSON.stringify({ msg: "Go instance failed; the next request boots a new one", err: String(e) }));
      return errorResponse(500, "internal error; retry the request");
    }
  },
};
