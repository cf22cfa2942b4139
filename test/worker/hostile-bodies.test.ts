import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { API, ingest, service, supervisor, tokenFor } from "./helpers";

const VALID = { conversationId: "conv-h", layout: "GRID", name: "n", resolution: "640x360", type: "AUDIO" };

async function rowCount(): Promise<number> {
  return (await env.DB.prepare("SELECT count(*) AS n FROM compositions").first<{ n: number }>())!.n;
}

async function post(path: string, body: BodyInit, token: string, contentType = "application/json") {
  const res = await exports.default.fetch(
    new Request(API + path, { method: "POST", body, headers: { Authorization: `Bearer ${token}`, "Content-Type": contentType } }),
  );
  return { status: res.status, type: res.headers.get("Content-Type"), json: (await res.json().catch(() => null)) as any };
}

/** Values that are wrong for each field of CreateCompositionWebCommand. */
const wrongValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.string({ maxLength: 20 }).filter((s) => !["AUDIO", "VIDEO", "GRID", "MP3", "MP4", "640x360", "320x240"].includes(s)),
  fc.string({ minLength: 5000, maxLength: 6000 }),
);

describe("hostile command bodies", () => {
  let token: string;
  beforeAll(async () => {
    await ingest("conv-h", { agentId: "alice" });
    token = await tokenFor(supervisor());
  });

  it("the valid body is accepted (so refusals below are about the mutation)", async () => {
    const before = await rowCount();
    expect((await post("/request", JSON.stringify(VALID), token)).status).toBe(200);
    expect(await rowCount()).toBe(before + 1);
  });

  it("a wrong value in any field → 400 problem+json naming that field, nothing written", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("conversationId", "layout", "name", "resolution", "type", "priority", "audioFormat", "videoFormat"),
        wrongValue,
        async (field, value) => {
          if (field === "name" && typeof value === "string" && value.trim().length > 0 && value.length <= 200) return;
          if (field === "conversationId" && typeof value === "string" && /^[A-Za-z0-9._:@-]{1,128}$/.test(value)) return;
          // A whole number 0–10 is a valid priority, not a wrong value.
          if (field === "priority" && Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 10) return;
          const before = await rowCount();
          const res = await post("/request", JSON.stringify({ ...VALID, [field]: value }), token);
          expect(res.status).toBe(400);
          expect(res.type).toBe("application/problem+json");
          expect(res.json.errors.map((e: { field: string }) => e.field)).toContain(`body.${field}`);
          expect(await rowCount()).toBe(before);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("unknown fields, deep JSON, huge numbers, non-objects and invalid UTF-8 → 4xx, nothing written", async () => {
    const before = await rowCount();
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const cases: BodyInit[] = [
      JSON.stringify({ ...VALID, foo: 1 }),
      JSON.stringify({ ...VALID, priority: 1e308 }),
      JSON.stringify({ ...VALID, priority: 2 ** 53 + 1 }),
      deep,
      "[]",
      "null",
      '"AUDIO"',
      "{",
      new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      JSON.stringify({ ...VALID, name: "x".repeat(1_000_000) }),
    ];
    for (const body of cases) {
      const res = await post("/request", body, token);
      expect(res.status, String(body).slice(0, 40)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.type).toBe("application/problem+json");
    }
    expect((await post("/request", JSON.stringify(VALID), token, "text/plain")).status).toBe(415);
    expect(await rowCount()).toBe(before);
  });

  it("arbitrary JSON never gives a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const res = await post("/reexecute", JSON.stringify(value), token);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 50 },
    );
  });
});

describe("hostile path ids", () => {
  it("traversal, encoded slashes, NUL and over-long ids are refused and never reach an R2 key", async () => {
    const token = await tokenFor(service());
    const bad = ["..", ".", "a%2Fb", "%2E%2E", "a%00b", "x".repeat(129), "a%20b", "%2E%2E%2F%2E%2E%2Fetc"];
    for (const id of bad) {
      const meta = await exports.default.fetch(
        new Request(`${API}/recordings/${id}`, {
          method: "PUT",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({
            started: "2026-01-01T00:00:00Z",
            stopped: "2026-01-01T00:00:10Z",
            tracks: [{ id: "t", participantId: "p", started: "2026-01-01T00:00:00Z", audio: true, video: false }],
          }),
        }),
      );
      expect([400, 404], id).toContain(meta.status);
      const media = await exports.default.fetch(
        new Request(`${API}/recordings/conv-ok/tracks/${id}`, {
          method: "PUT",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "audio/webm", "Content-Length": "3" },
          body: new Uint8Array([1, 2, 3]),
        }),
      );
      expect([400, 404], id).toContain(media.status);
    }
    const listed = await env.MEDIA.list();
    for (const o of listed.objects) expect(o.key).not.toMatch(/\.\.|\/\/|\0/);
  });
});
