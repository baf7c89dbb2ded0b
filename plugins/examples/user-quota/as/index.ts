// user-quota, in AssemblyScript: gives each end user, named by the
// x-sy-user header, a daily request quota. Behaves exactly like
// ../main.go; see ../README.md.

import { byteLength, counterAdd, handle, RouteDecision, RouteRequest } from "@switchyard/sdk-as";
export * from "@switchyard/sdk-as/exports";

// The tenant's setting: requests per user per UTC day.
const DAILY_QUOTA: i64 = 100;

// Keeps "quota:" + user within the host's 128-byte counter keys.
const MAX_USER_BYTES = 120;

const DAY = 86400;

function route(req: RouteRequest): RouteDecision | null {
  const user = req.header("x-sy-user");
  if (user.length == 0) return null;
  if (byteLength(user) > MAX_USER_BYTES) {
    return RouteDecision.reject(400, "x-sy-user is longer than 120 bytes");
  }
  const used = counterAdd("quota:" + user, 1, DAY);
  if (used > DAILY_QUOTA) {
    return RouteDecision.reject(429, "the daily request quota for this user is used up");
  }
  return RouteDecision.route().withHeader("x-sy-quota-remaining", (DAILY_QUOTA - used).toString());
}

handle(route);
