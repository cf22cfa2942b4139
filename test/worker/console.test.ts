import { describe, expect, it } from "vitest";
import { call, insertRaw, supervisor, uid } from "./helpers";

const FILES = ["app.js", "api.js", "format.js", "player.js", "sidecars.js", "console.css", "icon.svg"];
const TYPES: Record<string, RegExp> = { js: /^(text|application)\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/ };

describe("GET /console", () => {
  it("serves the page with a strict CSP: scripts and styles only from this Worker", async () => {
    const res = await call("GET", "/console");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<main[ >]/);
    const csp = res.headers.get("Content-Security-Policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("Referrer-Policy")).toBe("same-origin");
    expect(res.headers.get("Cache-Control")).toBe("no-cache");
    // Everything it loads is one of the console's own files.
    const refs = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(["app.js", "console.css", "icon.svg"].map((f) => `/auvious.video/composition/api/console/${f}`));
  });

  it("serves every module the page imports, with its type, and no CDN anywhere", async () => {
    for (const file of FILES) {
      const res = await call("GET", `/console/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get("Content-Type"), file).toMatch(TYPES[file.split(".").pop()!]!);
      expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(res.text, file).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
      for (const m of res.text.matchAll(/from "\.\/([^"]+)"/g)) expect(FILES, `${file} imports ${m[1]}`).toContain(m[1]);
    }
    const head = await call("HEAD", "/console/app.js");
    expect(head.status).toBe(200);
    expect(head.text).toBe("");
  });

  it("revalidates by ETag: an unchanged file is a 304", async () => {
    const first = await call("GET", "/console/player.js");
    const etag = first.headers.get("ETag")!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await call("GET", "/console/player.js", { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    expect((await call("GET", "/console/app.js", { headers: { "If-None-Match": etag } })).status).toBe(200);
  });

  it("answers 404 problem+json for anything else under /console", async () => {
    for (const path of [
      "/console/nope.js",
      "/console/index.html",
      "/console/..%2Fwrangler.toml",
      "/console/a/b.js",
      "/console/app.js.map",
    ]) {
      const res = await call("GET", path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("Content-Type"), path).toBe("application/problem+json");
    }
  });
});

describe("GET /query/composition filters (the console's)", () => {
  async function seed() {
    const org = uid("org");
    const conv = uid("conv");
    const other = uid("conv");
    const base = Date.now();
    const rows = [
      { conversationId: conv, state: "COMPLETED" as const },
      { conversationId: conv, state: "QUEUED" as const },
      { conversationId: conv, state: "FAILED" as const },
      { conversationId: other, state: "COMPLETED" as const },
      { conversationId: other, state: "PROCESSING" as const },
    ].map((r, i) => ({ ...r, organizationId: org, userId: "sue", name: `c${i}`, createdAt: base + i }));
    await insertRaw(rows);
    return { org, conv, other };
  }
  const names = (res: { json: any }) => res.json.content.map((c: { name: string }) => c.name);

  it("state (repeatable) and conversationId narrow the listing and its totals", async () => {
    const { org, conv } = await seed();
    const as = supervisor(org);
    const completed = await call("GET", "/query/composition?scope=visible&state=COMPLETED&sort=name,asc", { as });
    expect(completed.status, completed.text).toBe(200);
    expect(names(completed)).toEqual(["c0", "c3"]);
    const two = await call("GET", "/query/composition?scope=visible&state=QUEUED&state=PROCESSING&sort=name,asc", { as });
    expect(names(two)).toEqual(["c1", "c4"]);
    const inConv = await call("GET", `/query/composition?scope=visible&conversationId=${conv}&size=2&sort=name,asc`, { as });
    expect(names(inConv)).toEqual(["c0", "c1"]);
    expect(inConv.json).toMatchObject({ totalElements: 3, totalPages: 2 });
    const both = await call("GET", `/query/composition?scope=visible&conversationId=${conv}&state=COMPLETED`, { as });
    expect(names(both)).toEqual(["c0"]);
    const none = await call("GET", "/query/composition?scope=visible&state=CANCELLED", { as });
    expect(none.json).toMatchObject({ totalElements: 0, empty: true });
  });

  it("an unknown state or an unsafe conversationId is a 400 naming the field", async () => {
    const as = supervisor();
    const bad = await call("GET", "/query/composition?state=DONE", { as });
    expect(bad.status).toBe(400);
    expect(bad.json.errors.map((e: { field: string }) => e.field)).toContain("query.state");
    const unsafe = await call("GET", "/query/composition?conversationId=a%2Fb", { as });
    expect(unsafe.status).toBe(400);
    expect(unsafe.json.errors.map((e: { field: string }) => e.field)).toContain("query.conversationId");
  });
});
