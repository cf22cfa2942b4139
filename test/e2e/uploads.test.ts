// Issue 12 end to end: a 300 MB track in 95 MiB parts over the running stack (real HTTP, wrangler
// dev's local R2), read back through the renderer's input route, and a single PUT over 95 MiB
// refused with 413 while its body is still being sent.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { tempDir } from "../fixtures/media.ts";
import { SERVICE, startTestStack, SUPERVISOR, type TestStack } from "./harness.ts";

const SIZE = 300_000_000;
const PART = 95 * 2 ** 20;
const CONV = "conv-big";

let stack: TestStack;
let renderer: Server;
let file: string;
let fileSha256: string;
const jobs: RenderJob[] = [];

/** Writes `size` random bytes to `path` a MiB at a time, hashing them on the way. */
async function randomFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  async function* chunks() {
    for (let left = size; left > 0; left -= 2 ** 20) {
      const chunk = randomBytes(Math.min(2 ** 20, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(chunks(), createWriteStream(path));
  return hash.digest("hex");
}

/** Stands in for the renderer: takes the job (and its lease token) and does nothing with it. */
function startJobCatcher(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (c: Buffer) => body.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/jobs") jobs.push(JSON.parse(Buffer.concat(body).toString("utf8")) as RenderJob);
      const answer = req.method === "POST" ? { accepted: true } : { ok: true, running: jobs.map((j) => j.jobId) };
      res.writeHead(req.method === "POST" ? 202 : 200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

/**
 * PUTs `length` bytes of `file` from `start`, streamed, announced by Content-Length. Stops sending
 * once an answer arrives (a server that refuses early gets no more).
 */
function put(url: string, token: string, length: number, from: { file: string; start: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "content-length": String(length) },
    });
    req.on("error", (err) => (answered ? undefined : reject(err)));
    req.on("response", (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    (async () => {
      for await (const chunk of createReadStream(from.file, { start: from.start, end: from.start + length - 1, highWaterMark: 2 ** 20 })) {
        if (answered) return;
        if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })().catch((err) => (answered ? undefined : reject(err)));
  });
}

beforeAll(async () => {
  const dir = await tempDir("e2e-uploads-");
  file = join(dir, "big.bin");
  const [sha] = await Promise.all([
    randomFile(file, SIZE),
    // The catcher holds the lease without heartbeats: a long lease keeps it while the test reads.
    startTestStack({ vars: { LEASE_SECONDS: "600" } }).then((s) => (stack = s)),
  ]);
  fileSha256 = sha;
  await stack.stopRenderer();
  renderer = await startJobCatcher(Number(new URL(stack.rendererUrl).port));
  const meta = await stack.api("PUT", `/recordings/${CONV}`, {
    as: SERVICE,
    body: {
      agentId: "alice",
      started: "2026-11-20T10:00:00.000Z",
      stopped: "2026-11-20T11:00:00.000Z",
      tracks: [{ id: "big", participantId: "agent", started: "2026-11-20T10:00:00.000Z", audio: true, video: false }],
    },
  });
  expect(meta.status, meta.text).toBe(200);
}, 300_000);

afterAll(async () => {
  await new Promise((r) => (renderer ? renderer.close(r) : r(undefined)));
  await stack?.dispose();
});

describe("a 300 MB track", () => {
  it("a single PUT is refused with 413 naming the uploads route, and nothing is stored", async () => {
    // wrangler dev's proxy Worker forwards the whole body before it passes the answer on, so over
    // this stack the client sends it all; that the Worker answers without reading the body is
    // shown in test/worker/uploads.test.ts.
    const res = await put(`${stack.apiUrl}/recordings/${CONV}/tracks/big`, await stack.token(SERVICE), SIZE, { file, start: 0 });
    expect(res.status, res.body).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ status: 413, detail: expect.stringContaining(`/recordings/${CONV}/tracks/big/uploads`) });
    const rec = await stack.api("GET", `/recordings/${CONV}`, { as: SERVICE });
    expect(rec.json.canExportAudio).toBe(false);
  });

  it("goes up in 95 MiB parts, completes, and reads back byte for byte through the track route", async () => {
    const token = await stack.token(SERVICE);
    const t0 = performance.now();
    const created = await stack.api("POST", `/recordings/${CONV}/tracks/big/uploads`, {
      as: SERVICE,
      body: { size: SIZE, contentType: "audio/webm" },
    });
    expect(created.status, created.text).toBe(201);
    const { uploadId, partSize, partCount } = created.json;
    expect({ partSize, partCount }).toEqual({ partSize: PART, partCount: 4 });
    const uploads = `${stack.apiUrl}/recordings/${CONV}/tracks/big/uploads/${uploadId}`;
    for (let n = 1; n <= partCount; n++) {
      const start = (n - 1) * PART;
      const res = await put(`${uploads}/parts/${n}`, token, Math.min(PART, SIZE - start), { file, start });
      expect(res.status, res.body).toBe(200);
    }
    const done = await stack.api("POST", `/recordings/${CONV}/tracks/big/uploads/${uploadId}/complete`, { as: SERVICE });
    expect(done.status, done.text).toBe(200);
    expect(done.json).toMatchObject({ conversationId: CONV, canExportAudio: true });
    const upSeconds = (performance.now() - t0) / 1000;

    const audit = await stack.api("GET", "/audit/storage", { as: SUPERVISOR });
    expect(audit.json.orphans).toEqual([]);
    expect(audit.json.objects).toContainEqual({ key: `orgs/acme/conversations/${CONV}/tracks/big`, size: SIZE, kind: "track" });

    // Read back as the renderer reads its inputs: the job's track URL under its lease token.
    const composition = await stack.api("POST", "/request", {
      as: SUPERVISOR,
      body: { conversationId: CONV, layout: "GRID", name: "big", resolution: "320x240", type: "AUDIO" },
    });
    expect(composition.status, composition.text).toBe(200);
    for (const deadline = Date.now() + 30_000; !jobs.length && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    const job = jobs[0]!;
    const headers = { Authorization: `Bearer ${job.callback.token}` };
    // A range across the join of parts 1 and 2.
    const ranged = await fetch(job.tracks[0]!.url, { headers: { ...headers, Range: `bytes=${PART - 8}-${PART + 7}` } });
    expect(ranged.status).toBe(206);
    const expected = Buffer.alloc(16);
    const fd = await open(file);
    await fd.read(expected, 0, 16, PART - 8);
    await fd.close();
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(expected);

    const t1 = performance.now();
    const whole = await fetch(job.tracks[0]!.url, { headers });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-length")).toBe(String(SIZE));
    const hash = createHash("sha256");
    const reader = whole.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
    expect(hash.digest("hex")).toBe(fileSha256);
    console.log(
      `300 MB: up in ${partCount} parts + complete ${upSeconds.toFixed(1)} s, read back ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
  }, 300_000);
});
