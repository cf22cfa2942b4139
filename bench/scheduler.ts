// 5. Scheduler: 1,000 jobs of random priority (0–10) requested through the API while a stub
// renderer of fixed capacity (CAPACITY slots, each job HOLD_MS) takes them; the real dispatcher
// (queue consumer → claimNext's SQL on D1 → POST /jobs) decides the order. Counted:
//  - priority inversions at dispatch: job J claimed while a job K of higher priority was waiting
//    (K's POST /request had returned before J's claim, and K was claimed after J). Goal: 0.
//  - dispatch throughput (jobs/s), against the stub's own ceiling CAPACITY / HOLD_MS (baseline).
import { ingestRecording, queryD1 } from "../test/e2e/harness.ts";
import { cachedTrack } from "./lib/media.ts";
import { fmt, loadNow, median, percentile, Report, runIfMain } from "./lib/report.ts";
import { benchStack, requestComposition, type BenchStack } from "./lib/stack.ts";
import { completeJob } from "./lib/stub-renderer.ts";

const JOBS = Number(process.env.BENCH_SCHEDULER_JOBS ?? 1000);
const CAPACITY = 4;
const HOLD_MS = 100;
const SUBMITTERS = 10;
const OUTPUT = Buffer.alloc(1024, 0xff);

/** Deterministic priorities (mulberry32), so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Submitted {
  id: string;
  priority: number;
  /** Date.now() when POST /request had answered (the job was QUEUED in D1 by then). */
  queuedBy: number;
}

export async function benchScheduler(): Promise<Report[]> {
  console.log(`\n# 5. scheduler: ${JOBS} jobs of random priority, stub renderer of ${CAPACITY} slots × ${HOLD_MS} ms`);
  const report = new Report("5 scheduler");
  /** performance.now() when each job's completion report had been taken (its slot free again). */
  const freed: number[] = [];
  /** How long each completion (output upload + report) took: the slot is busy meanwhile. */
  const completing: number[] = [];
  const s: BenchStack = await benchStack({
    stub: {
      capacity: CAPACITY,
      onAccept: async (job) => {
        await new Promise((r) => setTimeout(r, HOLD_MS));
        const t = performance.now();
        await completeJob(job, OUTPUT);
        freed.push(performance.now());
        completing.push(performance.now() - t);
      },
    },
  });
  try {
    const conversationId = "bench-scheduler";
    const track = await cachedTrack({ name: "api-2s", format: "webm", durationSec: 2, audio: { frequency: 440 } });
    await ingestRecording(s, conversationId, 2, [
      { id: "t0", participantId: "p0", start: 0, audio: true, video: false, file: track, contentType: "audio/webm" },
    ]);

    const random = rng(20261120);
    const priorities = Array.from({ length: JOBS }, () => Math.floor(random() * 11));
    const submitted: Submitted[] = [];
    const load = loadNow();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SUBMITTERS }, async () => {
        for (let i = next++; i < JOBS; i = next++) {
          const r = await requestComposition(s, { conversationId, type: "AUDIO", priority: priorities[i]!, name: `job-${i}` });
          submitted.push({ id: r.id, priority: priorities[i]!, queuedBy: Date.now() });
        }
      }),
    );
    const submitSec = (performance.now() - t0) / 1000;
    const deadline = Date.now() + 20 * 60_000;
    while (s.stub!.dispatches.length < JOBS || s.stub!.running() > 0) {
      if (Date.now() > deadline) throw new Error(`only ${s.stub!.dispatches.length} of ${JOBS} dispatched`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const rows = await queryD1<{ id: string; priority: number; started_at: number; state: string; attempts: number }>(
      s,
      `SELECT id, priority, started_at, state, attempts FROM compositions WHERE conversation_id = '${conversationId}'`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const jobs = submitted.map((j) => ({ ...j, claimedAt: byId.get(j.id)!.started_at, state: byId.get(j.id)!.state }));
    const notDone = jobs.filter((j) => j.state !== "COMPLETED").length;

    // Inversions: for each dispatched J, a K of higher priority already queued and still waiting.
    let inversions = 0;
    let worstSkipped = 0;
    for (const j of jobs) {
      const waiting = jobs.filter((k) => k.priority > j.priority && k.queuedBy < j.claimedAt && k.claimedAt > j.claimedAt);
      if (waiting.length) {
        inversions++;
        worstSkipped = Math.max(worstSkipped, ...waiting.map((k) => k.priority - j.priority));
      }
    }
    const d = s.stub!.dispatches;
    const accepted = d.map((x) => x.at).sort((a, b) => a - b);
    const span = (accepted[accepted.length - 1]! - accepted[0]!) / 1000;
    const throughput = (d.length - 1) / span;
    const ceiling = CAPACITY / (HOLD_MS / 1000);
    const redispatched = d.length - new Set(d.map((x) => x.jobId)).size;

    // How long a freed slot stays empty: each freeing matched with the next dispatch after it.
    const refill: number[] = [];
    let k = 0;
    for (const f of [...freed].sort((a, b) => a - b)) {
      while (k < accepted.length && accepted[k]! < f) k++;
      if (k >= accepted.length) break;
      refill.push(accepted[k++]! - f);
    }
    const cycle = HOLD_MS + median(completing) + median(refill);
    report.note(
      `a slot's cycle (medians): held ${HOLD_MS} ms + completing (output PUT + report, through the Worker) ${fmt.ms(median(completing))} + empty until the next dispatch (report → queue wake-up → batch → claim → POST /jobs) ${fmt.ms(median(refill))} (p90 ${fmt.ms(percentile(refill, 90))}) = ${fmt.ms(cycle)} → ${CAPACITY} slots ≈ ${((CAPACITY * 1000) / cycle).toFixed(1)} jobs/s`,
    );
    report.note(
      `${JOBS} requests in ${fmt.s(submitSec)} (${(JOBS / submitSec).toFixed(0)}/s, ${SUBMITTERS} at a time); ${s.stub!.refused} dispatches refused as busy and requeued; ${redispatched} jobs dispatched twice; ${notDone} not COMPLETED; load ${load} → ${loadNow()}`,
    );
    report.add({
      metric: "priority inversions at dispatch",
      value: String(inversions),
      goal: "0",
      met: inversions === 0,
      note: inversions
        ? `largest priority gap skipped: ${worstSkipped}`
        : `${JOBS} dispatches checked against every job queued before them`,
    });
    report.add({
      metric: "dispatch throughput",
      value: `${throughput.toFixed(1)} jobs/s`,
      baseline: `${ceiling.toFixed(0)} jobs/s (stub ceiling: ${CAPACITY} slots / ${HOLD_MS} ms)`,
      ratio: fmt.x(throughput / ceiling),
      note: `first to last dispatch ${fmt.s(span)}`,
    });
  } finally {
    await s.dispose();
  }
  return [report];
}

runIfMain(import.meta.url, benchScheduler);
