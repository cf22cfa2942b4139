// The soak (npm run test:soak): 200 compositions of mixed type and priority over a few short
// recordings on the running stack, with cancels, re-executes and deletes interleaved at random from
// a seeded PRNG (SOAK_SEED=… replays a run). At the end every composition is in the state its own
// history implies, every COMPLETED one plays, and R2 holds exactly one output per COMPLETED
// composition and nothing orphaned.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeGarbage, makeTrack, probe, tempDir } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, type TestStack, type TrackFile } from "../e2e/harness.ts";

const SEED = Number(process.env.SOAK_SEED ?? 20261127);
const COMPOSITIONS = Number(process.env.SOAK_COMPOSITIONS ?? 200);
const SETTLE_MS = 12 * 60_000;
/** The operations pause while more than this many wait QUEUED, so they meet every state, not just QUEUED. */
const MAX_BACKLOG = 10;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Recording {
  conversationId: string;
  spanSeconds: number;
  video: boolean;
  /** Has a corrupt track: every composition of it ends FAILED naming that track. */
  brokenTrack?: string;
}

const RECORDINGS: Recording[] = [
  { conversationId: "soak-video-call", spanSeconds: 6, video: true },
  { conversationId: "soak-mixed-call", spanSeconds: 6, video: true },
  { conversationId: "soak-phone-call", spanSeconds: 4, video: false },
  { conversationId: "soak-broken-call", spanSeconds: 4, video: false, brokenTrack: "t-corrupt" },
];

/** What a composition's own history says its end must be. */
type Expect = "run" | "cancelled" | "deleted";

interface Tracked {
  id: string;
  rec: Recording;
  type: "AUDIO" | "VIDEO";
  expect: Expect;
  history: string[];
}

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = await tempDir("soak-");
  const [camA, camB, phone, camC, short] = await Promise.all([
    makeTrack({
      dir,
      name: "cam-a",
      format: "webm",
      durationSec: 6,
      video: { color: "red", width: 320, height: 240, fps: 10 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "cam-b",
      format: "webm",
      durationSec: 5,
      video: { color: "blue", width: 320, height: 240, fps: 10 },
      audio: { frequency: 660 },
    }),
    makeTrack({ dir, name: "phone", format: "wav", durationSec: 6, audio: { frequency: 880 } }),
    makeTrack({
      dir,
      name: "cam-c",
      format: "mp4",
      durationSec: 6,
      video: { color: "lime", width: 320, height: 240, fps: 10 },
      audio: { frequency: 1320 },
    }),
    makeTrack({ dir, name: "short", format: "wav", durationSec: 4, audio: { frequency: 550 } }),
  ]);
  const garbage = await makeGarbage(dir, "corrupt.webm");
  stack = await startTestStack({ rendererEnv: { SLOTS: "2" } });
  const tracks: Record<string, TrackFile[]> = {
    "soak-video-call": [
      { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: camA, contentType: "video/webm" },
      { id: "t-customer", participantId: "customer", start: 1, audio: true, video: true, file: camB, contentType: "video/webm" },
    ],
    "soak-mixed-call": [
      { id: "t-phone", participantId: "customer", start: 0, audio: true, video: false, file: phone, contentType: "audio/wav" },
      { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: camC, contentType: "video/mp4" },
    ],
    "soak-phone-call": [
      { id: "t-phone", participantId: "customer", start: 0, audio: true, video: false, file: short, contentType: "audio/wav" },
    ],
    "soak-broken-call": [
      { id: "t-phone", participantId: "customer", start: 0, audio: true, video: false, file: short, contentType: "audio/wav" },
      { id: "t-corrupt", participantId: "agent", start: 0, audio: true, video: false, file: garbage, contentType: "audio/webm" },
    ],
  };
  for (const r of RECORDINGS) await ingestRecording(stack, r.conversationId, r.spanSeconds, tracks[r.conversationId]!);
}, 300_000);

afterAll(async () => {
  await stack?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listAll(): Promise<Map<string, any>> {
  const all = new Map<string, any>();
  for (const r of RECORDINGS) {
    const res = await stack.api("GET", `/query/conversation/${r.conversationId}`, { as: SUPERVISOR });
    expect(res.status, res.text).toBe(200);
    for (const c of res.json.compositions) all.set(c.id, c);
  }
  return all;
}

const tally = (xs: string[]) =>
  Object.entries(xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {}))
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");

describe("soak", () => {
  it(`${COMPOSITIONS} compositions with cancels, re-executes and deletes interleaved (seed ${SEED}) all end where their history says`, async () => {
    const started = Date.now();
    const rnd = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const tracked: Tracked[] = [];
    const ops: string[] = [];
    /** Half the time one of the newest (likely QUEUED or PROCESSING), else any live composition. */
    const target = (): Tracked | undefined => {
      const live = tracked.filter((t) => t.expect !== "deleted");
      if (!live.length) return undefined;
      return rnd() < 0.5 ? pick(live.slice(-8)) : pick(live);
    };

    const stateOf = async (t: Tracked) =>
      ((await stack.api("GET", `/query/conversation/${t.rec.conversationId}`, { as: SUPERVISOR })).json?.compositions ?? []).find(
        (c: { id: string }) => c.id === t.id,
      )?.state as string;
    let throttled = 0;
    while (tracked.length < COMPOSITIONS) {
      if (ops.length % 8 === 0) {
        const backlog = async () => [...(await listAll()).values()].filter((c) => c.state === "QUEUED").length;
        while ((await backlog()) > MAX_BACKLOG) {
          throttled += 1;
          await sleep(1000);
        }
      }
      const r = rnd();
      if (r < 0.62) {
        const rec = rnd() < 0.08 ? RECORDINGS[3]! : pick(RECORDINGS.slice(0, 3));
        const type = rec.video && rnd() < 0.25 ? "VIDEO" : "AUDIO";
        const priority = Math.floor(rnd() * 11);
        const res = await stack.api("POST", "/request", {
          as: SUPERVISOR,
          body: {
            conversationId: rec.conversationId,
            layout: "GRID",
            name: `soak ${tracked.length}`,
            resolution: "320x240",
            type,
            priority,
          },
        });
        expect(res.status, res.text).toBe(200);
        tracked.push({ id: res.json.id, rec, type, expect: "run", history: [`create ${type} p${priority}`] });
        ops.push("create");
      } else if (r < 0.77) {
        const t = target();
        if (!t) continue;
        const before = await stateOf(t);
        const res = await stack.api("POST", `/${t.rec.conversationId}/${t.id}/cancel`, { as: SUPERVISOR });
        expect([200, 409], `cancel ${t.id}: ${res.text}`).toContain(res.status);
        if (res.status === 200) t.expect = "cancelled";
        t.history.push(`cancel ${res.status}`);
        ops.push(`cancel ${before}→${res.status}`);
      } else if (r < 0.9) {
        const t = target();
        if (!t) continue;
        const before = await stateOf(t);
        const res = await stack.api("POST", "/reexecute", {
          as: SUPERVISOR,
          body: { conversationId: t.rec.conversationId, id: t.id, priority: Math.floor(rnd() * 11) },
        });
        expect([200, 409], `reexecute ${t.id}: ${res.text}`).toContain(res.status);
        if (res.status === 200) t.expect = "run";
        t.history.push(`reexecute ${res.status}`);
        ops.push(`reexecute ${before}→${res.status}`);
      } else if (r < 0.96) {
        const t = target();
        if (!t) continue;
        const before = await stateOf(t);
        const res = await stack.api("DELETE", `/${t.rec.conversationId}/${t.id}/delete`, { as: SUPERVISOR });
        expect(res.status, `delete ${t.id}: ${res.text}`).toBe(204);
        t.expect = "deleted";
        t.history.push("delete 204");
        ops.push(`delete ${before}`);
      } else {
        await sleep(200 + rnd() * 800);
      }
      await sleep(rnd() * 250);
    }
    const opsDone = Date.now();
    console.log(`soak: ${((opsDone - started) / 1000).toFixed(0)} s of operations (paused ${throttled} s for the backlog): ${tally(ops)}`);

    // Everything settles: nothing left QUEUED or PROCESSING.
    const deadline = Date.now() + SETTLE_MS;
    let all = await listAll();
    let lastReport = 0;
    for (;;) {
      const open = [...all.values()].filter((c) => c.state === "QUEUED" || c.state === "PROCESSING");
      if (!open.length) break;
      if (Date.now() > deadline)
        throw new Error(
          `${open.length} compositions still open after ${SETTLE_MS / 1000} s: ${JSON.stringify(open.slice(0, 3))}\n${stack.logs().slice(-3000)}`,
        );
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        console.log(`soak: +${((Date.now() - opsDone) / 1000).toFixed(0)} s: ${tally([...all.values()].map((c) => c.state))}`);
      }
      await sleep(2000);
      all = await listAll();
    }
    const settled = Date.now();
    console.log(
      `soak: settled ${((settled - opsDone) / 1000).toFixed(0)} s after the last operation: ${tally([...all.values()].map((c) => c.state))}`,
    );

    // Nothing lost, nothing duplicated: exactly the compositions not deleted, each where its history says.
    const alive = tracked.filter((t) => t.expect !== "deleted");
    expect([...all.keys()].sort()).toEqual(alive.map((t) => t.id).sort());
    const wrong: string[] = [];
    for (const t of alive) {
      const view = all.get(t.id);
      const want = t.expect === "cancelled" ? "CANCELLED" : t.rec.brokenTrack ? "FAILED" : "COMPLETED";
      if (view.state !== want) wrong.push(`${t.id} (${t.history.join(" → ")}): ${view.state} ${view.error ?? ""}, expected ${want}`);
      else if (want === "FAILED" && !String(view.error).includes(t.rec.brokenTrack!))
        wrong.push(`${t.id}: FAILED without naming the track: ${view.error}`);
      else if (want === "COMPLETED" && (view.progress !== 100 || view.format !== (t.type === "AUDIO" ? "MP3" : "MP4")))
        wrong.push(`${t.id}: ${JSON.stringify(view)}`);
    }
    expect(wrong).toEqual([]);

    // Storage: one output object per COMPLETED composition, at most the kept previous output for the
    // others (a re-execution cancelled or failed keeps the last good file), none for deleted ones, no orphans.
    const audit = await stack.api("GET", "/audit/storage", { as: SUPERVISOR });
    expect(audit.status).toBe(200);
    expect(audit.json.orphans).toEqual([]);
    const outputs = (audit.json.objects as { key: string; kind: string }[]).filter((o) => o.kind === "output");
    const perComposition = new Map<string, number>();
    for (const o of outputs) {
      const id = /\/compositions\/([^/]+)\//.exec(o.key)![1]!;
      perComposition.set(id, (perComposition.get(id) ?? 0) + 1);
    }
    for (const t of tracked) {
      const n = perComposition.get(t.id) ?? 0;
      if (t.expect === "deleted") expect(n, `deleted ${t.id}`).toBe(0);
      else if (all.get(t.id).state === "COMPLETED") expect(n, `COMPLETED ${t.id}`).toBe(1);
      else expect(n, `${all.get(t.id).state} ${t.id}`).toBeLessThanOrEqual(1);
    }

    // Every COMPLETED one plays through its signed link; deleted ones are gone; a sample is decoded.
    const completed = alive.filter((t) => all.get(t.id).state === "COMPLETED");
    for (const t of completed) {
      const link = await stack.api(
        "GET",
        `/player/${t.rec.conversationId}/${t.id}/url/inline?conversationId=${t.rec.conversationId}&id=${t.id}`,
        {
          as: SUPERVISOR,
          headers: { Referer: "https://agent.example/" },
        },
      );
      expect(link.status, link.text).toBe(200);
      const media = await fetch(link.json.url, { headers: { Range: "bytes=0-1023" } });
      expect(media.status, t.id).toBe(206);
      expect(media.headers.get("Content-Type")).toBe(t.type === "AUDIO" ? "audio/mpeg" : "video/mp4");
      await media.arrayBuffer();
    }
    for (const t of tracked.filter((x) => x.expect === "deleted")) {
      const link = await stack.api(
        "GET",
        `/player/${t.rec.conversationId}/${t.id}/url/inline?conversationId=${t.rec.conversationId}&id=${t.id}`,
        {
          as: SUPERVISOR,
          headers: { Referer: "https://agent.example/" },
        },
      );
      expect(link.status, `deleted ${t.id}`).toBe(404);
    }
    const sample = [...completed].sort(() => rnd() - 0.5).slice(0, 10);
    for (const t of sample) {
      const file = join(dir, `${t.id}.${t.type === "AUDIO" ? "mp3" : "mp4"}`);
      await downloadOutput(stack, t.rec.conversationId, t.id, file);
      const info = await probe(file);
      expect(Math.abs(info.duration - t.rec.spanSeconds), `${t.id} (${t.type}) duration ${info.duration}`).toBeLessThan(0.3);
      if (t.type === "VIDEO") expect([info.video?.codec, info.video?.width, info.video?.height]).toEqual(["h264", 320, 240]);
    }
    console.log(
      `soak: ${tracked.length} compositions (${tally(tracked.map((t) => t.expect))}), ${completed.length} played, ` +
        `${sample.length} decoded; total ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  });
});
