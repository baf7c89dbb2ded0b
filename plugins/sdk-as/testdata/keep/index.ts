// A test plugin that keeps its first request in a global and reads it
// again in the next call, which the SDK must refuse loudly.

import { handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

let kept: RouteRequest | null = null;

function route(req: RouteRequest): RouteDecision | null {
  const old = kept;
  if (old) return RouteDecision.route().withModel(old.catalog[0].model);
  kept = req;
  return null;
}

handle(route);
