// Status callbacks and composition hooks end to end: the real Worker (wrangler dev, local Queues)
// delivers Standard Webhooks to a Node receiver on loopback that refuses the first two deliveries.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTrack, tempDir } from "../fixtures/media.ts";
import { ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack, type TrackFile } from "./harness.ts";

interface Delivery {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: any;
  status: number;
}

let stack: TestStack;
let server: Server;
let base: string;
let tracks: TrackFile[];
const received: Delivery[] = [];
let refuse = 2;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const status = refuse-- > 0 ? 500 : 204;
      received.push({
        path: req.url ?? "",
        id: String(req.headers["webhook-id"]),
        timestamp: String(req.headers["webhook-timestamp"]),
        signature: String(req.headers["webhook-signature"]),
        body,
        json: JSON.parse(body),
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const dir = await tempDir("e2e-webhooks-");
  const [agent, customer] = await Promise.all([
    makeTrack({ dir, name: "agent", format: "webm", durationSec: 6, audio: { frequency: 440 } }),
    makeTrack({ dir, name: "customer", format: "wav", durationSec: 4, audio: { frequency: 660 } }),
  ]);
  tracks = [
    { id: "t-agent", participantId: "agent", start: 0, audio: true, video: false, file: agent, contentType: "audio/webm" },
    { id: "t-customer", participantId: "customer", start: 1, audio: true, video: false, file: customer, contentType: "audio/wav" },
  ];
  stack = await startTestStack();
}, 240_000);

afterAll(async () => {
  await stack?.dispose();
  await new Promise((r) => server?.close(r));
});

function verify(secret: string, d: Delivery): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key).update(`${d.id}.${d.timestamp}.${d.body}`).digest();
  return d.signature.split(" ").some((s) => {
    const [v, sig] = s.split(",");
    const given = Buffer.from(sig ?? "", "base64");
    return v === "v1" && given.length === mac.length && timingSafeEqual(given, mac);
  });
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out waiting for ${what}; received ${JSON.stringify(received.map((r) => [r.path, r.json.type, r.status]))}\n${stack.logs().slice(-3000)}`,
  );
}

/** Each event once (receivers dedupe by webhook-id), in first-seen order, for one path. */
const uniqueEvents = (path: string) => [...new Map(received.filter((r) => r.path === path).map((r) => [r.id, r])).values()];

describe("status callbacks end to end", () => {
  it("a real AUDIO composition reports queued → started → completed in order, signed, retried after refusals", async () => {
    await ingestRecording(stack, "conv-wh", 6, tracks);
    const secret = (await stack.api("GET", "/webhooks/callback-secret", { as: SUPERVISOR })).json.secret as string;
    const created = await stack.api("POST", "/request", {
      as: SUPERVISOR,
      body: { conversationId: "conv-wh", layout: "GRID", name: "Review", resolution: "640x360", type: "AUDIO", callbackUrl: `${base}/cb` },
    });
    expect(created.status, created.text).toBe(200);
    const id = created.json.id as string;
    const view = await waitForState(stack, "conv-wh", id, ["COMPLETED", "FAILED"]);
    expect(view.state, view.error).toBe("COMPLETED");

    await until("composition.completed", () =>
      uniqueEvents("/cb").some((r) => r.json.type === "composition.completed" && r.status === 204) ? true : undefined,
    );
    const events = uniqueEvents("/cb");
    const types = events.map((r) => r.json.type).filter((t) => t !== "composition.progress");
    expect(types).toEqual(["composition.queued", "composition.started", "composition.completed"]);
    // The two refusals hit the first event: same id three times, later events only after it.
    const first = received.filter((r) => r.id === events[0]!.id);
    expect(first.map((r) => r.status)).toEqual([500, 500, 204]);
    expect(new Set(first.map((r) => r.body)).size).toBe(1);
    expect(received.indexOf(first[2]!)).toBeLessThan(received.findIndex((r) => r.json.type === "composition.started"));
    for (const r of received) expect(verify(secret, r), r.json.type).toBe(true);

    const done = events.at(-1)!.json;
    expect(done.data).toMatchObject({ id, conversationId: "conv-wh", state: "COMPLETED", format: "MP3", progress: 100 });
    expect(done.data.duration).toMatch(/^PT/);
    expect(done.data.size).toBeGreaterThan(1000);
    const media = await fetch(done.data.links.attachment.url);
    expect(media.status).toBe(200);
    expect(media.headers.get("content-type")).toBe("audio/mpeg");
    for (const r of received) expect(r.body).not.toMatch(/internal|lease|run-/);

    const log = await stack.api("GET", `/conv-wh/${id}/deliveries`, { as: SUPERVISOR });
    expect(log.status).toBe(200);
    expect(log.json.every((d: { status: string }) => d.status === "delivered")).toBe(true);
    expect(log.json[0]).toMatchObject({ type: "composition.queued", attempts: 3, lastStatus: 204 });
  });

  it("a composition hook composes a recording once its media is in, and reports to the hook's callback", async () => {
    const hook = await stack.api("POST", "/hooks", {
      as: SUPERVISOR,
      body: { type: "AUDIO", resolution: "640x360", nameTemplate: "Auto {conversationId}", callbackUrl: `${base}/hook` },
    });
    expect(hook.status, hook.text).toBe(201);
    await ingestRecording(stack, "conv-hook", 6, tracks);
    const q = await stack.api("GET", "/query/conversation/conv-hook", { as: SUPERVISOR });
    expect(q.json.compositions).toHaveLength(1);
    const made = q.json.compositions[0];
    expect(made).toMatchObject({ name: "Auto conv-hook", userId: `hook:${hook.json.id}`, type: "AUDIO" });
    await waitForState(stack, "conv-hook", made.id, ["COMPLETED"]);
    await until("the hook's completed event", () =>
      uniqueEvents("/hook").some((r) => r.json.type === "composition.completed") ? true : undefined,
    );
    expect(uniqueEvents("/hook")[0]!.json.type).toBe("composition.queued");
    // Uploading a track again does not compose again.
    await ingestRecording(stack, "conv-hook", 6, tracks);
    expect((await stack.api("GET", "/query/conversation/conv-hook", { as: SUPERVISOR })).json.compositions).toHaveLength(1);
  });
});
