import { READ_SLACK, Writer } from "./json";
import { beginCall, parseRouteRequest, RouteRequest } from "./request";
import { RouteDecision, writeRouteDecision } from "./decision";

/**
 * The signature of a plugin's routing function. Returning null routes the
 * request as the client asked, like returning nil from a Go plugin.
 */
export type RouteFunc = (req: RouteRequest) => RouteDecision | null;

let handler: RouteFunc | null = null;

/**
 * Registers the plugin's routing function. Call it once at the top level of
 * the entry file; sy_route calls the function for every request.
 */
export function handle(fn: RouteFunc): void {
  handler = fn;
}

// The request and decision buffers live outside the collected heap and are
// kept for the next call, so a warm call allocates neither. A buffer that
// grew past KEEP_BYTES for an unusually large request is given back at
// sy_free instead, so one large body does not pin memory in every pooled
// instance.
const KEEP_BYTES: usize = 64 << 10;
let input: usize = 0;
let inputCap: usize = 0;
let inputBusy = false;
const output = new Writer();

/** sy_alloc: the request buffer, reused across calls. */
export function allocInput(size: usize): usize {
  // A second buffer before sy_free is not ours to reuse.
  if (inputBusy) return heap.alloc(size + READ_SLACK);
  if (size > inputCap) {
    if (input) heap.free(input);
    inputCap = size < 4096 ? 4096 : size;
    input = heap.alloc(inputCap + READ_SLACK);
  }
  inputBusy = true;
  return input;
}

/** sy_free: ends the use of a buffer from allocInput or serve. */
export function freeBuffer(ptr: usize): void {
  if (ptr == 0) return;
  if (ptr == input) {
    inputBusy = false;
    if (inputCap > KEEP_BYTES) {
      heap.free(input);
      input = 0;
      inputCap = 0;
    }
  } else if (ptr == output.ptr) {
    if (output.cap > KEEP_BYTES) output.release();
  } else {
    heap.free(ptr);
  }
}

/**
 * sy_route: parse, route, encode, then collect garbage. The decision is
 * encoded outside the collected heap, so the full collection that ends each
 * call frees everything the call allocated except what the plugin kept in
 * globals. Collecting here, where no managed value is live on the stack any
 * more, is what the minimal runtime requires, and it keeps a pooled
 * instance's memory flat however many calls it serves.
 */
export function serve(ptr: usize, len: usize): u64 {
  const fn = handler;
  if (!fn) abort("no routing function: call handle(route) in the plugin's entry file");
  beginCall();
  memory.fill(ptr + len, 0, READ_SLACK); // sy_alloc left room for it
  const decision = fn(parseRouteRequest(ptr, len));
  output.reset();
  if (decision) writeRouteDecision(decision, output);
  else output.ascii('{"action":"route"}');
  // The request is dead once encoded; a host that skips sy_free for it
  // must not make every later call allocate a fresh buffer.
  if (ptr == input) inputBusy = false;
  __collect();
  return (<u64>output.ptr << 32) | <u64>output.len;
}
