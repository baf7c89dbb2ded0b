// Switchyard plugin SDK for AssemblyScript, ABI v1 (plugins/ABI.md).
//
// A plugin's entry file:
//
//   import { handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
//   export * from "@switchyard/sdk-as/exports";
//
//   function route(req: RouteRequest): RouteDecision {
//     return RouteDecision.route();
//   }
//
//   handle(route);
//
// Build it with the SDK's asconfig.json (see README.md): it selects the
// runtime and the abort handler the ABI needs.

export { StringMap, Edge, Candidate, RouteRequest } from "./assembly/request";
export { RouteDecision } from "./assembly/decision";
export { LogLevel, log, nowMs, counterAdd, byteLength } from "./assembly/host";
export { handle, RouteFunc } from "./assembly/entry";
