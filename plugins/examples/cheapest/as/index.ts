// cheapest, in AssemblyScript: tries the candidate expected to cost least
// for this request first, healthy ones before unhealthy ones. Behaves
// exactly like ../main.go; see ../README.md.

import { Candidate, handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

// Stands in for the answer's length, which is unknown before the call; a
// typical chat answer.
const EXPECTED_OUTPUT_TOKENS: i64 = 500;

function cost(c: Candidate, inputTokens: i64): i64 {
  return c.inputPrice * inputTokens + c.outputPrice * EXPECTED_OUTPUT_TOKENS;
}

// Whether a goes strictly before b: healthy first, then cheaper first.
function before(a: Candidate, b: Candidate, inputTokens: i64): bool {
  if (a.healthy != b.healthy) return a.healthy;
  return cost(a, inputTokens) < cost(b, inputTokens);
}

function route(req: RouteRequest): RouteDecision | null {
  // Insertion sort: stable, so equal offers keep the gateway's order as the
  // Go version's SortStableFunc does, and candidate lists are short.
  const cands = req.candidates.slice();
  const tokens = req.estimatedInputTokens;
  for (let i = 1; i < cands.length; i++) {
    const c = cands[i];
    let j = i;
    while (j > 0 && before(c, cands[j - 1], tokens)) {
      cands[j] = cands[j - 1];
      j--;
    }
    cands[j] = c;
  }
  if (cands.length == 0 || !cands[0].healthy) {
    return null; // nothing healthy: the gateway's own order is as good as any
  }
  const models = new Array<string>();
  const providers = new Array<string>();
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i];
    if (!models.includes(c.model)) models.push(c.model);
    if (!providers.includes(c.provider)) providers.push(c.provider);
  }
  return RouteDecision.route()
    .withModel(models[0])
    .withFallbacks(models.slice(1))
    .withProviders(providers)
    .withTag("policy", "cheapest");
}

handle(route);
