// 3. API under load: requests/second and p50/p99 latency of POST /request, GET /query/composition
// (with 1,000+ compositions in the table) and a signed-link range read, each loaded for a while by
// autocannon in a second process, next to a bare Hono handler on the same `wrangler dev` (the
// baseline: what workerd, the local runtime and the router cost alone).
// The renderer is a stub that accepts every job and holds it (the first one it completes, so there
// is an output to link to): dispatch runs for real, no ffmpeg competes for the CPU.
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { RenderJob } from "../contract/renderer.ts";
import { ingestRecording } from "../test/e2e/harness.ts";
import { ROOT } from "../scripts/stack.ts";
import { cachedTrack } from "./lib/media.ts";
import { fmt, loadNow, Report, runIfMain } from "./lib/report.ts";
import { benchStack, requestComposition, SUPERVISOR, type BenchStack } from "./lib/stack.ts";
import { completeJob, patternChunk } from "./lib/stub-renderer.ts";

const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 10);
const ROWS = 1000;
const OUTPUT_BYTES = 4 << 20;
const RANGE = "bytes=1048576-1114111"; // 64 KiB from 1 MiB in

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

/** autocannon in its own process (JSON out). */
export function autocannon(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; seconds?: number } = {},
): Promise<LoadResult> {
  const args = [
    join(ROOT, "node_modules", "autocannon", "autocannon.js"),
    "-j",
    "-n",
    "-c",
    String(CONNECTIONS),
    "-d",
    String(o.seconds ?? SECONDS),
  ];
  if (o.method) args.push("-m", o.method);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push("-H", `${k}=${v}`);
  if (o.body !== undefined) args.push("-b", o.body);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`autocannon failed (${code}): ${err.slice(-500)}`));
      const j = JSON.parse(out) as {
        requests: { average: number; total: number };
        latency: { p50: number; p99: number };
        non2xx: number;
        errors: number;
      };
      resolve({
        rps: j.requests.average,
        p50: j.latency.p50,
        p99: j.latency.p99,
        requests: j.requests.total,
        non2xx: j.non2xx,
        errors: j.errors,
      });
    });
  });
}

async function seed(s: BenchStack, conversationId: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ROWS) {
        next++;
        await requestComposition(s, { conversationId, type: "AUDIO", priority: next % 11 });
      }
    }),
  );
  const deadline = Date.now() + 120_000;
  while ((s.stub?.dispatches.length ?? 0) < ROWS) {
    if (Date.now() > deadline) throw new Error(`only ${s.stub?.dispatches.length} of ${ROWS} jobs dispatched`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function benchApi(): Promise<Report[]> {
  console.log(`\n# 3. API under load (autocannon, ${CONNECTIONS} connections × ${SECONDS} s per endpoint)`);
  const report = new Report("3 API");
  let first: RenderJob | undefined;
  const s = await benchStack({
    vars: { BENCH_BASELINE: "true" },
    stub: {
      capacity: Infinity,
      onAccept: async (job) => {
        if (first) return;
        first = job;
        await completeJob(job, patternChunk(0, OUTPUT_BYTES), 60_000);
      },
    },
  });
  try {
    const conversationId = "bench-api";
    const track = await cachedTrack({ name: "api-2s", format: "webm", durationSec: 2, audio: { frequency: 440 } });
    await ingestRecording(s, conversationId, 2, [
      { id: "t0", participantId: "p0", start: 0, audio: true, video: false, file: track, contentType: "audio/webm" },
    ]);
    const t0 = performance.now();
    await seed(s, conversationId);
    console.log(`  seeded ${ROWS} compositions (requested and dispatched) in ${fmt.s((performance.now() - t0) / 1000)}`);

    const link = await s.api(
      "GET",
      `/player/${conversationId}/${first!.jobId}/url/inline?conversationId=${conversationId}&id=${first!.jobId}`,
      {
        as: SUPERVISOR,
        headers: { Referer: "https://agent.example/" },
      },
    );
    if (link.status !== 200) throw new Error(`signed link: ${link.status} ${link.text}`);
    const signedUrl = link.json.url as string;
    const probe = await fetch(signedUrl, { headers: { Range: RANGE } });
    const got = Buffer.from(await probe.arrayBuffer());
    if (probe.status !== 206 || !got.equals(patternChunk(1 << 20, 65536)))
      throw new Error(`range read returned ${probe.status}, ${got.length} bytes`);

    const token = await s.token(SUPERVISOR);
    const auth = { Authorization: `Bearer ${token}` };
    const origin = new URL(s.apiUrl).origin;
    const cases: { name: string; url: string; opts: Parameters<typeof autocannon>[1] }[] = [
      { name: "bare Hono handler", url: `${origin}/__bench/hello`, opts: {} },
      { name: "GET /query/composition (page of 20 of 1,000+)", url: `${s.apiUrl}/query/composition`, opts: { headers: auth } },
      { name: "signed-link range read (64 KiB of 4 MiB)", url: signedUrl, opts: { headers: { Range: RANGE } } },
      {
        name: "POST /request",
        url: `${s.apiUrl}/request`,
        opts: {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/json" },
          body: JSON.stringify({ conversationId, type: "AUDIO", layout: "GRID", resolution: "1280x720", name: "load", priority: 1 }),
        },
      },
    ];
    let baseline: LoadResult | undefined;
    for (const c of cases) {
      await autocannon(c.url, { ...c.opts, seconds: 2 }); // warm-up, not recorded
      const load = loadNow();
      const r = await autocannon(c.url, c.opts);
      baseline ??= r;
      const clean = r.non2xx === 0 && r.errors === 0;
      report.add({
        metric: c.name,
        value: `${fmt.rps(r.rps)}, p50 ${fmt.ms(r.p50)}, p99 ${fmt.ms(r.p99)}`,
        baseline: c === cases[0] ? undefined : `${fmt.rps(baseline.rps)}, p50 ${fmt.ms(baseline.p50)}, p99 ${fmt.ms(baseline.p99)}`,
        ratio: c === cases[0] ? undefined : `${fmt.x(r.rps / baseline.rps)} rps`,
        note: `${r.requests} requests${clean ? "" : `, ${r.non2xx} non-2xx, ${r.errors} errors`}; load ${load}`,
      });
    }
  } finally {
    await s.dispose();
  }
  return [report];
}

runIfMain(import.meta.url, benchApi);
