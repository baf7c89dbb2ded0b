// A test plugin that routes with every field it read, one "name=value"
// string per fallback, so Go tests can compare the SDK's reading of a
// request with the Go SDK's. It reads the fields in an order that changes
// with each call, since the SDK reads a request only as far as asked, and
// looks candidates up in the catalog before and after reading it.

import { Candidate, handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

const FIELDS = 15;
let calls = 0;

function candidate(name: string, i: i32, c: Candidate): string {
  return name + "[" + i.toString() + "]=" + c.model + "|" + c.provider + "|" +
    c.inputPrice.toString() + "|" + c.outputPrice.toString() + "|" + c.contextLength.toString() + "|" +
    (c.healthy ? "true" : "false") + "|" + c.latencyMs.toString();
}

function emit(req: RouteRequest, field: i32, out: string[]): void {
  switch (field) {
    case 0: out.push("abi=" + req.abi.toString()); break;
    case 1: out.push("request_id=" + req.requestId); break;
    case 2: out.push("tenant=" + req.tenant); break;
    case 3: out.push("key_id=" + req.keyId); break;
    case 4: out.push("endpoint=" + req.endpoint); break;
    case 5: out.push("model=" + req.model); break;
    case 6: {
      const m = req.models;
      for (let i = 0; i < m.length; i++) out.push("models[" + i.toString() + "]=" + m[i]);
      break;
    }
    case 7: out.push("stream=" + (req.stream ? "true" : "false")); break;
    case 8: {
      out.push("edge.location=" + req.edge.location);
      out.push("edge.country=" + req.edge.country);
      break;
    }
    case 9: {
      const h = req.headers;
      for (let i = 0; i < h.size; i++) out.push("headers[" + h.keyAt(i) + "]=" + h.valueAt(i));
      break;
    }
    case 10: out.push("estimated_input_tokens=" + req.estimatedInputTokens.toString()); break;
    case 11: {
      const c = req.candidates;
      for (let i = 0; i < c.length; i++) out.push(candidate("candidates", i, c[i]));
      break;
    }
    case 12: {
      const c = req.catalog;
      for (let i = 0; i < c.length; i++) out.push(candidate("catalog", i, c[i]));
      break;
    }
    case 13: out.push("body=" + req.body); break;
    case 14: {
      // Whether each candidate's model is in the catalog, and with which
      // provider: before the catalog is read (two of the three orders)
      // and after.
      const c = req.candidates;
      for (let i = 0; i < c.length; i++) {
        const found = req.findInCatalog(c[i].model);
        out.push("in_catalog[" + i.toString() + "]=" + (found ? found.provider : "-"));
      }
      break;
    }
  }
}

function route(req: RouteRequest): RouteDecision | null {
  const out: string[] = [];
  const order = calls++ % 3;
  for (let i = 0; i < FIELDS; i++) {
    let field = i; // in Go's order
    if (order == 1) field = FIELDS - 1 - i; // backwards
    else if (order == 2) field = i < 3 ? FIELDS - 1 - i : i - 3; // the large ones first
    emit(req, field, out);
  }
  return RouteDecision.route().withFallbacks(out);
}

handle(route);
