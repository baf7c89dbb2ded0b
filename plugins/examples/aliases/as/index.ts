// aliases, in AssemblyScript: lets clients name models by the tenant's own
// aliases ("fast", "smart", "cheap") instead of catalog ids. Behaves exactly
// like ../main.go; see ../README.md.

import { handle, RouteDecision, RouteRequest, StringMap } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

// The tenant's setting: edit and rebuild. Made once at instantiation, at the
// top level, so that it outlives every call.
const ALIASES = new StringMap()
  .set("fast", "google/gemini-2.5-flash")
  .set("smart", "anthropic/claude-sonnet-4-5")
  .set("cheap", "openai/gpt-4o-mini");

function route(req: RouteRequest): RouteDecision | null {
  const d = RouteDecision.route();
  const model = req.model;
  if (ALIASES.has(model)) {
    const target = ALIASES.get(model);
    if (req.findInCatalog(target) == null) {
      return RouteDecision.reject(403, "the alias " + model + " names a model this API key may not use");
    }
    d.withModel(target).withTag("alias", model);
  }
  const models = req.models;
  let changed = false;
  const fallbacks = new Array<string>(models.length);
  for (let i = 0; i < models.length; i++) {
    const m = models[i];
    fallbacks[i] = m;
    if (ALIASES.has(m)) {
      const target = ALIASES.get(m);
      if (req.findInCatalog(target) != null) {
        fallbacks[i] = target;
        changed = true;
      }
    }
  }
  if (changed) d.withFallbacks(fallbacks);
  if (d.model.length == 0 && !changed) return null;
  return d;
}

handle(route);
