import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Role } from "../../worker/auth/principal";
import { outputKey } from "../../worker/media/keys";
import {
  agent,
  call,
  captureQueue,
  compositionRow,
  countCompositions,
  createComposition,
  fakeRenderer,
  ingest,
  ingestTracks,
  recordingBody,
  resetRenderer,
  service,
  setState,
  supervisor,
  uid,
  type Caller,
} from "./helpers";

const CONV = "conv-auth";
const REFERER = { Referer: "https://agent.example/app" };

beforeAll(async () => {
  captureQueue();
  fakeRenderer();
  await ingest(CONV, { agentId: "alice" });
});
afterAll(() => {
  vi.restoreAllMocks();
  resetRenderer();
});

async function newComposition(state?: "COMPLETED" | "QUEUED") {
  const res = await createComposition(CONV, supervisor());
  expect(res.status, res.text).toBe(200);
  const id = res.json.id as string;
  if (state === "COMPLETED") {
    const key = outputKey("acme", CONV, id, "run-1", "mp3");
    await env.MEDIA.put(key, new Uint8Array(32));
    await setState(id, "COMPLETED", { completedAt: Date.now(), durationMs: 62_500, outputKey: key });
  }
  return id;
}

interface Req {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  raw?: BodyInit;
}

interface Endpoint {
  name: string;
  allowed: Role[];
  ok: number;
  /** Builds a request that succeeds for an allowed caller; `untouched` proves a refusal changed nothing. */
  prepare: () => Promise<{ req: Req; untouched: () => Promise<void> }>;
}

const nothing = async () => {};

const ENDPOINTS: Endpoint[] = [
  {
    name: "POST /request",
    allowed: ["AGENT", "SUPERVISOR", "SERVICE"],
    ok: 200,
    prepare: async () => {
      const before = await countCompositions();
      return {
        req: {
          method: "POST",
          path: "/request",
          body: { conversationId: CONV, layout: "GRID", name: "n", resolution: "640x360", type: "AUDIO" },
        },
        untouched: async () => expect(await countCompositions()).toBe(before),
      };
    },
  },
  {
    name: "POST /reexecute",
    allowed: ["AGENT", "SUPERVISOR"],
    ok: 200,
    prepare: async () => {
      const id = await newComposition("COMPLETED");
      return {
        req: { method: "POST", path: "/reexecute", body: { conversationId: CONV, id } },
        untouched: async () => expect((await compositionRow(id))!.state).toBe("COMPLETED"),
      };
    },
  },
  {
    name: "POST /{conversationId}/{compositionId}/cancel",
    allowed: ["AGENT", "SUPERVISOR"],
    ok: 200,
    prepare: async () => {
      const id = await newComposition();
      return {
        req: { method: "POST", path: `/${CONV}/${id}/cancel` },
        untouched: async () => expect((await compositionRow(id))!.state).toBe("QUEUED"),
      };
    },
  },
  {
    name: "DELETE /{conversationId}/{compositionId}/delete",
    allowed: ["SUPERVISOR"],
    ok: 204,
    prepare: async () => {
      const id = await newComposition("COMPLETED");
      const key = (await compositionRow(id))!.output_key as string;
      return {
        req: { method: "DELETE", path: `/${CONV}/${id}/delete` },
        untouched: async () => {
          expect((await compositionRow(id))!.state).toBe("COMPLETED");
          expect(await env.MEDIA.head(key)).not.toBeNull();
        },
      };
    },
  },
  {
    name: "GET /query/composition",
    allowed: ["AGENT", "SUPERVISOR"],
    ok: 200,
    prepare: async () => ({ req: { method: "GET", path: "/query/composition" }, untouched: nothing }),
  },
  {
    name: "GET /query/conversation/{conversationId}",
    allowed: ["AGENT", "SUPERVISOR"],
    ok: 200,
    prepare: async () => ({ req: { method: "GET", path: `/query/conversation/${CONV}` }, untouched: nothing }),
  },
  ...(["inline", "attachment"] as const).map((d): Endpoint => ({
    name: `GET /player/{conversationId}/{compositionId}/url/${d}`,
    allowed: ["AGENT", "SUPERVISOR"],
    ok: 200,
    prepare: async () => {
      const id = await newComposition("COMPLETED");
      return {
        req: { method: "GET", path: `/player/${CONV}/${id}/url/${d}?conversationId=${CONV}&id=${id}`, headers: REFERER },
        untouched: nothing,
      };
    },
  })),
  {
    name: "PUT /recordings/{conversationId}",
    allowed: ["SERVICE", "SUPERVISOR"],
    ok: 200,
    prepare: async () => {
      const conv = uid("rec");
      return {
        req: { method: "PUT", path: `/recordings/${conv}`, body: recordingBody("alice") },
        untouched: async () => expect((await call("GET", `/recordings/${conv}`, { as: service() })).status).toBe(404),
      };
    },
  },
  {
    name: "GET /recordings/{conversationId}",
    allowed: ["SERVICE", "SUPERVISOR"],
    ok: 200,
    prepare: async () => ({ req: { method: "GET", path: `/recordings/${CONV}` }, untouched: nothing }),
  },
  {
    name: "PUT /recordings/{conversationId}/tracks/{trackId}",
    allowed: ["SERVICE", "SUPERVISOR"],
    ok: 200,
    prepare: async () => {
      const conv = uid("trk");
      await ingestTracks(conv, recordingBody("alice") as Parameters<typeof ingestTracks>[1], { upload: [] });
      return {
        req: {
          method: "PUT",
          path: `/recordings/${conv}/tracks/t-customer`,
          raw: new Uint8Array(4),
          headers: { "Content-Type": "audio/webm", "Content-Length": "4" },
        },
        untouched: async () => {
          const rec = await call("GET", `/recordings/${conv}`, { as: service() });
          expect(rec.json.canExportAudio).toBe(false);
          expect(await env.MEDIA.list({ prefix: `orgs/acme/conversations/${conv}/` })).toMatchObject({ objects: [] });
        },
      };
    },
  },
];

const CALLERS: Record<Role, Caller> = { AGENT: agent(), SUPERVISOR: supervisor(), SERVICE: service() };

describe("role matrix: every endpoint × AGENT, SUPERVISOR, SERVICE", () => {
  for (const ep of ENDPOINTS) {
    for (const role of ["AGENT", "SUPERVISOR", "SERVICE"] as const) {
      const allowed = ep.allowed.includes(role);
      it(`${ep.name} as ${role} → ${allowed ? ep.ok : 403}`, async () => {
        const { req, untouched } = await ep.prepare();
        const res = await call(req.method, req.path, { as: CALLERS[role], body: req.body, headers: req.headers, raw: req.raw });
        if (allowed) {
          expect(res.status, res.text).toBe(ep.ok);
        } else {
          expect(res.status, res.text).toBe(403);
          expect(res.headers.get("Content-Type")).toBe("application/problem+json");
          expect(res.json).toMatchObject({ status: 403, title: "Forbidden" });
          expect(res.json.detail).toContain(ep.allowed.join(", "));
          await untouched();
        }
      });
    }
  }

  it("a valid token with none of the known roles → 403 everywhere", async () => {
    const nobody: Caller = { sub: "x", org: "acme", roles: [] };
    for (const ep of ENDPOINTS) {
      const { req, untouched } = await ep.prepare();
      const res = await call(req.method, req.path, { as: nobody, body: req.body, headers: req.headers, raw: req.raw });
      expect(res.status, ep.name).toBe(403);
      await untouched();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const now = () => Math.floor(Date.now() / 1000);

async function sign(payload: Record<string, unknown>, opts: { secret?: string; alg?: string } = {}) {
  return new SignJWT(payload as never)
    .setProtectedHeader({ alg: opts.alg ?? "HS256" })
    .sign(new TextEncoder().encode(opts.secret ?? env.JWT_SECRET!));
}

const GOOD = () => ({ sub: "sue", org: "acme", roles: ["SUPERVISOR"], exp: now() + 600, iat: now() });

async function raw(authorization: string | undefined, path = "/query/composition", method = "GET", body?: unknown) {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  return call(method, path, { headers, body });
}

function expect401(res: { status: number; headers: Headers; json: any }, what: string) {
  expect(res.status, what).toBe(401);
  expect(res.headers.get("WWW-Authenticate"), what).toMatch(/^Bearer\b/);
  expect(res.headers.get("Content-Type"), what).toBe("application/problem+json");
  expect(res.json, what).toMatchObject({ status: 401, title: "Unauthorized" });
}

describe("authentication", () => {
  it("no Authorization header → 401 with WWW-Authenticate: Bearer on every endpoint, nothing written", async () => {
    for (const ep of ENDPOINTS) {
      const { req, untouched } = await ep.prepare();
      const res = await call(req.method, req.path, { body: req.body, headers: req.headers, raw: req.raw });
      expect401(res, ep.name);
      await untouched();
    }
  });

  it("garbage, expired, wrong-secret, alg none, unsigned, exp-less, org-less and non-Bearer credentials → 401", async () => {
    const good = GOOD();
    const header = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
    const body = b64url(JSON.stringify(good));
    const hs = await sign(good);
    const cases: Record<string, string> = {
      garbage: "Bearer not-a-jwt",
      "three garbage parts": "Bearer aaa.bbb.ccc",
      "empty bearer": "Bearer ",
      expired: `Bearer ${await sign({ ...good, exp: now() - 120 })}`,
      "wrong secret": `Bearer ${await sign(good, { secret: "another-secret-0123456789abcdef0123456789abcdef" })}`,
      "alg none": `Bearer ${header}.${body}.`,
      "alg none with a signature": `Bearer ${header}.${body}.${hs.split(".")[2]}`,
      "HS512 with the right secret": `Bearer ${await sign(good, { alg: "HS512" })}`,
      "tampered payload": `Bearer ${hs.split(".")[0]}.${b64url(JSON.stringify({ ...good, org: "globex" }))}.${hs.split(".")[2]}`,
      "no exp": `Bearer ${await sign({ sub: "sue", org: "acme", roles: ["SUPERVISOR"] })}`,
      "no sub": `Bearer ${await sign({ org: "acme", roles: ["SUPERVISOR"], exp: now() + 600 })}`,
      "no organization": `Bearer ${await sign({ sub: "sue", roles: ["SUPERVISOR"], exp: now() + 600 })}`,
      "Basic scheme": `Basic ${btoa("sue:password")}`,
    };
    for (const [what, authorization] of Object.entries(cases)) {
      expect401(await raw(authorization), what);
    }
    expect((await raw(`Bearer ${await sign({ ...good, exp: now() - 120 })}`)).json.detail).toMatch(/expired/i);
  });

  it("a valid token is accepted with Bearer, lower-case bearer, or bare (as the seed's samples send it)", async () => {
    const token = await sign(GOOD());
    for (const authorization of [`Bearer ${token}`, `bearer ${token}`, token, `  ${token}  `]) {
      const res = await raw(authorization);
      expect(res.status, authorization.slice(0, 10)).toBe(200);
      expect(res.json.pageable).toBeDefined();
    }
  });

  it("roles and organization come from the configured claims (Keycloak realm_access.roles, ROLE_ prefix, tenant)", async () => {
    const keycloak = await sign({
      sub: "sue",
      tenant: "acme",
      realm_access: { roles: ["ROLE_supervisor", "offline_access"] },
      exp: now() + 600,
    });
    const res = await raw(`Bearer ${keycloak}`, `/query/conversation/${CONV}`);
    expect(res.status, res.text).toBe(200);
    expect(res.json.recordingMetadata.organizationId).toBe("acme");
  });

  it("authentication and roles are checked before the body: no token + bad body → 401, SERVICE + bad body on reexecute → 403", async () => {
    const before = await countCompositions();
    expect401(await raw(undefined, "/request", "POST", { priority: 99 }), "bad body without token");
    const svc = await call("POST", "/reexecute", { as: service(), body: { nonsense: true } });
    expect(svc.status).toBe(403);
    expect(await countCompositions()).toBe(before);
  });

  it("signed media links need no Authorization (the signature is the credential), and a bad one is 403 not 401", async () => {
    const id = await newComposition("COMPLETED");
    const link = await call("GET", `/player/${CONV}/${id}/url/inline?conversationId=${CONV}&id=${id}`, {
      as: supervisor(),
      headers: REFERER,
    });
    expect(link.status, link.text).toBe(200);
    const media = await exports.default.fetch(new Request(link.json.url));
    expect(media.status).toBe(200);
    const forged = await exports.default.fetch(new Request(link.json.url.replace(/Signature=[^&]+/, "Signature=AAAA")));
    expect(forged.status).toBe(403);
    expect(forged.headers.get("WWW-Authenticate")).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------

describe("tenancy: another organization's conversation or composition does not exist", () => {
  const globex = supervisor("globex", "gus");

  it("reads → 404", async () => {
    const id = await newComposition("COMPLETED");
    const reads = [
      call("GET", `/query/conversation/${CONV}`, { as: globex }),
      call("GET", `/recordings/${CONV}`, { as: service("globex") }),
      call("GET", `/player/${CONV}/${id}/url/inline?conversationId=${CONV}&id=${id}`, { as: globex, headers: REFERER }),
      call("GET", `/player/${CONV}/${id}/url/attachment?conversationId=${CONV}&id=${id}`, { as: globex, headers: REFERER }),
    ];
    for (const res of await Promise.all(reads)) {
      expect(res.status, res.text).toBe(404);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    }
    const list = await call("GET", "/query/composition?scope=visible&size=2000", { as: globex });
    expect(list.json.totalElements).toBe(0);
  });

  it("writes → 404 and nothing is written", async () => {
    const queuedId = await newComposition();
    const doneId = await newComposition("COMPLETED");
    const key = (await compositionRow(doneId))!.output_key as string;
    const before = await countCompositions();

    const request = await createComposition(CONV, globex);
    expect(request.status).toBe(404);
    expect(await countCompositions()).toBe(before);
    expect(await countCompositions("organization_id = ?1", "globex")).toBe(0);

    expect((await call("POST", `/${CONV}/${queuedId}/cancel`, { as: globex })).status).toBe(404);
    expect((await compositionRow(queuedId))!.state).toBe("QUEUED");

    expect((await call("POST", "/reexecute", { as: globex, body: { conversationId: CONV, id: doneId } })).status).toBe(404);
    expect((await compositionRow(doneId))!.state).toBe("COMPLETED");

    expect((await call("DELETE", `/${CONV}/${doneId}/delete`, { as: globex })).status).toBe(404);
    expect(await compositionRow(doneId)).not.toBeNull();
    expect(await env.MEDIA.head(key)).not.toBeNull();

    const track = await call("PUT", `/recordings/${CONV}/tracks/t-agent`, {
      as: service("globex"),
      raw: new Uint8Array(3),
      headers: { "Content-Type": "video/webm", "Content-Length": "3" },
    });
    expect(track.status).toBe(404);
    const acmeTrack = await env.MEDIA.head(`orgs/acme/conversations/${CONV}/tracks/t-agent`);
    expect(acmeTrack!.size).toBe(1024);
  });

  it("the same conversation id in another organization is a separate recording", async () => {
    const put = await call("PUT", `/recordings/${CONV}`, { as: service("globex"), body: recordingBody("gina") });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ organizationId: "globex", agentId: "gina", canExportAudio: false });
    const acme = await call("GET", `/recordings/${CONV}`, { as: service() });
    expect(acme.json).toMatchObject({ organizationId: "acme", agentId: "alice", canExportAudio: true });
    // globex's conversation has no compositions of acme.
    const view = await call("GET", `/query/conversation/${CONV}`, { as: globex });
    expect(view.status).toBe(200);
    expect(view.json.compositions).toEqual([]);
  });
});

describe("AGENT visibility: its own compositions and those of calls it took, not a colleague's", () => {
  const bobsConv = "conv-bob";
  let bobsId: string;

  beforeAll(async () => {
    await ingest(bobsConv, { agentId: "bob" });
    const res = await createComposition(bobsConv, agent("acme", "bob"));
    expect(res.status, res.text).toBe(200);
    bobsId = res.json.id;
    await setState(bobsId, "COMPLETED", { completedAt: Date.now(), outputKey: outputKey("acme", bobsConv, bobsId, "run-1", "mp3") });
  });

  it("alice sees and acts on a supervisor's composition of her own call", async () => {
    const id = await newComposition();
    const view = await call("GET", `/query/conversation/${CONV}`, { as: agent() });
    expect(view.json.compositions.map((c: { id: string }) => c.id)).toContain(id);
    const visible = await call("GET", "/query/composition?scope=visible&size=2000", { as: agent() });
    expect(visible.json.content.map((c: { id: string }) => c.id)).toContain(id);
    expect(visible.json.content.map((c: { id: string }) => c.id)).not.toContain(bobsId);
    expect((await call("POST", `/${CONV}/${id}/cancel`, { as: agent() })).status).toBe(200);
  });

  it("bob's composition of bob's call is a 404 for alice, for reads and writes, and stays as it was", async () => {
    const asAlice = agent();
    const results = {
      conversation: await call("GET", `/query/conversation/${bobsConv}`, { as: asAlice }),
      reexecute: await call("POST", "/reexecute", { as: asAlice, body: { conversationId: bobsConv, id: bobsId } }),
      cancel: await call("POST", `/${bobsConv}/${bobsId}/cancel`, { as: asAlice }),
      link: await call("GET", `/player/${bobsConv}/${bobsId}/url/inline?conversationId=${bobsConv}&id=${bobsId}`, {
        as: asAlice,
        headers: REFERER,
      }),
      request: await createComposition(bobsConv, asAlice),
    };
    for (const [what, res] of Object.entries(results)) expect(res.status, what).toBe(404);
    expect((await compositionRow(bobsId))!.state).toBe("COMPLETED");
    expect(await countCompositions("conversation_id = ?1", bobsConv)).toBe(1);
    // bob himself and a supervisor do see it.
    expect((await call("GET", `/query/conversation/${bobsConv}`, { as: agent("acme", "bob") })).status).toBe(200);
    expect((await call("GET", `/query/conversation/${bobsConv}`, { as: supervisor() })).json.compositions).toHaveLength(1);
  });

  it("alice's own composition is invisible to bob", async () => {
    const res = await createComposition(CONV, agent());
    expect(res.status).toBe(200);
    const bob = agent("acme", "bob");
    expect((await call("POST", `/${CONV}/${res.json.id}/cancel`, { as: bob })).status).toBe(404);
    expect((await call("GET", `/query/conversation/${CONV}`, { as: bob })).status).toBe(404);
    expect((await compositionRow(res.json.id))!.state).toBe("QUEUED");
  });
});
