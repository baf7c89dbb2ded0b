// The exports of ABI v1. A plugin's entry file re-exports them all with
//
//   export * from "@switchyard/sdk-as/exports";
//
// because AssemblyScript only exports what the entry file exports.

import { allocInput, freeBuffer, serve } from "./assembly/entry";

/** ABI version this SDK implements. */
export function sy_abi_version(): i32 {
  return 1;
}

/** Returns size bytes for the host to write a RouteRequest into. */
export function sy_alloc(size: usize): usize {
  return allocInput(size);
}

/** Routes the RouteRequest at ptr..ptr+len; returns the decision as (ptr << 32) | len. */
export function sy_route(ptr: usize, len: usize): u64 {
  return serve(ptr, len);
}

/** Frees a buffer from sy_alloc or a decision returned by sy_route. */
export function sy_free(ptr: usize, len: usize): void {
  freeBuffer(ptr);
}
