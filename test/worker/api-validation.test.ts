import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { call, captureQueue, countCompositions, createComposition, fields, ingest, service, setState, supervisor } from "./helpers";

const CONV = "conv-valid";
const VALID = { conversationId: CONV, layout: "GRID", name: "Review", resolution: "640x360", type: "AUDIO" };
let sent: unknown[];

beforeAll(async () => {
  sent = captureQueue();
  await ingest(CONV, { agentId: "alice" });
});
afterAll(() => {
  vi.restoreAllMocks();
});

type Res = Awaited<ReturnType<typeof call>>;

function expect400(res: Res, field: string, what = field) {
  expect(res.status, `${what}: ${res.text}`).toBe(400);
  expect(res.headers.get("Content-Type"), what).toBe("application/problem+json");
  expect(res.json, what).toMatchObject({ type: "about:blank", title: "Bad Request", status: 400 });
  expect(res.json.errors, what).toEqual(expect.arrayContaining([expect.objectContaining({ field, message: expect.any(String) })]));
  expect(res.json.detail, what).toContain(field);
}

async function refusedWithoutWrites(body: unknown, field: string, what: string) {
  const before = await countCompositions();
  const queued = sent.length;
  const res = await call("POST", "/request", { as: supervisor(), body });
  expect400(res, field, what);
  expect(await countCompositions(), what).toBe(before);
  expect(sent.length, what).toBe(queued);
  return res;
}

describe("POST /request: each bad field → 400 problem+json naming it, nothing written", () => {
  it("the valid body is accepted (so each refusal below is about the one change)", async () => {
    expect((await call("POST", "/request", { as: supervisor(), body: VALID })).status).toBe(200);
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ["type with an unknown enum value", { type: "SCREEN" }, "body.type"],
    ["type in lower case", { type: "audio" }, "body.type"],
    ["resolution 999x1", { resolution: "999x1" }, "body.resolution"],
    ["resolution 1280X720", { resolution: "1280X720" }, "body.resolution"],
    ["layout not GRID", { layout: "SPEAKER" }, "body.layout"],
    ["audioFormat WAV", { audioFormat: "WAV" }, "body.audioFormat"],
    ["videoFormat WEBM", { videoFormat: "WEBM" }, "body.videoFormat"],
    ["priority 11", { priority: 11 }, "body.priority"],
    ["priority -1", { priority: -1 }, "body.priority"],
    ["priority 1.5", { priority: 1.5 }, "body.priority"],
    ['priority "high"', { priority: "high" }, "body.priority"],
    ['priority "5" (a string)', { priority: "5" }, "body.priority"],
    ["priority null", { priority: null }, "body.priority"],
    ["missing name", { name: undefined }, "body.name"],
    ["empty name", { name: "" }, "body.name"],
    ["blank name", { name: "   " }, "body.name"],
    ["name too long", { name: "n".repeat(201) }, "body.name"],
    ["name a number", { name: 42 }, "body.name"],
    ["missing conversationId", { conversationId: undefined }, "body.conversationId"],
    ["conversationId a number", { conversationId: 123 }, "body.conversationId"],
    ["conversationId with a slash", { conversationId: "a/b" }, "body.conversationId"],
    ["conversationId over 128 characters", { conversationId: "c".repeat(129) }, "body.conversationId"],
    ["missing type", { type: undefined }, "body.type"],
    ["missing resolution", { resolution: undefined }, "body.resolution"],
    ["missing layout", { layout: undefined }, "body.layout"],
    ["type an array", { type: ["AUDIO"] }, "body.type"],
    ["unknown field foo", { foo: 1 }, "body.foo"],
  ];
  for (const [what, change, field] of cases) {
    it(what, async () => {
      await refusedWithoutWrites({ ...VALID, ...change }, field, what);
    });
  }

  it("several bad fields are all named at once", async () => {
    const res = await refusedWithoutWrites({ ...VALID, type: "X", priority: 99, name: undefined, extra: true }, "body.type", "many");
    expect(fields(res).sort()).toEqual(["body.extra", "body.name", "body.priority", "body.type"]);
  });

  it("a body that is not an object (array, null, string, number) → 400 naming body", async () => {
    for (const body of [[], null, "AUDIO", 7]) {
      await refusedWithoutWrites(body, "body", JSON.stringify(body));
    }
  });

  it("malformed JSON → 400 naming body", async () => {
    const before = await countCompositions();
    for (const raw of ["{", '{"conversationId": "conv-valid",}', "not json at all", "{'single': 'quotes'}"]) {
      const res = await call("POST", "/request", { as: supervisor(), raw, headers: { "Content-Type": "application/json" } });
      expect400(res, "body", raw);
      expect(res.json.detail).toMatch(/malformed json/i);
    }
    expect(await countCompositions()).toBe(before);
  });

  it("no body at all → 400 naming the required fields", async () => {
    const res = await call("POST", "/request", { as: supervisor() });
    expect400(res, "body.conversationId");
    expect(fields(res)).toEqual(
      expect.arrayContaining(["body.conversationId", "body.layout", "body.name", "body.resolution", "body.type"]),
    );
  });

  it("a JSON body sent with a non-JSON content type → 415 problem+json naming the content type, nothing written", async () => {
    const before = await countCompositions();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      const res = await call("POST", "/request", {
        as: supervisor(),
        raw: JSON.stringify(VALID),
        headers: { "Content-Type": contentType },
      });
      expect(res.status, contentType).toBe(415);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(res.json).toMatchObject({ status: 415, title: "Unsupported Media Type" });
      expect(fields(res)).toEqual(["header.content-type"]);
    }
    // JSON with parameters or a +json suffix is JSON.
    const withCharset = await call("POST", "/request", {
      as: supervisor(),
      raw: JSON.stringify(VALID),
      headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    expect(withCharset.status).toBe(200);
    expect(await countCompositions()).toBe(before + 1);
  });
});

describe("POST /reexecute: bad bodies", () => {
  let id: string;
  beforeAll(async () => {
    const res = await createComposition(CONV, supervisor());
    id = res.json.id;
    await setState(id, "COMPLETED");
  });

  const cases: [string, (id: string) => unknown, string][] = [
    ["missing id", () => ({ conversationId: CONV }), "body.id"],
    ["missing conversationId", (id) => ({ id }), "body.conversationId"],
    ["priority 11", (id) => ({ conversationId: CONV, id, priority: 11 }), "body.priority"],
    ["priority -1", (id) => ({ conversationId: CONV, id, priority: -1 }), "body.priority"],
    ["priority 2.5", (id) => ({ conversationId: CONV, id, priority: 2.5 }), "body.priority"],
    ['priority "high"', (id) => ({ conversationId: CONV, id, priority: "high" }), "body.priority"],
    ["id a number", () => ({ conversationId: CONV, id: 5 }), "body.id"],
    ["id with a slash", () => ({ conversationId: CONV, id: "../x" }), "body.id"],
    ["unknown field state", (id) => ({ conversationId: CONV, id, state: "QUEUED" }), "body.state"],
  ];
  for (const [what, body, field] of cases) {
    it(`${what} → 400 naming ${field}; the composition stays COMPLETED`, async () => {
      const res = await call("POST", "/reexecute", { as: supervisor(), body: body(id) });
      expect400(res, field, what);
      const view = await call("GET", `/query/conversation/${CONV}`, { as: supervisor() });
      expect(view.json.compositions.find((c: { id: string }) => c.id === id).state).toBe("COMPLETED");
    });
  }
});

describe("path ids", () => {
  const long = "x".repeat(129);
  const cases: [string, string, string, string][] = [
    ["POST", "/a%2Fb/some-id/cancel", "path.conversationId", "encoded slash in conversationId"],
    ["POST", `/${CONV}/a%2Fb/cancel`, "path.compositionId", "encoded slash in compositionId"],
    ["POST", `/${long}/some-id/cancel`, "path.conversationId", "over-long conversationId"],
    ["POST", `/${CONV}/${long}/cancel`, "path.compositionId", "over-long compositionId"],
    ["DELETE", `/${CONV}/a%20b/delete`, "path.compositionId", "space in compositionId"],
    ["GET", "/query/conversation/a%2Fb", "path.conversationId", "encoded slash in query/conversation"],
    ["GET", `/query/conversation/${long}`, "path.conversationId", "over-long id in query/conversation"],
    ["GET", "/recordings/a%00b", "path.conversationId", "NUL in recordings"],
    ["GET", `/player/${CONV}/a%2Fb/url/inline?conversationId=${CONV}&id=ab`, "path.compositionId", "encoded slash in player link"],
    ["GET", `/player/${CONV}/ab/url/inline?conversationId=${CONV}&id=a%2Fb`, "query.id", "encoded slash in the player link query id"],
  ];
  for (const [method, path, field, what] of cases) {
    it(`${what} → 400 naming ${field}`, async () => {
      const as = path.startsWith("/recordings") ? service() : supervisor();
      const res = await call(method, path, { as, headers: { Referer: "https://agent.example/" } });
      expect400(res, field, what);
    });
  }

  it("the id `..` never reaches a handler as a path segment", async () => {
    const res = await call("POST", `/${CONV}/%2E%2E/cancel`, { as: supervisor() });
    expect([400, 404]).toContain(res.status);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

describe("unknown routes and methods", () => {
  it("an unknown route → 404 problem+json naming the route", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/query"],
      ["POST", "/query/composition"],
      ["GET", "/request"],
      ["PUT", `/${CONV}/x/cancel`],
    ] as const) {
      const res = await call(method, path, { as: supervisor() });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(res.json).toMatchObject({ status: 404, title: "Not Found" });
      expect(res.json.detail).toContain(`${method} /auvious.video/composition/api${path}`);
    }
    const outside = await call("GET", "http://example.com/elsewhere");
    expect(outside.status).toBe(404);
    expect(outside.headers.get("Content-Type")).toBe("application/problem+json");
  });
});
