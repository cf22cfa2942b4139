import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { problem } from "../http/problem";
import { authenticate } from "./jwt";
import { hasAnyRole, type Role } from "./principal";

/** Authenticates the caller (401) and then checks the endpoint's roles (403), before any validation. */
export function requireRoles(...allowed: Role[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = await authenticate(c.env, c.req.header("Authorization"));
    if (!hasAnyRole(principal, allowed)) {
      throw problem.forbidden(`This operation needs one of the roles ${allowed.join(", ")}.`);
    }
    c.set("principal", principal);
    await next();
  });
}
