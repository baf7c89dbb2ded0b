// A JSON reader and writer for exactly the shapes of ABI v1, working on raw
// UTF-8 bytes in linear memory. See ../RATIONALE.md for why the SDK has its
// own rather than a general JSON library, and why its loops look at eight
// bytes per turn.

// The reader is a cursor over one request buffer. Plugins are single-threaded
// and read one request at a time, so module globals are the cheapest state.
let pos: usize = 0;
let end: usize = 0;
// The key nextMember just read, as raw bytes inside the buffer.
let keyPtr: usize = 0;
let keyLen: usize = 0;

/**
 * Bytes the request buffer keeps zeroed past the request, so that the
 * eight-byte loads below may run over its end.
 */
export const READ_SLACK: usize = 32;

const QUOTE: u8 = 0x22;
const BACKSLASH: u8 = 0x5c;

// Eight-byte (SWAR) helpers. A mask has the high bit of each selected byte
// set; every one is exact per byte, with no carries between bytes.
// @ts-ignore: decorator
@inline const ONES: u64 = 0x0101010101010101;
// @ts-ignore: decorator
@inline const HIGHS: u64 = 0x8080808080808080;
// @ts-ignore: decorator
@inline const LOW7: u64 = 0x7f7f7f7f7f7f7f7f;

// @ts-ignore: decorator
@inline function zeroBytes(y: u64): u64 {
  return ~(((y & LOW7) + LOW7) | y | LOW7);
}

// @ts-ignore: decorator
@inline function bytesEqual(x: u64, b: u64): u64 {
  return zeroBytes(x ^ (ONES * b));
}

// Bytes below 0x20: JSON's control characters.
// @ts-ignore: decorator
@inline function controlBytes(x: u64): u64 {
  return ~(((x & LOW7) + ONES * 0x60) | x) & HIGHS;
}

// Bytes outside '0'..'9'.
// @ts-ignore: decorator
@inline function nonDigitBytes(x: u64): u64 {
  return ((~(((x & LOW7) + ONES * 0x50) | x)) | (((x & LOW7) + ONES * 0x46) | x)) & HIGHS;
}

// Index of the first selected byte of a non-zero mask.
// @ts-ignore: decorator
@inline function firstByte(mask: u64): usize {
  return <usize>(ctz(mask) >> 3);
}

// One bit per selected byte, byte i at bit i.
// @ts-ignore: decorator
@inline function byteBits(mask: u64): u32 {
  return <u32>(((mask >> 7) * 0x0102040810204080) >> 56);
}

/** Points the reader at `len` bytes of JSON at `ptr`. */
export function readFrom(ptr: usize, len: usize): void {
  pos = ptr;
  end = ptr + len;
}

/** Where the reader is. */
export function position(): usize {
  return pos;
}

/** Fails unless only whitespace is left. */
export function readEnd(): void {
  if (peek() != 0) fail();
}

function fail(): void {
  abort("RouteRequest is not the JSON ABI v1 describes");
}

/** Returns the next non-whitespace byte without consuming it, 0 at the end. */
// @ts-ignore: decorator
@inline export function peek(): u8 {
  const p = pos;
  if (p < end) {
    const c = load<u8>(p);
    // Go's encoder writes no whitespace: answer without a call or a loop,
    // which cost more than everything else here in the host's interpreter
    // and in a compiler that checks the call's deadline on every loop turn.
    if (c > 0x20) return c;
  }
  return peekPastSpace();
}

function peekPastSpace(): u8 {
  let p = pos;
  const e = end;
  while (p < e) {
    const d = load<u8>(p);
    if (d != 0x20 && d != 0x0a && d != 0x0d && d != 0x09) {
      pos = p;
      return d;
    }
    p++;
  }
  pos = p;
  return 0;
}

// @ts-ignore: decorator
@inline function expect(c: u8): void {
  if (peek() != c) fail();
  pos++;
}

// Consumes `null` if it is next. Go's encoder writes null for nil slices and
// maps, and a null leaves the field at its zero value as it does in Go.
// @ts-ignore: decorator
@inline function takeNull(): bool {
  if (peek() != 0x6e || end - pos < 4) return false;
  if (load<u32>(pos) != 0x6c6c756e) fail(); // "null"
  pos += 4;
  return true;
}

/** Whether the next value is null; consumes only whitespace. */
export function atNull(): bool {
  return peek() == 0x6e && end - pos >= 4 && load<u32>(pos) == 0x6c6c756e;
}

/** Consumes `{`, or `null` (then returns false: there are no members). */
// @ts-ignore: decorator
@inline export function objectStart(): bool {
  if (takeNull()) return false;
  expect(0x7b);
  return true;
}

/**
 * Moves to the next member of the object being read and consumes its key and
 * the colon; returns false (having consumed `}`) when there is none. `first`
 * is true for the first call after objectStart.
 */
// @ts-ignore: decorator
@inline export function nextMember(first: bool): bool {
  let c = peek();
  if (c == 0x7d) {
    pos++;
    return false;
  }
  if (!first) {
    if (c != 0x2c) fail();
    pos++;
    c = peek();
  }
  if (c != QUOTE) fail();
  const start = pos + 1;
  const stop = stringEnd(start);
  keyPtr = start;
  keyLen = stop - start;
  pos = stop + 1;
  expect(0x3a);
  return true;
}

/** The length in bytes of the key nextMember just read. */
// @ts-ignore: decorator
@inline export function keyLength(): usize {
  return keyLen;
}

/**
 * The i-th eight bytes of the key nextMember just read, as a little-endian
 * word with the bytes past the key zeroed: member names are matched by
 * comparing a word or three with constants, without a loop or a call. The
 * host never escapes the ASCII names of ABI fields, and an escaped key
 * simply reads as unknown.
 */
// @ts-ignore: decorator
@inline export function keyWord(i: usize): u64 {
  const n = keyLen - (i << 3);
  const w = load<u64>(keyPtr + (i << 3)); // the buffer's slack covers a short key
  return n >= 8 ? w : w & ((<u64>1 << (<u64>n << 3)) - 1);
}

/** Consumes `[`, or `null` (then returns false). */
// @ts-ignore: decorator
@inline export function arrayStart(): bool {
  if (takeNull()) return false;
  expect(0x5b);
  return true;
}

/** Like nextMember, for array elements. */
// @ts-ignore: decorator
@inline export function nextElement(first: bool): bool {
  const c = peek();
  if (c == 0x5d) {
    pos++;
    return false;
  }
  if (!first) {
    if (c != 0x2c) fail();
    pos++;
  }
  return true;
}

// Returns the position of the quote that closes a string whose contents
// start at p. The first sixteen bytes are looked at before entering the
// loop, so most keys and values end without one.
// @ts-ignore: decorator
@inline function stringEnd(p: usize): usize {
  let x = load<u64>(p);
  let m = bytesEqual(x, QUOTE) | bytesEqual(x, BACKSLASH);
  if (m == 0) {
    x = load<u64>(p + 8);
    m = bytesEqual(x, QUOTE) | bytesEqual(x, BACKSLASH);
    if (m == 0) return stringEndFrom(p + 16);
    p += 8;
  }
  p += firstByte(m);
  if (p < end && load<u8>(p) == QUOTE) return p;
  return stringEndFrom(p);
}

function stringEndFrom(p: usize): usize {
  const e = end;
  while (p < e) {
    const x = load<u64>(p);
    const m = bytesEqual(x, QUOTE) | bytesEqual(x, BACKSLASH);
    if (m == 0) {
      p += 8;
      continue;
    }
    p += firstByte(m);
    if (p >= e) break;
    if (load<u8>(p) == QUOTE) return p;
    p += 2; // an escape and the character it escapes
  }
  fail();
  return e;
}

// Bytes that end a plain string's fast path: the closing quote, an escape,
// a control character or the start of a multi-byte character.
// @ts-ignore: decorator
@inline function notPlain(x: u64): u64 {
  return bytesEqual(x, QUOTE) | bytesEqual(x, BACKSLASH) | controlBytes(x) | (x & HIGHS);
}

/**
 * Reads a string without making it: returns (start << 32) | (length << 1)
 * | plain for stringAt, where plain means ASCII without escapes; null and
 * "" read as 0.
 */
export function readStringSpan(): u64 {
  if (peek() != QUOTE) {
    if (takeNull()) return 0;
    fail();
  }
  const start = pos + 1;
  let p = start;
  let m = notPlain(load<u64>(p));
  if (m == 0) {
    p += 8;
    m = notPlain(load<u64>(p));
    if (m == 0) {
      // Longer strings: sixteen bytes per turn.
      do {
        p += 8;
        if (p >= end) fail();
        m = notPlain(load<u64>(p));
        if (m != 0) break;
        p += 8;
        m = notPlain(load<u64>(p));
      } while (m == 0);
    }
  }
  p += firstByte(m);
  if (p >= end) fail();
  let plain: u64 = 1;
  if (load<u8>(p) != QUOTE) {
    p = stringEnd(p);
    plain = 0;
  }
  pos = p + 1;
  const n = <u64>(p - start);
  return n == 0 ? 0 : (<u64>start << 32) | (n << 1) | plain;
}

/** Makes the string a span from readStringSpan describes. */
export function stringAt(span: u64): string {
  return makeString(<usize>(span >>> 32), <usize>((span & 0xffffffff) >>> 1), span & 1 ? AS_ASCII : AS_JSON);
}

/**
 * Whether the string a span from readStringSpan describes equals s, without
 * making it.
 */
export function spanEquals(span: u64, s: string): bool {
  if (!(span & 1)) return stringAt(span) == s; // escapes or non-ASCII: rare
  const n = <usize>((span & 0xffffffff) >>> 1);
  if (n != <usize>s.length) return false;
  const src = <usize>(span >>> 32);
  const units = changetype<usize>(s);
  let i: usize = 0;
  if (n >= 4) {
    do {
      if (widen4(<u64>load<u32>(src + i)) != load<u64>(units + (i << 1))) return false;
      i += 4;
    } while (i + 4 <= n);
  }
  if (i + 2 <= n) {
    const x = <u32>load<u16>(src + i);
    if (((x & 0xff) | ((x & 0xff00) << 8)) != load<u32>(units + (i << 1))) return false;
    i += 2;
  }
  return i == n || <u16>load<u8>(src + i) == load<u16>(units + (i << 1));
}

/** Reads a string; null reads as "". */
export function readString(): string {
  return stringAt(readStringSpan());
}

/** The key nextMember just read, as a string (for maps with free-form keys). */
export function keyString(): string {
  return makeString(keyPtr, keyLen, AS_JSON);
}

// How makeString treats its bytes.
const AS_ASCII = 0; // ASCII without escapes: widen each byte
const AS_JSON = 1; // UTF-8 with JSON escapes: a string's contents
const AS_TEXT = 2; // UTF-8 taken literally: raw JSON text

function makeString(start: usize, n: usize, how: i32): string {
  if (n == 0) return "";
  // UTF-16 needs at most one code unit per input byte, so allocate that and
  // shrink afterwards when escapes or multi-byte sequences made it shorter.
  const out = __new(n << 1, idof<string>());
  if (how == AS_ASCII) {
    widen(start, n, out);
    return changetype<string>(out);
  }
  const units = decode(start, start + n, out, how == AS_JSON);
  if (units == n) return changetype<string>(out);
  return changetype<string>(__renew(out, units << 1));
}

// Widens n ASCII bytes at src to UTF-16 at dst, eight per step.
function widen(src: usize, n: usize, dst: usize): void {
  let i: usize = 0;
  if (n >= 8) {
    let x = load<u64>(src);
    store<u64>(dst, widen4(x));
    store<u64>(dst + 8, widen4(x >> 32));
    i = 8;
    if (n >= 16) {
      do {
        x = load<u64>(src + i);
        store<u64>(dst + (i << 1), widen4(x));
        store<u64>(dst + (i << 1) + 8, widen4(x >> 32));
        i += 8;
      } while (i + 8 <= n);
    }
  }
  // At most seven left: no loop.
  if (i + 4 <= n) {
    store<u64>(dst + (i << 1), widen4(<u64>load<u32>(src + i)));
    i += 4;
  }
  if (i + 2 <= n) {
    const x = <u32>load<u16>(src + i);
    store<u32>(dst + (i << 1), (x & 0xff) | ((x & 0xff00) << 8));
    i += 2;
  }
  if (i < n) store<u16>(dst + (i << 1), load<u8>(src + i));
}

// The low four bytes of x as four UTF-16 units.
// @ts-ignore: decorator
@inline function widen4(x: u64): u64 {
  return (x & 0xff) | ((x & 0xff00) << 8) | ((x & 0xff0000) << 16) | ((x & 0xff000000) << 24);
}

// Decodes UTF-8 from start..stop into UTF-16 at out, resolving JSON escapes
// when `escapes` is set, and returns the number of code units written.
// Malformed UTF-8 becomes U+FFFD; the host only sends valid UTF-8, so this
// path only guards memory safety.
function decode(start: usize, stop: usize, out: usize, escapes: bool): usize {
  let p = start;
  let o = out;
  while (p < stop) {
    let c = <u32>load<u8>(p);
    if (c == BACKSLASH && escapes) {
      const e = load<u8>(p + 1);
      p += 2;
      switch (e) {
        case 0x62: c = 0x08; break; // \b
        case 0x66: c = 0x0c; break; // \f
        case 0x6e: c = 0x0a; break; // \n
        case 0x72: c = 0x0d; break; // \r
        case 0x74: c = 0x09; break; // \t
        case 0x75: { // \uXXXX: surrogate pairs arrive as two escapes, each one UTF-16 unit
          if (p + 4 > stop) fail();
          c = (hex(load<u8>(p)) << 12) | (hex(load<u8>(p + 1)) << 8) | (hex(load<u8>(p + 2)) << 4) | hex(load<u8>(p + 3));
          p += 4;
          break;
        }
        case 0x22: case 0x5c: case 0x2f: c = e; break;
        default: fail();
      }
    } else if (c < 0x80) {
      if (c < 0x20 && escapes) fail();
      p++;
    } else {
      let extra: usize;
      if (c >= 0xf0) { extra = 3; c &= 0x07; }
      else if (c >= 0xe0) { extra = 2; c &= 0x0f; }
      else if (c >= 0xc0) { extra = 1; c &= 0x1f; }
      else { extra = 0; c = 0xfffd; }
      p++;
      if (p + extra > stop) { extra = 0; c = 0xfffd; p = stop; }
      for (let i: usize = 0; i < extra; i++) {
        c = (c << 6) | (<u32>load<u8>(p++) & 0x3f);
      }
      if (c >= 0x10000) {
        c -= 0x10000;
        store<u16>(o, <u16>(0xd800 | (c >> 10)));
        o += 2;
        c = 0xdc00 | (c & 0x3ff);
      }
    }
    store<u16>(o, <u16>c);
    o += 2;
  }
  return (o - out) >> 1;
}

function hex(c: u8): u32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  fail();
  return 0;
}

// Parses the n (1..8) digits at p.
// @ts-ignore: decorator
@inline function digits(p: usize, n: usize): u64 {
  // Shifting the digits to the top of the word leaves zeros below them,
  // which read as leading zeros; then pairs, quads and octets combine.
  let v = (load<u64>(p) - ONES * 0x30) << (<u64>(8 - n) << 3);
  v = ((v & 0x0f0f0f0f0f0f0f0f) * 2561) >> 8;
  v = ((v & 0x00ff00ff00ff00ff) * 6553601) >> 16;
  return ((v & 0x0000ffff0000ffff) * 42949672960001) >> 32;
}

const POW10: StaticArray<i64> = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

/**
 * Reads an integer of at most 18 digits; null reads as 0. Like the Go SDK,
 * it refuses longer ones (which could overflow), fractions and exponents
 * rather than guess.
 */
export function readInt(): i64 {
  const c = peek();
  if (c == 0x6e && takeNull()) return 0;
  const neg = c == 0x2d;
  const start = pos + <usize>neg;
  let p = start;
  let m = nonDigitBytes(load<u64>(p));
  let n = m ? firstByte(m) : 8;
  if (n == 0) fail();
  let v = <i64>digits(p, n);
  p += n;
  if (n == 8) {
    // Nine digits or more: rare (a price of $100 per million tokens).
    do {
      m = nonDigitBytes(load<u64>(p));
      n = m ? firstByte(m) : 8;
      if (n == 0) break;
      if (p - start + n > 18) fail();
      v = v * unchecked(POW10[<i32>n]) + <i64>digits(p, n);
      p += n;
    } while (n == 8);
  }
  if (p > end) fail();
  if (p < end) {
    const t = load<u8>(p) | 0x20;
    if (t == 0x2e || t == 0x65) fail(); // '.', 'e' or 'E'
  }
  pos = p;
  return neg ? -v : v;
}

/** Reads true or false; null reads as false. */
// @ts-ignore: decorator
@inline export function readBool(): bool {
  const c = peek();
  if (end - pos >= 4) {
    const w = load<u32>(pos);
    if (w == 0x65757274) { // "true"
      pos += 4;
      return true;
    }
    if (w == 0x6c6c756e) { // "null"
      pos += 4;
      return false;
    }
    if (c == 0x66 && end - pos >= 5 && load<u32>(pos + 1) == 0x65736c61) { // "f" "alse"
      pos += 5;
      return false;
    }
  }
  fail();
  return false;
}

/**
 * Skips one value of any type, nested ones included, and returns where its
 * JSON text lies as (start << 32) | length; the length is 0 for null, which
 * Go's decoder treats as absent too.
 */
export function skipRaw(): u64 {
  const c = peek();
  const start = pos;
  if (c == QUOTE) {
    pos = stringEnd(start + 1) + 1;
  } else if (c == 0x7b || c == 0x5b) {
    skipNested();
  } else if (c == 0x74 || c == 0x66) {
    readBool();
  } else if (c == 0x6e) {
    if (!takeNull()) fail();
    return <u64>start << 32;
  } else {
    skipNumber();
  }
  return (<u64>start << 32) | <u64>(pos - start);
}

// Skips a number of any form; its grammar does not matter to a plugin that
// ignores it. Digits go eight at a time; a fraction or exponent, rare in
// the host's JSON, byte by byte.
function skipNumber(): void {
  const digitsAt = pos + <usize>(load<u8>(pos) == 0x2d);
  let p = digitsAt;
  let m = nonDigitBytes(load<u64>(p));
  if (m == 0) {
    do {
      p += 8;
      m = nonDigitBytes(load<u64>(p));
    } while (m == 0);
  }
  p += firstByte(m);
  const c = load<u8>(p) | 0x20;
  if (c == 0x2e || c == 0x65) { // '.', 'e' or 'E'
    do {
      const d = load<u8>(p);
      if (!((d >= 0x30 && d <= 0x39) || d == 0x2d || d == 0x2b || d == 0x2e || (d | 0x20) == 0x65)) break;
      p++;
    } while (p < end);
  }
  if (p == digitsAt || p > end) fail();
  pos = p;
}

// Skips an object or array (the cursor on its opening bracket) sixteen
// bytes per turn. It checks nesting, not grammar: a skipped value is one the
// plugin never looks at, and the host's encoder only writes valid JSON.
function skipNested(): void {
  depth = 1;
  inString = false;
  let p = pos + 1;
  const e = end;
  if (p < e) do {
    let r = skipWord(p, e);
    if (r == WORD_SKIPPED) {
      p += 8;
      if (p >= e) break;
      r = skipWord(p, e);
      if (r == WORD_SKIPPED) {
        p += 8;
        continue;
      }
    }
    if (r == WORD_ENDS) return;
    p = skipBytes(p);
    if (!depth) return;
  } while (p < e);
  fail();
}

// State of skipNested, shared with its helpers.
let depth: i32 = 0;
let inString = false;

const WORD_SKIPPED = 0; // the word was inside the value: go on after it
const WORD_ENDS = 1; // the value ends in the word: pos is just past it
const WORD_ESCAPE = 2; // the word has a backslash: go byte by byte

// Applies the eight bytes at p to depth and inString. A word's quotes give,
// by a prefix XOR, which of its bytes are inside strings; brackets outside
// strings change the depth by their counts, and only a word that may close
// the value walks its brackets one by one.
// @ts-ignore: decorator
@inline function skipWord(p: usize, e: usize): i32 {
  const x = load<u64>(p);
  if (bytesEqual(x, BACKSLASH) != 0) return WORD_ESCAPE;
  const y = x | (ONES * 0x20); // '[' and ']' become '{' and '}'
  const quotes = byteBits(bytesEqual(x, QUOTE));
  let strings = quotes ^ (quotes << 1);
  strings ^= strings << 2;
  strings ^= strings << 4;
  if (inString) strings = ~strings;
  const valid: u32 = e - p >= 8 ? 0xff : (1 << <u32>(e - p)) - 1;
  const opens = byteBits(bytesEqual(y, 0x7b)) & ~strings & valid;
  const closes = byteBits(bytesEqual(y, 0x7d)) & ~strings & valid;
  const closing = <i32>popcnt(closes);
  inString = (strings & 0x80) != 0;
  if (closing < depth) {
    depth += <i32>popcnt(opens) - closing;
    return WORD_SKIPPED;
  }
  let brackets = opens | closes;
  do {
    const bit = ctz(brackets);
    brackets &= brackets - 1;
    if (opens & (1 << bit)) {
      depth++;
    } else if (--depth == 0) {
      pos = p + bit + 1;
      return WORD_ENDS;
    }
  } while (brackets);
  return WORD_SKIPPED;
}

// Applies the eight bytes at p one at a time, escapes included, and returns
// where to go on; sets pos when the value ends (depth 0).
function skipBytes(p: usize): usize {
  const stop = p + 8;
  do {
    const c = load<u8>(p++);
    if (inString) {
      if (c == BACKSLASH) p++;
      else if (c == QUOTE) inString = false;
    } else if (c == QUOTE) {
      inString = true;
    } else if ((c | 0x20) == 0x7b) {
      depth++;
    } else if ((c | 0x20) == 0x7d) {
      if (--depth == 0) {
        pos = p;
        return p;
      }
    }
  } while (p < stop);
  return p;
}

/** Makes a string of len bytes of UTF-8 at ptr, taken literally. */
export function textAt(ptr: usize, len: usize): string {
  return makeString(ptr, len, AS_TEXT);
}

/**
 * A growable UTF-8 byte buffer outside the garbage-collected heap, so that
 * the decision it holds survives the collection at the end of sy_route while
 * the host reads it.
 */
// @ts-ignore: decorator
@unmanaged @final
export class Writer {
  ptr: usize = 0;
  len: usize = 0;
  cap: usize = 0;

  /** Drops the contents but keeps the buffer for reuse. */
  reset(): void {
    this.len = 0;
  }

  /** Drops the contents and frees the buffer. */
  release(): void {
    if (this.ptr) heap.free(this.ptr);
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
  }

  // @ts-ignore: decorator
  @inline private reserve(n: usize): void {
    const need = this.len + n;
    if (need > this.cap) this.grow(need);
  }

  private grow(need: usize): void {
    let cap = this.cap << 1;
    if (cap < need) cap = need;
    if (cap < 256) cap = 256;
    this.ptr = this.ptr ? heap.realloc(this.ptr, cap) : heap.alloc(cap);
    this.cap = cap;
  }

  // @ts-ignore: decorator
  @inline byte(c: u8): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, c);
    this.len++;
  }

  /** Appends an ASCII literal such as a key with its quotes and colon. */
  ascii(s: string): void {
    this.utf8(s, false);
  }

  int(v: i64): void {
    this.reserve(20);
    if (v < 0) {
      this.byte(0x2d);
      if (v == i64.MIN_VALUE) {
        this.ascii("9223372036854775808");
        return;
      }
      v = -v;
    }
    let digits: usize = 1;
    for (let t = v; t >= 10; t /= 10) digits++;
    let p = this.ptr + this.len + digits;
    do {
      store<u8>(--p, <u8>(0x30 + v % 10));
      v /= 10;
    } while (v != 0);
    this.len += digits;
  }

  /** Appends s as a quoted JSON string. */
  string(s: string): void {
    this.byte(QUOTE);
    this.utf8(s, true);
    this.byte(QUOTE);
  }

  /**
   * Appends s as UTF-8, JSON-escaped when `escape` is set. Lone surrogates
   * become U+FFFD, as Go's encoder does with invalid UTF-8.
   */
  utf8(s: string, escape: bool): void {
    const n = <usize>s.length;
    const src = changetype<usize>(s);
    // Three bytes per unit is the most a BMP character takes; a pair of
    // surrogates takes four for two; put may store eight bytes for fewer.
    // Escapes reserve their own extra.
    this.reserve(n * 3 + 8);
    // ASCII that needs no escape goes eight, four, two and one units to a
    // store, with a loop only past sixteen units; anything else finishes
    // unit by unit.
    let i: usize = 0;
    if (n >= 8) {
      if (!this.ascii8(src, escape)) return this.units(src, 0, n, escape);
      i = 8;
      if (n >= 16) {
        do {
          if (!this.ascii8(src + (i << 1), escape)) return this.units(src, i, n, escape);
          i += 8;
        } while (i + 8 <= n);
      }
    }
    if (i + 4 <= n) {
      const x = load<u64>(src + (i << 1));
      if ((x & 0xff80ff80ff80ff80) != 0 || !this.put(narrow4(x), 4, escape)) return this.units(src, i, n, escape);
      i += 4;
    }
    if (i + 2 <= n) {
      const x = <u64>load<u32>(src + (i << 1));
      if ((x & 0xff80ff80) != 0 || !this.put(narrow4(x), 2, escape)) return this.units(src, i, n, escape);
      i += 2;
    }
    if (i < n) this.unit(src, i, n, escape);
  }

  // Appends the eight units at src if they are ASCII needing no escape.
  // @ts-ignore: decorator
  @inline private ascii8(src: usize, escape: bool): bool {
    const lo = load<u64>(src);
    const hi = load<u64>(src + 8);
    if (((lo | hi) & 0xff80ff80ff80ff80) != 0) return false;
    return this.put(narrow4(lo) | (narrow4(hi) << 32), 8, escape);
  }

  // Appends the low n bytes of w (ASCII) unless one of them needs an escape.
  // @ts-ignore: decorator
  @inline private put(w: u64, n: usize, escape: bool): bool {
    if (escape) {
      // Bytes past n are zero, which would read as control characters.
      const m = bytesEqual(w, QUOTE) | bytesEqual(w, BACKSLASH) | controlBytes(w);
      if (m & (n >= 8 ? HIGHS : HIGHS & ((<u64>1 << (<u64>n << 3)) - 1))) return false;
    }
    store<u64>(this.ptr + this.len, w); // within the reservation: 3 bytes a unit
    this.len += n;
    return true;
  }

  // Appends units i..n one at a time: the path for escapes and non-ASCII.
  private units(src: usize, i: usize, n: usize, escape: bool): void {
    while (i < n) i = this.unit(src, i, n, escape);
  }

  // Appends the character at unit i of src and returns the index after it.
  private unit(src: usize, i: usize, n: usize, escape: bool): usize {
    let c = <u32>load<u16>(src + (i << 1));
    if (c < 0x80) {
      if (escape && (c < 0x20 || c == QUOTE || c == BACKSLASH)) {
        this.escape(c);
        this.reserve((n - i - 1) * 3);
      } else {
        store<u8>(this.ptr + this.len, <u8>c);
        this.len++;
      }
      return i + 1;
    }
    const p = this.ptr + this.len;
    if (c < 0x800) {
      store<u8>(p, <u8>(0xc0 | (c >> 6)));
      store<u8>(p + 1, <u8>(0x80 | (c & 0x3f)));
      this.len += 2;
      return i + 1;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const next = i + 1 < n ? <u32>load<u16>(src + ((i + 1) << 1)) : 0;
      if (c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        store<u8>(p, <u8>(0xf0 | (c >> 18)));
        store<u8>(p + 1, <u8>(0x80 | ((c >> 12) & 0x3f)));
        store<u8>(p + 2, <u8>(0x80 | ((c >> 6) & 0x3f)));
        store<u8>(p + 3, <u8>(0x80 | (c & 0x3f)));
        this.len += 4; // two units in, four bytes out: within the reservation
        return i + 2;
      }
      c = 0xfffd;
    }
    store<u8>(p, <u8>(0xe0 | (c >> 12)));
    store<u8>(p + 1, <u8>(0x80 | ((c >> 6) & 0x3f)));
    store<u8>(p + 2, <u8>(0x80 | (c & 0x3f)));
    this.len += 3;
    return i + 1;
  }

  private escape(c: u32): void {
    this.byte(BACKSLASH);
    if (c == QUOTE || c == BACKSLASH) {
      this.byte(<u8>c);
    } else if (c == 0x0a) {
      this.byte(0x6e);
    } else if (c == 0x0d) {
      this.byte(0x72);
    } else if (c == 0x09) {
      this.byte(0x74);
    } else {
      this.byte(0x75);
      this.byte(0x30);
      this.byte(0x30);
      this.byte(hexDigit(c >> 4));
      this.byte(hexDigit(c & 0xf));
    }
  }
}

// Four UTF-16 units below 0x80 as four bytes.
// @ts-ignore: decorator
@inline function narrow4(x: u64): u64 {
  return (x & 0xff) | ((x >> 8) & 0xff00) | ((x >> 16) & 0xff0000) | ((x >> 24) & 0xff000000);
}

function hexDigit(d: u32): u8 {
  return <u8>(d < 10 ? 0x30 + d : 0x61 + d - 10);
}
