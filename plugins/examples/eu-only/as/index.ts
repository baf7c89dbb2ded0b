// eu-only, in AssemblyScript: keeps requests from EU clients (or, if the
// tenant says so, every request) on EU-hosted providers, and refuses them
// rather than send them elsewhere. Behaves exactly like ../main.go; see
// ../README.md.

import { handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

// The tenant's settings: edit and rebuild.
// The providers whose endpoints, as this tenant has configured them,
// process data inside the EU.
const EU_PROVIDERS = ["mistral", "azure-eu", "bedrock-eu"];
// Applies the rule to every request, wherever the client is.
const ALWAYS_EU = false;

// The EU's member states (ISO 3166-1 alpha-2).
const EU_COUNTRIES = [
  "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
  "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

function route(req: RouteRequest): RouteDecision | null {
  if (!ALWAYS_EU && !EU_COUNTRIES.includes(req.edge.country)) return null;
  const providers = new Array<string>();
  const cands = req.candidates;
  for (let i = 0; i < cands.length; i++) {
    const p = cands[i].provider;
    if (EU_PROVIDERS.includes(p) && !providers.includes(p)) providers.push(p);
  }
  if (providers.length == 0) {
    return RouteDecision.reject(403, "this request must stay in the EU, and no EU-hosted provider serves the model it asks for");
  }
  return RouteDecision.route()
    .withProviders(providers)
    .withHeader("x-sy-routed-by", "eu-only")
    .withTag("policy", "eu-only");
}

handle(route);
