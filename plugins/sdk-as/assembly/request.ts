import {
  arrayStart, atNull, keyLength, keyString, keyWord, nextElement, nextMember, objectStart, position,
  readBool, readEnd, readFrom, readInt, readString, readStringSpan, skipRaw, spanEquals, stringAt, textAt,
} from "./json";

/**
 * Pairs of strings in insertion order, looked up by linear search. Headers
 * and tags are capped at 16 and 8 entries by the ABI, where a scan beats
 * hashing, and one array of alternating keys and values is one allocation
 * where a Map takes several.
 */
export class StringMap {
  // new Array rather than [], which starts with no room and grows on the
  // first push: one allocation instead of two.
  private pairs: string[] = new Array<string>();

  /** Number of keys. */
  get size(): i32 {
    return this.pairs.length >> 1;
  }

  /** The i-th key in insertion order. */
  keyAt(i: i32): string {
    return this.pairs[i << 1];
  }

  /** The i-th value in insertion order. */
  valueAt(i: i32): string {
    return this.pairs[(i << 1) + 1];
  }

  private find(key: string): i32 {
    const p = this.pairs;
    for (let i = 0, n = p.length; i < n; i += 2) {
      if (unchecked(p[i]) == key) return i;
    }
    return -1;
  }

  has(key: string): bool {
    return this.find(key) >= 0;
  }

  /** The value for key, "" when there is none. */
  get(key: string): string {
    const i = this.find(key);
    return i >= 0 ? unchecked(this.pairs[i + 1]) : "";
  }

  /** Sets key to value, replacing an earlier value for the same key. */
  set(key: string, value: string): StringMap {
    const i = this.find(key);
    if (i >= 0) {
      unchecked((this.pairs[i + 1] = value));
    } else {
      this.pairs.push(key);
      this.pairs.push(value);
    }
    return this;
  }

  delete(key: string): bool {
    const i = this.find(key);
    if (i < 0) return false;
    this.pairs.splice(i, 2);
    return true;
  }
}

/** Where the request entered. Both fields may be "". */
export class Edge {
  /** The edge's location code (a Cloudflare colo, or a native edge's name). */
  location: string = "";
  /** The client's ISO 3166-1 alpha-2 country, when the platform knows it. */
  country: string = "";
}

/** One model the request could go to. */
export class Candidate {
  /** Catalog id, such as "openai/gpt-4o-mini". */
  model: string = "";
  provider: string = "";
  /** Micro-dollars per million input tokens. */
  inputPrice: i64 = 0;
  /** Micro-dollars per million output tokens. */
  outputPrice: i64 = 0;
  contextLength: i64 = 0;
  /** False after recent upstream failures. */
  healthy: bool = false;
  /** Recent time to first byte, 0 when unknown. */
  latencyMs: i64 = 0;
}

// One bit per RouteRequest member, set once its value has been read (or,
// for the large ones, located).
const F_ABI: u32 = 1 << 0;
const F_REQUEST_ID: u32 = 1 << 1;
const F_TENANT: u32 = 1 << 2;
const F_KEY_ID: u32 = 1 << 3;
const F_ENDPOINT: u32 = 1 << 4;
const F_MODEL: u32 = 1 << 5;
const F_MODELS: u32 = 1 << 6;
const F_STREAM: u32 = 1 << 7;
const F_EDGE: u32 = 1 << 8;
const F_HEADERS: u32 = 1 << 9;
const F_TOKENS: u32 = 1 << 10;
const F_CANDIDATES: u32 = 1 << 11;
const F_CATALOG: u32 = 1 << 12;
const F_BODY: u32 = 1 << 13;

// Member names as the little-endian words of their bytes, for keyWord.
// @ts-ignore: decorator
@inline const W_ABI: u64 = 0x696261; // "abi"
// @ts-ignore: decorator
@inline const W_EDGE: u64 = 0x65676465; // "edge"
// @ts-ignore: decorator
@inline const W_BODY: u64 = 0x79646f62; // "body"
// @ts-ignore: decorator
@inline const W_MODEL: u64 = 0x6c65646f6d; // "model"
// @ts-ignore: decorator
@inline const W_TENANT: u64 = 0x746e616e6574; // "tenant"
// @ts-ignore: decorator
@inline const W_KEY_ID: u64 = 0x64695f79656b; // "key_id"
// @ts-ignore: decorator
@inline const W_MODELS: u64 = 0x736c65646f6d; // "models"
// @ts-ignore: decorator
@inline const W_STREAM: u64 = 0x6d6165727473; // "stream"
// @ts-ignore: decorator
@inline const W_HEADERS: u64 = 0x73726564616568; // "headers"
// @ts-ignore: decorator
@inline const W_CATALOG: u64 = 0x676f6c61746163; // "catalog"
// @ts-ignore: decorator
@inline const W_COUNTRY: u64 = 0x7972746e756f63; // "country"
// @ts-ignore: decorator
@inline const W_HEALTHY: u64 = 0x7968746c616568; // "healthy"
// @ts-ignore: decorator
@inline const W_ENDPOINT: u64 = 0x746e696f70646e65; // "endpoint"
// @ts-ignore: decorator
@inline const W_LOCATION: u64 = 0x6e6f697461636f6c; // "location"
// @ts-ignore: decorator
@inline const W_PROVIDER: u64 = 0x72656469766f7270; // "provider"
// @ts-ignore: decorator
@inline const W_REQUEST_ID: u64 = 0x5f74736575716572; // "request_", then "id"
// @ts-ignore: decorator
@inline const W_REQUEST_ID_1: u64 = 0x6469;
// @ts-ignore: decorator
@inline const W_CANDIDATES: u64 = 0x74616469646e6163; // "candidat", then "es"
// @ts-ignore: decorator
@inline const W_CANDIDATES_1: u64 = 0x7365;
// @ts-ignore: decorator
@inline const W_LATENCY_MS: u64 = 0x5f79636e6574616c; // "latency_", then "ms"
// @ts-ignore: decorator
@inline const W_LATENCY_MS_1: u64 = 0x736d;
// @ts-ignore: decorator
@inline const W_INPUT_PRICE: u64 = 0x72705f7475706e69; // "input_pr", then "ice"
// @ts-ignore: decorator
@inline const W_INPUT_PRICE_1: u64 = 0x656369;
// @ts-ignore: decorator
@inline const W_OUTPUT_PRICE: u64 = 0x705f74757074756f; // "output_p", then "rice"
// @ts-ignore: decorator
@inline const W_OUTPUT_PRICE_1: u64 = 0x65636972;
// @ts-ignore: decorator
@inline const W_CONTEXT_LENGTH: u64 = 0x5f747865746e6f63; // "context_", then "length"
// @ts-ignore: decorator
@inline const W_CONTEXT_LENGTH_1: u64 = 0x6874676e656c;
// @ts-ignore: decorator
@inline const W_TOKENS: u64 = 0x6574616d69747365; // "estimate", "d_input_", "tokens"
// @ts-ignore: decorator
@inline const W_TOKENS_1: u64 = 0x5f7475706e695f64;
// @ts-ignore: decorator
@inline const W_TOKENS_2: u64 = 0x736e656b6f74;

// Which RouteRequest member the current key names (an F_ bit), 0 for one
// of a later revision.
// @ts-ignore: decorator
@inline function requestMember(): u32 {
  const w = keyWord(0);
  switch (<i32>keyLength()) {
    case 3: return w == W_ABI ? F_ABI : 0;
    case 4: return w == W_EDGE ? F_EDGE : w == W_BODY ? F_BODY : 0;
    case 5: return w == W_MODEL ? F_MODEL : 0;
    case 6: return w == W_TENANT ? F_TENANT : w == W_KEY_ID ? F_KEY_ID : w == W_MODELS ? F_MODELS : w == W_STREAM ? F_STREAM : 0;
    case 7: return w == W_HEADERS ? F_HEADERS : w == W_CATALOG ? F_CATALOG : 0;
    case 8: return w == W_ENDPOINT ? F_ENDPOINT : 0;
    case 10: {
      const w1 = keyWord(1);
      if (w == W_REQUEST_ID && w1 == W_REQUEST_ID_1) return F_REQUEST_ID;
      return w == W_CANDIDATES && w1 == W_CANDIDATES_1 ? F_CANDIDATES : 0;
    }
    case 22: return w == W_TOKENS && keyWord(1) == W_TOKENS_1 && keyWord(2) == W_TOKENS_2 ? F_TOKENS : 0;
  }
  return 0;
}

// Candidate members, as requestMember numbers them.
const C_MODEL = 1;
const C_PROVIDER = 2;
const C_INPUT_PRICE = 3;
const C_OUTPUT_PRICE = 4;
const C_CONTEXT_LENGTH = 5;
const C_HEALTHY = 6;
const C_LATENCY_MS = 7;

// @ts-ignore: decorator
@inline function candidateMember(): i32 {
  const w = keyWord(0);
  switch (<i32>keyLength()) {
    case 5: return w == W_MODEL ? C_MODEL : 0;
    case 7: return w == W_HEALTHY ? C_HEALTHY : 0;
    case 8: return w == W_PROVIDER ? C_PROVIDER : 0;
    case 10: return w == W_LATENCY_MS && keyWord(1) == W_LATENCY_MS_1 ? C_LATENCY_MS : 0;
    case 11: return w == W_INPUT_PRICE && keyWord(1) == W_INPUT_PRICE_1 ? C_INPUT_PRICE : 0;
    case 12: return w == W_OUTPUT_PRICE && keyWord(1) == W_OUTPUT_PRICE_1 ? C_OUTPUT_PRICE : 0;
    case 14: return w == W_CONTEXT_LENGTH && keyWord(1) == W_CONTEXT_LENGTH_1 ? C_CONTEXT_LENGTH : 0;
  }
  return 0;
}

// Counts sy_route calls, so that a RouteRequest kept past its call (in a
// global) fails loudly instead of reading a request buffer that has since
// been reused.
let callNumber: u32 = 0;

/** Starts a new call; requests of earlier calls can no longer be read. */
export function beginCall(): void {
  callNumber++;
}

/**
 * What a plugin sees of one request: every field of ABI v1's RouteRequest,
 * with Go's zero values for fields the host left out or sent as null.
 *
 * The request is read only as far as the plugin asks, and each field is
 * made only when the plugin first reads it. Reading stops in front of
 * candidates, catalog and body, which are most of the bytes and which Go's
 * encoder writes last, and goes on when a field not yet seen is asked for:
 * a plugin that routes by a header never pays for the catalog. So a
 * RouteRequest is valid only during the sy_route call it was made for.
 */
export class RouteRequest {
  private call: u32 = callNumber;
  private seen: u32 = 0;
  private done: bool = false;
  private members: i32 = 0; // members read so far, to know when a comma is due
  private resumeAt: usize; // where reading goes on: before a ',' or the '}'
  private pending: u32 = 0; // a large member whose value starts at resumeAt, unread
  private end: usize;

  // Where each field's JSON lies (spans from readStringSpan or skipRaw; 0
  // for absent or null), and the field once made.
  private abiValue: i32 = 0;
  private streamValue: bool = false;
  private tokensValue: i64 = 0;
  private requestIdSpan: u64 = 0;
  private tenantSpan: u64 = 0;
  private keyIdSpan: u64 = 0;
  private endpointSpan: u64 = 0;
  private modelSpan: u64 = 0;
  private modelsSpan: u64 = 0;
  private edgeSpan: u64 = 0;
  private headersSpan: u64 = 0;
  private candidatesAt: usize = 0;
  private catalogAt: usize = 0;
  private bodyAt: usize = 0;
  private requestIdText: string | null = null;
  private tenantText: string | null = null;
  private keyIdText: string | null = null;
  private endpointText: string | null = null;
  private modelText: string | null = null;
  private modelsList: string[] | null = null;
  private edgeValue: Edge | null = null;
  private headersMap: StringMap | null = null;
  private candidatesList: Candidate[] | null = null;
  private catalogList: Candidate[] | null = null;
  private bodyText: string | null = null;

  constructor(ptr: usize, len: usize) {
    this.resumeAt = ptr;
    this.end = ptr + len;
    readFrom(ptr, len);
    if (!objectStart()) abort("RouteRequest is null");
    this.resumeAt = position();
  }

  /** Always 1 in this version of the ABI. */
  get abi(): i32 {
    this.need(F_ABI);
    return this.abiValue;
  }

  /** The id the client sees in X-Request-Id. */
  get requestId(): string {
    let s = this.requestIdText;
    if (s == null) this.requestIdText = s = this.text(F_REQUEST_ID);
    return s;
  }

  /** The account making the request. */
  get tenant(): string {
    let s = this.tenantText;
    if (s == null) this.tenantText = s = this.text(F_TENANT);
    return s;
  }

  /** The API key making the request. */
  get keyId(): string {
    let s = this.keyIdText;
    if (s == null) this.keyIdText = s = this.text(F_KEY_ID);
    return s;
  }

  /** "chat.completions", "messages" or "embeddings". */
  get endpoint(): string {
    let s = this.endpointText;
    if (s == null) this.endpointText = s = this.text(F_ENDPOINT);
    return s;
  }

  /** The model the client asked for: a catalog id or an alias. */
  get model(): string {
    let s = this.modelText;
    if (s == null) this.modelText = s = this.text(F_MODEL);
    return s;
  }

  /** The client's own fallback list, possibly empty. */
  get models(): string[] {
    let m = this.modelsList;
    if (!m) {
      this.need(F_MODELS);
      m = new Array<string>();
      if (this.readAt(this.modelsSpan)) readStrings(m);
      this.modelsList = m;
    }
    return m;
  }

  /** Whether the client asked for a stream. */
  get stream(): bool {
    this.need(F_STREAM);
    return this.streamValue;
  }

  /** Where the request entered. */
  get edge(): Edge {
    let e = this.edgeValue;
    if (!e) {
      this.need(F_EDGE);
      e = new Edge();
      if (this.readAt(this.edgeSpan)) readEdge(e);
      this.edgeValue = e;
    }
    return e;
  }

  /** x-sy-* headers and those the tenant listed at upload; names lower-cased. */
  get headers(): StringMap {
    let h = this.headersMap;
    if (!h) {
      this.need(F_HEADERS);
      h = new StringMap();
      if (this.readAt(this.headersSpan)) readStringMap(h);
      this.headersMap = h;
    }
    return h;
  }

  /** Body bytes / 4, a rough size. */
  get estimatedInputTokens(): i64 {
    this.need(F_TOKENS);
    return this.tokensValue;
  }

  /** The models the gateway would try, in order. */
  get candidates(): Candidate[] {
    let list = this.candidatesList;
    if (!list) this.candidatesList = list = this.candidateList(F_CANDIDATES);
    return list;
  }

  /** Every catalog model the key may use, with prices and health. */
  get catalog(): Candidate[] {
    let list = this.catalogList;
    if (!list) this.catalogList = list = this.candidateList(F_CATALOG);
    return list;
  }

  /** The body as raw JSON text, only for plugins that asked for it; else "". */
  get body(): string {
    let b = this.bodyText;
    if (b == null) {
      this.need(F_BODY);
      b = "";
      const at = this.bodyAt;
      if (at) {
        this.readAt((<u64>at << 32) | (this.end - at));
        const raw = skipRaw();
        this.consumed(F_BODY);
        b = textAt(at, <usize>raw);
      }
      this.bodyText = b;
    }
    return b;
  }

  /** The value of a request header (name in lower case), "" when absent. */
  header(name: string): string {
    return this.headers.get(name);
  }

  /**
   * The catalog entry for a model id, or null when the key may not use it.
   * Until the plugin reads `catalog`, this compares model ids in the
   * request's JSON and makes only the entry it returns: asking whether a
   * model is allowed costs no allocation per catalog entry.
   */
  findInCatalog(model: string): Candidate | null {
    const parsed = this.catalogList;
    if (parsed) {
      for (let i = 0, n = parsed.length; i < n; i++) {
        const c = unchecked(parsed[i]);
        if (c.model == model) return c;
      }
      return null;
    }
    this.need(F_CATALOG);
    const at = this.catalogAt;
    if (!at) return null;
    this.readAt((<u64>at << 32) | (this.end - at));
    if (arrayStart() && nextElement(true)) {
      do {
        const entry = position();
        if (candidateModelIs(model)) {
          readFrom(entry, this.end - entry);
          return readCandidate();
        }
      } while (nextElement(false));
    }
    this.consumed(F_CATALOG);
    return null;
  }

  private text(field: u32): string {
    this.need(field);
    let span: u64 = 0;
    if (field == F_MODEL) span = this.modelSpan;
    else if (field == F_REQUEST_ID) span = this.requestIdSpan;
    else if (field == F_TENANT) span = this.tenantSpan;
    else if (field == F_KEY_ID) span = this.keyIdSpan;
    else span = this.endpointSpan;
    if (!span) return "";
    this.checkCall();
    return stringAt(span);
  }

  // Points the reader at a span's JSON; false when there is none.
  private readAt(span: u64): bool {
    const len = <usize>(span & 0xffffffff);
    if (!len) return false;
    this.checkCall();
    readFrom(<usize>(span >>> 32), len);
    return true;
  }

  private checkCall(): void {
    if (this.call != callNumber) abort("RouteRequest used after its sy_route call ended");
  }

  private candidateList(field: u32): Candidate[] {
    this.need(field);
    const out = new Array<Candidate>();
    const at = field == F_CANDIDATES ? this.candidatesAt : this.catalogAt;
    if (at) {
      this.readAt((<u64>at << 32) | (this.end - at));
      readCandidates(out);
      this.consumed(field);
    }
    return out;
  }

  // Called with the reader just past a large member's value: if reading
  // had stopped in front of it, it goes on from here, without skipping it.
  private consumed(field: u32): void {
    if (this.pending == field) {
      this.pending = 0;
      this.resumeAt = position();
    }
  }

  // Makes sure the member `field` has been read or located, reading on
  // until it is or the object ends.
  private need(field: u32): void {
    if (this.seen & field || this.done) return;
    this.checkCall();
    readFrom(this.resumeAt, this.end - this.resumeAt);
    if (this.pending) skipRaw();
    this.pending = 0;
    // do-while rather than while: a host that checks its deadline on every
    // loop turn charges for the turn that only finds the loop is over.
    if (nextMember(this.members == 0)) do {
      this.members++;
      if (this.readMember() && this.seen & field) {
        // A large member stays unread: reading goes on in front of it.
        this.resumeAt = position();
        return;
      }
      if (this.pending) {
        skipRaw();
        this.pending = 0;
      }
      if (this.seen & field) {
        this.resumeAt = position();
        return;
      }
    } while (nextMember(false));
    readEnd();
    this.done = true;
  }

  // Reads the value of the member whose key nextMember just read: numbers
  // and booleans are decoded, strings and small objects only located. A
  // large member is left unread with the reader in front of its value;
  // readMember then returns true and sets pending.
  private readMember(): bool {
    const f = requestMember();
    switch (f) {
      case F_MODEL: this.modelSpan = readStringSpan(); break;
      case F_CANDIDATES: this.candidatesAt = this.locate(F_CANDIDATES); return true;
      case F_CATALOG: this.catalogAt = this.locate(F_CATALOG); return true;
      case F_BODY: this.bodyAt = this.locate(F_BODY); return true;
      case F_HEADERS: this.headersSpan = skipRaw(); break;
      case F_MODELS: this.modelsSpan = skipRaw(); break;
      case F_EDGE: this.edgeSpan = skipRaw(); break;
      case F_ENDPOINT: this.endpointSpan = readStringSpan(); break;
      case F_STREAM: this.streamValue = readBool(); break;
      case F_TOKENS: this.tokensValue = readInt(); break;
      case F_TENANT: this.tenantSpan = readStringSpan(); break;
      case F_KEY_ID: this.keyIdSpan = readStringSpan(); break;
      case F_REQUEST_ID: this.requestIdSpan = readStringSpan(); break;
      case F_ABI: this.abiValue = <i32>readInt(); break;
      default: skipRaw(); // a field a later minor revision of ABI 1 added
    }
    this.seen |= f;
    return false;
  }

  // Marks a large member located and returns where its value starts (0 for
  // null), leaving the reader in front of it.
  private locate(field: u32): usize {
    this.seen |= field;
    this.pending = field;
    return atNull() ? 0 : position();
  }
}

/** Starts reading the RouteRequest JSON at ptr..ptr+len. */
export function parseRouteRequest(ptr: usize, len: usize): RouteRequest {
  return new RouteRequest(ptr, len);
}

// The loops below are do-while for the reason need gives.

function readStrings(out: string[]): void {
  if (!arrayStart() || !nextElement(true)) return;
  do {
    out.push(readString());
  } while (nextElement(false));
}

function readStringMap(m: StringMap): void {
  if (!objectStart() || !nextMember(true)) return;
  do {
    const key = keyString();
    m.set(key, readString()); // a repeated key keeps its last value, as in Go
  } while (nextMember(false));
}

function readEdge(e: Edge): void {
  if (!objectStart() || !nextMember(true)) return;
  do {
    const w = keyWord(0);
    if (keyLength() == 7 && w == W_COUNTRY) e.country = readString();
    else if (keyLength() == 8 && w == W_LOCATION) e.location = readString();
    else skipRaw();
  } while (nextMember(false));
}

function readCandidates(out: Candidate[]): void {
  if (!arrayStart() || !nextElement(true)) return;
  do {
    out.push(readCandidate());
  } while (nextElement(false));
}

// Reads a candidate object, only to say whether its model is `model`. An
// entry without one (or null) has the model "", as in Go.
function candidateModelIs(model: string): bool {
  let found = model.length == 0;
  if (!objectStart() || !nextMember(true)) return found;
  do {
    if (candidateMember() == C_MODEL) found = spanEquals(readStringSpan(), model);
    else skipRaw();
  } while (nextMember(false));
  return found;
}

function readCandidate(): Candidate {
  const c = new Candidate();
  if (!objectStart() || !nextMember(true)) return c;
  do {
    switch (candidateMember()) {
      case C_MODEL: c.model = readString(); break;
      case C_PROVIDER: c.provider = readString(); break;
      case C_INPUT_PRICE: c.inputPrice = readInt(); break;
      case C_OUTPUT_PRICE: c.outputPrice = readInt(); break;
      case C_HEALTHY: c.healthy = readBool(); break;
      case C_LATENCY_MS: c.latencyMs = readInt(); break;
      case C_CONTEXT_LENGTH: c.contextLength = readInt(); break;
      default: skipRaw();
    }
  } while (nextMember(false));
  return c;
}
