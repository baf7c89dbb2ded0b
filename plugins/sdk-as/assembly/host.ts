// The imports ABI v1 allows, module "sy", wrapped to take AssemblyScript
// strings. Nothing else is imported: the build points AssemblyScript's
// abort at abortToLog below instead of the default env.abort.

import { Writer } from "./json";

// @ts-ignore: decorator
@external("sy", "log")
declare function syLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("sy", "now_ms")
declare function syNowMs(): i64;

// @ts-ignore: decorator
@external("sy", "counter_add")
declare function syCounterAdd(keyPtr: usize, keyLen: usize, delta: i64, windowSeconds: i32): i64;

/** Log levels of sy.log. */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

// Reused for log lines and counter keys, which the host reads before the
// import returns.
const scratch = new Writer();

/**
 * Writes a line to the tenant's plugin log. The host keeps at most 10 lines
 * a second and 512 bytes a line. Never log request content.
 */
export function log(level: LogLevel, message: string): void {
  scratch.reset();
  scratch.utf8(message, false);
  syLog(level, scratch.ptr, scratch.len);
}

/** Wall-clock time in Unix milliseconds. */
export function nowMs(): i64 {
  return syNowMs();
}

/**
 * Adds delta to the tenant's counter `key` (at most 128 bytes of UTF-8) in
 * the current fixed window of windowSeconds (1 to 86400, aligned to the Unix
 * epoch, so 86400 is a UTC day) and returns the new value; add 0 to read.
 * Counters are shared by all of the tenant's requests at this edge and
 * start at 0 in each window: this, not module globals, is where state that
 * must outlive one request goes.
 *
 * Aborts (a trap, so a plugin error) on a key or window outside those
 * bounds, as the host would trap on them, but with a message in the log.
 */
export function counterAdd(key: string, delta: i64, windowSeconds: i32): i64 {
  scratch.reset();
  scratch.utf8(key, false);
  if (scratch.len > MAX_COUNTER_KEY_BYTES) abort("counter key longer than 128 bytes");
  if (windowSeconds < 1 || windowSeconds > MAX_COUNTER_WINDOW) abort("counter window outside 1..86400 seconds");
  return syCounterAdd(scratch.ptr, scratch.len, delta, windowSeconds);
}

const MAX_COUNTER_KEY_BYTES: usize = 128;
const MAX_COUNTER_WINDOW: i32 = 86400;

/**
 * The length of s in UTF-8 bytes: the unit of every size limit in the ABI
 * (header values, tags, messages, counter keys), where s.length counts
 * UTF-16 units.
 */
export function byteLength(s: string): i32 {
  let n = s.length;
  for (let i = 0, k = s.length; i < k; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      n += c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 1 : 2; // a surrogate pair is 4 bytes for 2 units
    }
  }
  return n;
}

/**
 * The AssemblyScript abort handler (selected with --use abort=...): logs
 * "abort: message (file:line:column)" at error level and traps, so a failed
 * assertion or a malformed request ends the call as a plugin error.
 */
export function abortToLog(
  message: string | null = null,
  fileName: string | null = null,
  line: u32 = 0,
  column: u32 = 0,
): void {
  // A static buffer of 256 bytes, written through literals rather than
  // module constants: abort also runs when the allocator is out of memory,
  // and is compiled before this file's globals exist.
  const buf = memory.data(256);
  let n = appendASCII(buf, 0, "abort: ");
  if (message) n = appendASCII(buf, n, message);
  if (fileName) {
    n = appendASCII(buf, n, " (");
    n = appendASCII(buf, n, fileName);
    n = appendASCII(buf, n, ":");
    n = appendDecimal(buf, n, line);
    n = appendASCII(buf, n, ":");
    n = appendDecimal(buf, n, column);
    n = appendASCII(buf, n, ")");
  }
  syLog(LogLevel.Error, buf, n);
  unreachable();
}

// Appends s to buf from offset n, non-ASCII as '?', and returns the new
// length; the line is cut at the buffer's 256 bytes.
function appendASCII(buf: usize, n: usize, s: string): usize {
  for (let i = 0, k = s.length; i < k && n < 256; i++) {
    const c = s.charCodeAt(i);
    store<u8>(buf + n++, c < 0x80 ? <u8>c : 0x3f);
  }
  return n;
}

function appendDecimal(buf: usize, n: usize, v: u32): usize {
  let digits: usize = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (n + digits > 256) return n;
  let p = buf + n + digits;
  do {
    store<u8>(--p, <u8>(0x30 + v % 10));
    v /= 10;
  } while (v != 0);
  return n + digits;
}
