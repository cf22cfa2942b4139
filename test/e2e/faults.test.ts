// Faults over the running stack (wrangler dev + the renderer process): a renderer SIGKILLed mid-render,
// the Worker restarted mid-flight, the renderer unreachable for a while, and hostile media. Nothing is
// lost or duplicated, nothing hangs, every failure says why, and R2 holds no orphan (the storage audit).
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeGarbage, makeTrack, makeTwoCameraCall, probe, run, tempDir } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, queryD1, SERVICE, startTestStack, SUPERVISOR, waitForState, type TestStack } from "./harness.ts";

// 8 s: short enough to test expiry quickly; long enough that a heartbeat (every 3.5 s) delayed by a
// loaded machine does not expire a healthy render's lease.
const LEASE_SECONDS = 8;
let stack: TestStack;
let dir: string;
let wav: string;

beforeAll(async () => {
  dir = await tempDir("e2e-faults-");
  // A 40 s two-camera call renders for several seconds (so it can be killed mid-render); a short
  // phone call renders in about a second.
  const [[a, b], tone] = await Promise.all([
    makeTwoCameraCall(dir, 40),
    makeTrack({ dir, name: "tone", format: "wav", durationSec: 6, audio: { frequency: 880 } }),
  ]);
  wav = tone;
  stack = await startTestStack({ vars: { LEASE_SECONDS: String(LEASE_SECONDS) }, cronEveryMs: 1000, rendererEnv: { SLOTS: "2" } });
  await ingestRecording(stack, "conv-long", 40, [
    { id: "a", participantId: "agent", start: 0, audio: true, video: true, file: a, contentType: "video/mp4" },
    { id: "b", participantId: "customer", start: 0, audio: true, video: true, file: b, contentType: "video/mp4" },
  ]);
  await ingestRecording(stack, "conv-short", 6, [
    { id: "t", participantId: "agent", start: 0, audio: true, video: false, file: tone, contentType: "audio/wav" },
  ]);
}, 300_000);

afterAll(async () => {
  await stack?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function request(conversationId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId, layout: "GRID", name: "fault", resolution: "320x240", type: "AUDIO", ...body },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.id;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}\n${stack.logs().slice(-4000)}`);
}

/** Waits for a line of the stack's (renderer + wrangler) log. */
const logged = (what: string | RegExp, timeoutMs = 60_000) =>
  until(`log ${what}`, async () => (typeof what === "string" ? stack.logs().includes(what) : what.test(stack.logs())), timeoutMs);

async function audit(): Promise<{ objects: { key: string; size: number; kind: string }[]; orphans: string[] }> {
  const res = await stack.api("GET", "/audit/storage", { as: SUPERVISOR });
  expect(res.status, res.text).toBe(200);
  return res.json;
}

const outputsOf = (a: Awaited<ReturnType<typeof audit>>, id: string) =>
  a.objects.filter((o) => o.kind === "output" && o.key.includes(`/compositions/${id}/`));

async function states(conversationId: string): Promise<Map<string, { state: string; error: string | null }>> {
  const res = await stack.api("GET", `/query/conversation/${conversationId}`, { as: SUPERVISOR });
  return new Map((res.json?.compositions ?? []).map((c: { id: string; state: string; error: string | null }) => [c.id, c]));
}

/** What the API does not show, read from D1: attempts spent and warnings recorded. */
async function rows(ids: string[]): Promise<Map<string, { attempts: number; warnings: string[] }>> {
  const found = await queryD1<{ id: string; attempts: number; warnings: string | null }>(
    stack,
    `SELECT id, attempts, warnings FROM compositions WHERE id IN (${ids.map((id) => `'${id}'`).join(", ")})`,
  );
  return new Map(found.map((r) => [r.id, { attempts: r.attempts, warnings: r.warnings ? JSON.parse(r.warnings) : [] }]));
}

describe("faults over the running stack", () => {
  it("a renderer SIGKILLed mid-render twice: the lease runs out each time and attempt 3 completes, with exactly one output", async () => {
    const id = await request("conv-long", { type: "VIDEO", resolution: "640x360" });
    const requeuedAfter: number[] = [];
    for (const attempt of [1, 2]) {
      await logged(`[job ${id}#${attempt}] rendering`);
      await sleep(1000); // ffmpeg is busy now
      expect((await states("conv-long")).get(id)?.state).toBe("PROCESSING");
      const killed = Date.now();
      await stack.stopRenderer("SIGKILL");
      await stack.startRenderer();
      // Nothing stays PROCESSING past its lease: within the lease (+ cron tick + dispatch) the next attempt runs.
      await logged(`[job ${id}#${attempt + 1}] accepted`, (LEASE_SECONDS + 15) * 1000);
      requeuedAfter.push(Date.now() - killed);
    }
    const view = await waitForState(stack, "conv-long", id, ["COMPLETED", "FAILED"], 120_000);
    expect(view.state, view.error).toBe("COMPLETED");
    // Attempt 3 (of MAX_ATTEMPTS 3) is the one that completed.
    expect(stack.logs()).toContain(`[job ${id}#3] completed`);
    expect(stack.logs()).not.toContain(`[job ${id}#4]`);
    for (const ms of requeuedAfter) expect(ms).toBeLessThan((LEASE_SECONDS + 15) * 1000);
    console.log(
      `killed twice: next attempt started ${requeuedAfter.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} after each kill`,
    );

    const a = await audit();
    expect(outputsOf(a, id)).toHaveLength(1);
    expect(a.orphans).toEqual([]);
    const file = join(dir, "after-kills.mp4");
    await downloadOutput(stack, "conv-long", id, file);
    expect(Math.abs((await probe(file)).duration - 40)).toBeLessThan(0.3);
  });

  it("with MAX_ATTEMPTS 2 and every attempt killed: FAILED, saying the lease ran out on the last attempt", async () => {
    // The next test restarts the Worker with the stack's own settings (MAX_ATTEMPTS 3) again.
    await stack.stopWorker();
    await stack.startWorker({ MAX_ATTEMPTS: "2" });
    const id = await request("conv-long", { type: "VIDEO", resolution: "640x360" });
    for (const attempt of [1, 2]) {
      await logged(`[job ${id}#${attempt}] rendering`);
      await sleep(500);
      await stack.stopRenderer("SIGKILL");
      await stack.startRenderer();
    }
    const killed = Date.now();
    const view = await waitForState(stack, "conv-long", id, ["COMPLETED", "FAILED"], (LEASE_SECONDS + 15) * 1000);
    expect(Date.now() - killed).toBeLessThan((LEASE_SECONDS + 15) * 1000);
    expect(view.state).toBe("FAILED");
    expect(view.error).toMatch(/lease expired/);
    expect(view.error).toMatch(/last of 2 attempts/);
    expect(stack.logs()).not.toContain(`[job ${id}#3]`);
    const a = await audit();
    expect(outputsOf(a, id)).toEqual([]);
    expect(a.orphans).toEqual([]);
  });

  it("the Worker restarted mid-flight (same state): every queued and running composition completes once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await request("conv-short", { name: `restart-${i}` }));
    // Stop while some run and others wait (two renderer slots, six jobs).
    await until("a mix of PROCESSING and QUEUED", async () => {
      const s = await states("conv-short");
      const mine = ids.map((id) => s.get(id)?.state);
      return mine.includes("PROCESSING") && mine.includes("QUEUED");
    });
    await stack.stopWorker();
    await sleep(3000); // the renderer finishes, but cannot report
    const restarted = Date.now();
    await stack.startWorker(); // the stack's own vars (after the MAX_ATTEMPTS 2 test)
    for (const id of ids) {
      const view = await waitForState(stack, "conv-short", id, ["COMPLETED", "FAILED", "CANCELLED"], 120_000);
      expect(view.state, view.error).toBe("COMPLETED");
    }
    console.log(`worker restart: all ${ids.length} completed ${((Date.now() - restarted) / 1000).toFixed(1)} s after the restart`);
    // Nothing lost or duplicated: the conversation holds exactly the six requested compositions…
    const all = await states("conv-short");
    expect([...all.keys()].filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    // …each with exactly one output object, and R2 holds nothing else.
    const a = await audit();
    for (const id of ids) expect(outputsOf(a, id), id).toHaveLength(1);
    expect(a.orphans).toEqual([]);
  });

  it("the renderer unreachable for a while: jobs wait QUEUED (no attempt spent), then run when it returns", async () => {
    await stack.stopRenderer();
    const down = Date.now();
    let back = 0;
    try {
      const ids = [
        await request("conv-short", { name: "down-0" }),
        await request("conv-short", { name: "down-1" }),
        await request("conv-short", { name: "down-2" }),
      ];
      await logged(/renderer refused job.*renderer unreachable/);
      while (Date.now() < down + 10_000) {
        const s = await states("conv-short");
        // PROCESSING only for the instant between a claim and its release.
        for (const id of ids) expect(["QUEUED", "PROCESSING"], `${id}: ${JSON.stringify(s.get(id))}`).toContain(s.get(id)?.state);
        await sleep(500);
      }
      const s = await states("conv-short");
      for (const id of ids) expect(s.get(id)?.state).toBe("QUEUED");
      // The wake-up was retried (with backoff), not dropped: several refused dispatches.
      expect((stack.logs().match(/renderer refused job.*renderer unreachable/g) ?? []).length).toBeGreaterThanOrEqual(2);
      back = Date.now();
      await stack.startRenderer();
      for (const id of ids) {
        const view = await waitForState(stack, "conv-short", id, ["COMPLETED", "FAILED"], 120_000);
        expect(view.state, view.error).toBe("COMPLETED");
        // The refused dispatches cost no attempt: the first one the renderer got is attempt 1.
        expect(stack.logs()).toContain(`[job ${id}#1] accepted`);
      }
      console.log(
        `renderer outage of ${((back - down) / 1000).toFixed(1)} s: all 3 completed ${((Date.now() - back) / 1000).toFixed(1)} s after it returned`,
      );
    } finally {
      if (!back) await stack.startRenderer();
    }
  });
});

/** PUTs a track body shorter than its Content-Length over a raw socket, then half-closes. */
function lyingUpload(path: string, token: string, declared: number, actual: Buffer): Promise<{ status: number; text: string }> {
  const url = new URL(stack.apiUrl + path);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(url.port), url.hostname);
    let got = "";
    sock.on("data", (d) => (got += d.toString()));
    sock.on("error", reject);
    sock.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      resolve({ status, text: got.split("\r\n\r\n").slice(1).join("\r\n\r\n") });
    });
    sock.write(
      `PUT ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: audio/webm\r\n` +
        `Content-Length: ${declared}\r\nConnection: close\r\n\r\n`,
    );
    sock.end(actual);
  });
}

describe("hostile media", () => {
  const T0 = Date.parse("2026-11-20T10:00:00.000Z");
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();

  /** A recording of a good phone track and one bad track (declared 0–8 s), the bad bytes uploaded as given. */
  async function withBadTrack(conversationId: string, bad: { file: string; contentType: string; video?: boolean }) {
    await ingestRecording(stack, conversationId, 8, [
      { id: "t-ok", participantId: "agent", start: 0, audio: true, video: false, file: wav, contentType: "audio/wav" },
      {
        id: "t-bad",
        participantId: "customer",
        start: 0,
        stop: 8,
        audio: true,
        video: bad.video ?? false,
        file: bad.file,
        contentType: bad.contentType,
      },
    ]);
  }

  async function putMeta(conversationId: string) {
    const res = await stack.api("PUT", `/recordings/${conversationId}`, {
      as: SERVICE,
      body: {
        agentId: "alice",
        started: at(0),
        stopped: at(8),
        tracks: [{ id: "t-bad", participantId: "customer", started: at(0), audio: true, video: false }],
      },
    });
    expect(res.status, res.text).toBe(200);
  }

  async function notStored(conversationId: string) {
    const rec = await stack.api("GET", `/recordings/${conversationId}`, { as: SERVICE });
    expect(rec.json.canExportAudio).toBe(false);
    const res = await stack.api("POST", "/request", {
      as: SUPERVISOR,
      body: { conversationId, layout: "GRID", name: "x", resolution: "320x240", type: "AUDIO" },
    });
    expect(res.status, res.text).toBe(409);
    expect(res.json.detail).toContain("t-bad");
  }

  it("an empty upload is refused at ingest (400) and stores nothing", async () => {
    await putMeta("conv-empty");
    const res = await fetch(`${stack.apiUrl}/recordings/conv-empty/tracks/t-bad`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${await stack.token(SERVICE)}`, "Content-Type": "audio/webm", "Content-Length": "0" },
      body: new Uint8Array(0),
    });
    expect(res.status).toBe(400);
    await notStored("conv-empty");
  });

  it("a Content-Length larger than the body is refused, not a 500, and stores nothing", async () => {
    await putMeta("conv-lying");
    const res = await lyingUpload("/recordings/conv-lying/tracks/t-bad", await stack.token(SERVICE), 10_000_000, Buffer.alloc(4096, 7));
    // The Worker answers 400 ("The body is not the N bytes its Content-Length announced"); under
    // `wrangler dev` the local proxy in front of it loses the request stream first and answers 503
    // "Your worker restarted mid-request" instead. Either way: refused, never stored, never a 500.
    if (res.status === 503) expect(res.text).toContain("restarted mid-request");
    else expect(res.status, res.text).toBe(400);
    await notStored("conv-lying");
    expect((await stack.api("GET", "/health")).status).toBe(200);
  });

  it("truncated, random, wrong-codec tracks: FAILED naming the track or COMPLETED with a warning naming it; never a hang", async () => {
    const whole = await makeTrack({
      dir,
      name: "cam",
      format: "webm",
      durationSec: 8,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: 660 },
    });
    const bytes = readFileSync(whole);
    const truncated = join(dir, "truncated.webm");
    writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
    const garbage = await makeGarbage(dir, "garbage.webm");
    const png = join(dir, "picture.png");
    await run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", png]);
    const text = join(dir, "notes.txt");
    writeFileSync(text, "These are not the recordings you are looking for.\n".repeat(100));

    await withBadTrack("conv-truncated", { file: truncated, contentType: "video/webm", video: true });
    await withBadTrack("conv-garbage", { file: garbage, contentType: "audio/webm" });
    await withBadTrack("conv-png", { file: png, contentType: "audio/webm" });
    await withBadTrack("conv-text", { file: text, contentType: "audio/webm" });
    const jobs = {
      truncatedAudio: ["conv-truncated", await request("conv-truncated", { type: "AUDIO" })],
      truncatedVideo: ["conv-truncated", await request("conv-truncated", { type: "VIDEO" })],
      garbage: ["conv-garbage", await request("conv-garbage")],
      png: ["conv-png", await request("conv-png")],
      text: ["conv-text", await request("conv-text")],
    } as const;
    const views: Record<string, { state: string; error: string | null; duration: string | null; warnings: string[]; attempts: number }> =
      {};
    for (const [name, [conv, id]] of Object.entries(jobs))
      views[name] = await waitForState(stack, conv, id, ["COMPLETED", "FAILED"], 60_000);
    const recorded = await rows(Object.values(jobs).map(([, id]) => id));
    for (const [name, [, id]] of Object.entries(jobs)) Object.assign(views[name]!, recorded.get(id));
    console.log(
      `hostile media outcomes:\n${Object.entries(views)
        .map(([k, v]) => `  ${k}: ${v.state} ${v.error ?? ""} ${JSON.stringify(v.warnings)}`)
        .join("\n")}`,
    );

    // The truncated camera track renders what it holds; the rest of the call is still the full 8 s.
    for (const name of ["truncatedAudio", "truncatedVideo"]) {
      expect(views[name]!.state, views[name]!.error ?? "").toBe("COMPLETED");
      expect(views[name]!.duration).toMatch(/^PT8(\.0\d*)?S$/);
      expect(views[name]!.warnings.join("\n")).toMatch(/track "t-bad".*truncated/);
    }
    // Random bytes and a text file are no media at all: FAILED, naming the track, without retries.
    for (const name of ["garbage", "text"]) {
      expect(views[name]!.state).toBe("FAILED");
      expect(views[name]!.error).toContain('track "t-bad"');
      expect(views[name]!.attempts).toBe(1);
    }
    // A picture uploaded as audio is readable media without the declared audio: the renderer may fail
    // the job naming the track, or complete from the good track with a warning naming it.
    const p = views.png!;
    if (p.state === "FAILED") expect(p.error).toContain('track "t-bad"');
    else expect(p.warnings.join("\n")).toMatch(/track "t-bad"/);

    // The renderer keeps serving: nothing of these is left running, and a normal job completes.
    const health = (await (await fetch(`${stack.rendererUrl}/health`)).json()) as { running: string[] };
    expect(health.running).toEqual([]);
    const after = await request("conv-short", { name: "after hostile media" });
    expect((await waitForState(stack, "conv-short", after, ["COMPLETED", "FAILED"], 60_000)).state).toBe("COMPLETED");
  });

  it("after all of the above, storage holds no orphan", async () => {
    const a = await audit();
    expect(a.orphans).toEqual([]);
    expect(a.objects.filter((o) => o.kind === "other")).toEqual([]);
  });
});
