import { env } from "cloudflare:workers";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { call, ingest, supervisor } from "./helpers";

const secret = () => new TextEncoder().encode(env.JWT_SECRET!);
const now = () => Math.floor(Date.now() / 1000);

async function hs256(claims: Record<string, unknown>, opts: { sub?: string; exp?: number; nbf?: number; iss?: string; aud?: string } = {}) {
  let jwt = new SignJWT({ roles: ["SUPERVISOR"], org: "acme", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(opts.sub ?? "sue");
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  if (opts.aud) jwt = jwt.setAudience(opts.aud);
  return jwt.sign(secret());
}

async function status(token: string, path = "/query/composition") {
  const res = await call("GET", path, { headers: { Authorization: `Bearer ${token}` } });
  return res;
}

function b64url(s: string) {
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

describe("hostile tokens (HS256 key source)", () => {
  beforeAll(async () => {
    await ingest("conv-tok", { agentId: "alice" });
  });
  afterEach(() => {
    env.JWT_ISSUER = "";
    env.JWT_AUDIENCE = "";
  });

  it("accepts a valid token and refuses expired, not-yet-valid and exp-less ones with 401", async () => {
    expect((await status(await hs256({}, { exp: now() + 60 }))).status).toBe(200);
    const expired = await status(await hs256({}, { exp: now() - 120 }));
    expect(expired.status).toBe(401);
    expect(expired.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    expect(expired.json.detail).toMatch(/expired/);
    expect((await status(await hs256({}, { exp: now() + 600, nbf: now() + 300 }))).status).toBe(401);
    expect((await status(await hs256({}))).status).toBe(401);
  });

  it("checks issuer and audience when configured", async () => {
    env.JWT_ISSUER = "https://idp.example";
    env.JWT_AUDIENCE = "composition";
    const good = await hs256({}, { exp: now() + 60, iss: "https://idp.example", aud: "composition" });
    expect((await status(good)).status).toBe(200);
    expect((await status(await hs256({}, { exp: now() + 60, iss: "https://evil.example", aud: "composition" }))).status).toBe(401);
    expect((await status(await hs256({}, { exp: now() + 60, iss: "https://idp.example", aud: "other" }))).status).toBe(401);
  });

  it("refuses alg:none and claims forged in an unsigned part", async () => {
    const none = new UnsecuredJWT({ roles: ["SUPERVISOR"], org: "acme" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .encode();
    expect((await status(none)).status).toBe(401);

    // An AGENT's valid token with its payload swapped for SUPERVISOR claims keeps the old signature.
    const agentToken = await new SignJWT({ roles: ["AGENT"], org: "acme" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime(now() + 60)
      .sign(secret());
    const [h, , s] = agentToken.split(".");
    const forgedPayload = b64url(JSON.stringify({ roles: ["SUPERVISOR"], org: "globex", sub: "alice", exp: now() + 60 }));
    expect((await status(`${h}.${forgedPayload}.${s}`)).status).toBe(401);
    const forgedHeader = b64url(JSON.stringify({ alg: "none" }));
    expect((await status(`${forgedHeader}.${agentToken.split(".")[1]}.`)).status).toBe(401);
  });

  it("a token without an organization or signed with another secret is refused", async () => {
    const noOrg = await new SignJWT({ roles: ["SUPERVISOR"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .sign(secret());
    expect((await status(noOrg)).status).toBe(401);
    const other = await new SignJWT({ roles: ["SUPERVISOR"], org: "acme" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode("another-secret-entirely-0123456789"));
    expect((await status(other)).status).toBe(401);
  });

  it("a valid token of another organization sees nothing of this one (404)", async () => {
    const globex = await hs256({ org: "globex" }, { exp: now() + 60 });
    expect((await status(globex, "/query/conversation/conv-tok")).status).toBe(404);
    expect((await call("GET", "/query/conversation/conv-tok", { as: supervisor() })).status).toBe(200);
  });

  it("roles come from realm_access.roles too, and unknown roles give 403", async () => {
    const keycloak = await new SignJWT({ realm_access: { roles: ["supervisor", "offline_access"] }, org: "acme" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .sign(secret());
    expect((await status(keycloak)).status).toBe(200);
    const nobody = await hs256({ roles: ["ADMIN"] }, { exp: now() + 60 });
    expect((await status(nobody)).status).toBe(403);
  });
});

describe("hostile tokens (JWKS key source)", () => {
  afterEach(() => {
    env.JWKS_URL = "";
    vi.restoreAllMocks();
  });

  it("verifies RS256 from the JWKS and refuses HS256 signed with the public key (algorithm confusion)", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.toString() : input.url;
      if (url === "https://idp.test/jwks.json") return Response.json({ keys: [jwk] });
      return realFetch(input as RequestInfo, init);
    });
    env.JWKS_URL = "https://idp.test/jwks.json";

    const rs = await new SignJWT({ roles: ["SUPERVISOR"], org: "acme" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .sign(privateKey);
    expect((await status(rs)).status).toBe(200);

    const pem = await exportSPKI(publicKey);
    const confused = await new SignJWT({ roles: ["SUPERVISOR"], org: "acme" })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setSubject("sue")
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(pem));
    expect((await status(confused)).status).toBe(401);
    // With a JWKS configured, the dev HS256 secret no longer opens anything either.
    expect((await status(await hs256({}, { exp: now() + 60 }))).status).toBe(401);
  });
});
