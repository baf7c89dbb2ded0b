import { Writer } from "./json";
import { StringMap } from "./request";

/**
 * A plugin's answer: route (keeping or changing what the gateway would do)
 * or reject. Build one with RouteDecision.route() or RouteDecision.reject().
 * Empty fields are left out of the JSON and so keep the gateway's default,
 * as the omitempty fields of Go's abi.RouteDecision do.
 */
export class RouteDecision {
  /** "route" or "reject". */
  action: string = "route";
  /** Route: the catalog id or alias to use instead of the requested model. */
  model: string = "";
  /** Reject: HTTP status, 400-499 (others become 403). */
  status: i32 = 0;
  /** Reject: shown to the client (at most 256 bytes). */
  message: string = "";

  // The lists and maps are made on first use: most decisions set none of
  // them, and each costs allocations on every call.
  private fallbackList: string[] | null = null;
  private providerList: string[] | null = null;
  private headerMap: StringMap | null = null;
  private tagMap: StringMap | null = null;

  /** Route: replaces the client's fallback list (ordered catalog ids). */
  get fallbacks(): string[] {
    let l = this.fallbackList;
    if (!l) this.fallbackList = l = new Array<string>();
    return l;
  }

  set fallbacks(models: string[]) {
    this.fallbackList = models;
  }

  /** Route: try candidates of these providers only, in this order. */
  get providers(): string[] {
    let l = this.providerList;
    if (!l) this.providerList = l = new Array<string>();
    return l;
  }

  set providers(providers: string[]) {
    this.providerList = providers;
  }

  /** Route: response headers to add (names start with "x-"; at most 16). */
  get headers(): StringMap {
    let m = this.headerMap;
    if (!m) this.headerMap = m = new StringMap();
    return m;
  }

  /** Route: recorded on the usage record (at most 8; never content). */
  get tags(): StringMap {
    let m = this.tagMap;
    if (!m) this.tagMap = m = new StringMap();
    return m;
  }

  /** Routes the request as the gateway would; chain setters to change that. */
  static route(): RouteDecision {
    return new RouteDecision();
  }

  /** Refuses the request with a 4xx status and a message for the client. */
  static reject(status: i32, message: string): RouteDecision {
    const d = new RouteDecision();
    d.action = "reject";
    d.status = status;
    d.message = message;
    return d;
  }

  withModel(model: string): RouteDecision {
    this.model = model;
    return this;
  }

  withFallbacks(models: string[]): RouteDecision {
    this.fallbackList = models;
    return this;
  }

  withProviders(providers: string[]): RouteDecision {
    this.providerList = providers;
    return this;
  }

  withHeader(name: string, value: string): RouteDecision {
    this.headers.set(name, value);
    return this;
  }

  withTag(key: string, value: string): RouteDecision {
    this.tags.set(key, value);
    return this;
  }
}

/** Writes d as RouteDecision JSON, leaving out empty fields. */
export function writeRouteDecision(d: RouteDecision, w: Writer): void {
  w.ascii('{"action":');
  w.string(d.action);
  if (d.model.length) {
    w.ascii(',"model":');
    w.string(d.model);
  }
  const fallbacks = d.fallbackList;
  if (fallbacks && fallbacks.length) {
    w.ascii(',"fallbacks":');
    writeStrings(w, fallbacks);
  }
  const providers = d.providerList;
  if (providers && providers.length) {
    w.ascii(',"providers":');
    writeStrings(w, providers);
  }
  const headers = d.headerMap;
  if (headers && headers.size) {
    w.ascii(',"headers":');
    writeStringMap(w, headers);
  }
  const tags = d.tagMap;
  if (tags && tags.size) {
    w.ascii(',"tags":');
    writeStringMap(w, tags);
  }
  if (d.status != 0) {
    w.ascii(',"status":');
    w.int(d.status);
  }
  if (d.message.length) {
    w.ascii(',"message":');
    w.string(d.message);
  }
  w.byte(0x7d);
}

// Callers pass non-empty lists and maps; the loops are do-while because a
// host that checks its deadline on every loop turn charges for the turn
// that only finds the loop is over.

function writeStrings(w: Writer, list: string[]): void {
  w.byte(0x5b);
  const n = list.length;
  let i = 0;
  do {
    if (i) w.byte(0x2c);
    w.string(unchecked(list[i]));
  } while (++i < n);
  w.byte(0x5d);
}

function writeStringMap(w: Writer, m: StringMap): void {
  w.byte(0x7b);
  const n = m.size;
  let i = 0;
  do {
    if (i) w.byte(0x2c);
    w.string(m.keyAt(i));
    w.byte(0x3a);
    w.string(m.valueAt(i));
  } while (++i < n);
  w.byte(0x7d);
}
