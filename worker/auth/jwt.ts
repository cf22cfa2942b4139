import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { workerConfig } from "../config";
import type { Env } from "../env";
import { problem } from "../http/problem";
import { isSafeId } from "../media/keys";
import { ROLES, type Principal, type Role } from "./principal";

const remoteKeySets = new Map<string, JWTVerifyGetKey>();
const encoder = new TextEncoder();

/** Accepts `Bearer <jwt>` and, as the seed's samples send it, a bare token. */
export function extractToken(header: string | undefined | null): string | null {
  if (!header) return null;
  const trimmed = header.trim();
  const match = /^Bearer\s+(.+)$/i.exec(trimmed);
  const token = (match ? match[1]! : trimmed).trim();
  return token.length > 0 ? token : null;
}

/**
 * Verifies a token and maps its claims to a Principal. Production uses asymmetric keys from
 * JWKS_URL; JWT_SECRET (HS256) is for dev and tests. The algorithm list is fixed per key source,
 * so `alg: none` and HS256-signed-with-a-public-key tokens never verify.
 */
export async function authenticate(env: Env, header: string | undefined | null): Promise<Principal> {
  const token = extractToken(header);
  if (!token) throw problem.unauthorized();
  const config = workerConfig(env).auth;
  let payload: JWTPayload;
  try {
    const options = {
      requiredClaims: ["exp", "sub"],
      ...(config.issuer ? { issuer: config.issuer } : {}),
      ...(config.audience ? { audience: config.audience } : {}),
      clockTolerance: 30,
    };
    if (config.jwksUrl) {
      const keys = remoteKeySet(config.jwksUrl);
      ({ payload } = await jwtVerify(token, keys, { ...options, algorithms: ["RS256", "ES256", "PS256", "EdDSA"] }));
    } else if (config.jwtSecret) {
      ({ payload } = await jwtVerify(token, encoder.encode(config.jwtSecret), { ...options, algorithms: ["HS256"] }));
    } else {
      throw new Error("no JWT key source configured (JWKS_URL or JWT_SECRET)");
    }
  } catch (err) {
    if (err instanceof errors.JOSEError) throw problem.unauthorized(describe(err));
    throw err;
  }
  const organizationId = firstString(payload, config.orgClaim);
  if (!organizationId) throw problem.unauthorized("The token names no organization.");
  // Organization ids become part of storage keys: refuse odd ones here rather than fail later.
  if (!isSafeId(organizationId)) throw problem.unauthorized("The token's organization claim is not an acceptable id.");
  return {
    userId: payload.sub!,
    organizationId,
    roles: collectRoles(payload, config.rolesClaim),
  };
}

function remoteKeySet(url: string): JWTVerifyGetKey {
  let set = remoteKeySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: 10 * 60_000 });
    remoteKeySets.set(url, set);
  }
  return set;
}

function describe(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return "The token has expired.";
  if (err instanceof errors.JWTClaimValidationFailed) return `The token's "${err.claim}" claim is not acceptable.`;
  return "The token could not be verified.";
}

/** Claim paths are comma-separated alternatives with dots for nesting: `roles,realm_access.roles`. */
function claimValues(payload: JWTPayload, paths: string): unknown[] {
  return paths
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((path) =>
      path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), payload),
    );
}

function firstString(payload: JWTPayload, paths: string): string | null {
  for (const v of claimValues(payload, paths)) if (typeof v === "string" && v.length > 0) return v;
  return null;
}

function collectRoles(payload: JWTPayload, paths: string): Role[] {
  const found = new Set<Role>();
  for (const v of claimValues(payload, paths)) {
    const list = Array.isArray(v) ? v : typeof v === "string" ? v.split(/[\s,]+/) : [];
    for (const r of list) {
      const name = String(r)
        .toUpperCase()
        .replace(/^ROLE_/, "");
      if ((ROLES as readonly string[]).includes(name)) found.add(name as Role);
    }
  }
  return [...found];
}
