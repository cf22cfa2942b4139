// 4. Range reads: time to first byte (and to last byte) of a 1 MiB range at the start, the middle and
// the end of a 1 GiB object. Goal: flat in the offset, i.e. R2 reads the range, not the bytes
// before it. The 1 GiB goes in through the public track uploads API (95 MiB parts, each a streamed
// PUT, as an ingest must: a single PUT over 95 MiB is refused), and out through a composition whose
// output the stub renderer uploads (1 GiB, streamed PUT to the renderer's output route); both are
// read with ranges: the output through its signed link (the player's path), the track through the
// renderer's input route.
import { Agent, request as httpRequest } from "node:http";
import type { RenderJob } from "../contract/renderer.ts";
import { fmt, loadNow, median, percentile, Report, runIfMain } from "./lib/report.ts";
import { benchStack, requestComposition, retryOnRestart, SERVICE, SUPERVISOR, type BenchStack } from "./lib/stack.ts";
import { patternChunk, putStream, report as sendReport } from "./lib/stub-renderer.ts";

const SIZE = 1 << 30;
const RANGE = 1 << 20;
const ROUNDS = Number(process.env.BENCH_RANGE_ROUNDS ?? 15);

interface Read {
  ttfb: number;
  total: number;
  status: number;
  ok: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function readRange(url: string, start: number, headers: Record<string, string> = {}): Promise<Read> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = NaN;
    const chunks: Buffer[] = [];
    const req = httpRequest(url, { agent, headers: { ...headers, Range: `bytes=${start}-${start + RANGE - 1}` } }, (res) => {
      res.on("data", (d: Buffer) => {
        if (Number.isNaN(ttfb)) ttfb = performance.now() - t0;
        chunks.push(d);
      });
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        // Only the head and tail are compared: the pattern encodes each word's offset.
        const ok =
          body.length === RANGE &&
          body.subarray(0, 64).equals(patternChunk(start, 64)) &&
          body.subarray(RANGE - 64).equals(patternChunk(start + RANGE - 64, 64));
        resolve({ ttfb, total: performance.now() - t0, status: res.statusCode ?? 0, ok });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function measure(report: Report, what: string, url: string, headers?: Record<string, string>): Promise<void> {
  const offsets = { start: 0, middle: SIZE / 2, end: SIZE - RANGE };
  const results: Record<string, Read[]> = { start: [], middle: [], end: [] };
  for (const [, at] of Object.entries(offsets)) await readRange(url, at, headers); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, at] of Object.entries(offsets)) {
      const r = await readRange(url, at, headers);
      if (r.status !== 206 || !r.ok) throw new Error(`${what} @${name}: status ${r.status}, content ${r.ok ? "ok" : "WRONG"}`);
      results[name]!.push(r);
    }
  }
  const startTtfb = median(results.start!.map((r) => r.ttfb));
  let worst = 1;
  for (const name of Object.keys(offsets)) {
    const rs = results[name]!;
    const t = median(rs.map((r) => r.ttfb));
    const ratio = t / startTtfb;
    if (name !== "start") worst = Math.max(worst, ratio);
    report.add({
      metric: `${what}: 1 MiB @ ${name}`,
      value: `TTFB ${fmt.ms(t)} (p90 ${fmt.ms(
        percentile(
          rs.map((r) => r.ttfb),
          90,
        ),
      )}), whole range ${fmt.ms(median(rs.map((r) => r.total)))}`,
      baseline: name === "start" ? undefined : `TTFB @ start ${fmt.ms(startTtfb)}`,
      ratio: name === "start" ? undefined : fmt.x(ratio),
    });
  }
  report.add({
    metric: `${what}: flat in the offset`,
    value: `worst ${fmt.x(worst)} of start`,
    goal: "≤ 1.5× (no read-through)",
    met: worst <= 1.5,
  });
}

/** Uploads `size` pattern bytes in the parts the API asks for; returns how many parts it took. */
async function uploadInParts(s: BenchStack, uploads: string, size: number): Promise<number> {
  const created = await retryOnRestart(() => s.api("POST", uploads, { as: SERVICE, body: { size, contentType: "audio/webm" } }));
  if (created.status !== 201) throw new Error(`POST uploads: ${created.status} ${created.text}`);
  const { uploadId, partSize, partCount } = created.json as { uploadId: string; partSize: number; partCount: number };
  const token = await s.token(SERVICE);
  for (let n = 1; n <= partCount; n++) {
    const start = (n - 1) * partSize;
    const url = `${s.apiUrl}${uploads}/${uploadId}/parts/${n}`;
    const put = await retryOnRestart(async () => {
      const r = await putStream(url, token, Math.min(partSize, size - start), "application/octet-stream", (o, len) =>
        patternChunk(start + o, len),
      );
      return { ...r, text: r.body };
    });
    if (put.status !== 200) throw new Error(`part ${n} of ${partCount}: ${put.status} ${put.body}`);
  }
  const done = await retryOnRestart(() => s.api("POST", `${uploads}/${uploadId}/complete`, { as: SERVICE }));
  if (done.status !== 200) throw new Error(`complete: ${done.status} ${done.text}`);
  return partCount;
}

export async function benchRanges(): Promise<Report[]> {
  console.log(`\n# 4. range reads of a 1 GiB object (${ROUNDS} rounds, medians)`);
  const report = new Report("4 range reads");
  let job: RenderJob | undefined;
  const s = await benchStack({
    stub: {
      capacity: 1,
      // The bench drives the job itself: reads its input while it is leased, then completes it.
      onAccept: async (j) => {
        job = j;
      },
    },
  });
  try {
    const conversationId = "bench-range";
    const meta = await s.api("PUT", `/recordings/${conversationId}`, {
      as: SERVICE,
      body: {
        agentId: "alice",
        started: "2026-11-20T10:00:00.000Z",
        stopped: "2026-11-20T11:00:00.000Z",
        tracks: [{ id: "big", participantId: "p0", started: "2026-11-20T10:00:00.000Z", audio: true, video: false }],
      },
    });
    if (meta.status !== 200) throw new Error(`PUT recording: ${meta.status} ${meta.text}`);
    const t0 = performance.now();
    const parts = await uploadInParts(s, `/recordings/${conversationId}/tracks/big/uploads`, SIZE);
    const upSec = (performance.now() - t0) / 1000;
    report.add({
      metric: `1 GiB to the track uploads API (${parts} parts, each a streamed PUT, then complete)`,
      value: `accepted in ${fmt.s(upSec)} (${(SIZE / 2 ** 20 / upSec).toFixed(0)} MiB/s)`,
    });

    const r = await requestComposition(s, { conversationId, type: "AUDIO" });
    for (const deadline = Date.now() + 60_000; !job; await new Promise((res) => setTimeout(res, 100))) {
      if (Date.now() > deadline) throw new Error("the job was never dispatched");
    }
    const j = job;
    console.log(`  load ${loadNow()}`);
    // The renderer's input route serves the track with the same range code, under the job's lease.
    await measure(report, "renderer input route (track)", j.tracks[0]!.url, { Authorization: `Bearer ${j.callback.token}` });

    const t1 = performance.now();
    const out = await retryOnRestart(async () => {
      const r = await putStream(j.output.url, j.callback.token, SIZE, j.output.contentType, patternChunk);
      return { ...r, text: r.body };
    });
    const outSec = (performance.now() - t1) / 1000;
    if (out.status !== 200) throw new Error(`output PUT: ${out.status} ${out.body}`);
    report.add({
      metric: "1 GiB PUT to the renderer's output route (streamed)",
      value: `accepted in ${fmt.s(outSec)} (${(SIZE / 2 ** 20 / outSec).toFixed(0)} MiB/s)`,
    });
    await sendReport(j, { event: "completed", attempt: j.attempt, durationMs: 3_600_000, size: SIZE, engine: "native" });

    const link = await s.api("GET", `/player/${conversationId}/${r.id}/url/inline?conversationId=${conversationId}&id=${r.id}`, {
      as: SUPERVISOR,
      headers: { Referer: "https://agent.example/" },
    });
    if (link.status !== 200) throw new Error(`signed link: ${link.status} ${link.text}`);
    console.log(`  load ${loadNow()}`);
    await measure(report, "signed link (composition output)", link.json.url);
  } finally {
    agent.destroy();
    await s.dispose();
  }
  return [report];
}

runIfMain(import.meta.url, benchRanges);
