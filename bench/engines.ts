// 2. Engine choice for audio-only jobs: ffmpeg.wasm in-process (module compiled and an instance
// warm, as in the running renderer) against spawning native ffmpeg, on the same plan, for
// recordings of 2 participants (Opus WebM, 64 kb/s each) of 10 s, 1, 5 and 20 min (and 2 s, to
// locate a crossover below 10 s). The crossover in input bytes is the wasm threshold.
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { WASM_MAX_INPUT_BYTES } from "../container/src/engines/choose.ts";
import { createNativeEngine } from "../container/src/engines/native.ts";
import { withParallelAudio } from "../container/src/engines/parallel-audio.ts";
import type { Engine } from "../container/src/engines/types.ts";
import { createWasmRuntime } from "../container/src/engines/wasm.ts";
import { FFMPEG, tempDir } from "../test/fixtures/media.ts";
import { audioSpecs, cachedCut, cachedTracks } from "./lib/media.ts";
import { localJob, localPlan } from "./lib/plans.ts";
import { fmt, median, Report, runIfMain } from "./lib/report.ts";

const DURATIONS = [2, 10, 60, 300, 1200];
const REPS: Record<number, number> = { 2: 5, 10: 5, 60: 3, 300: 1, 1200: 1 };

async function timeRun(engine: Engine, plan: Parameters<Engine["run"]>[0], reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await engine.run(plan, { signal: new AbortController().signal, onProgress: () => {} });
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

export async function benchEngines(): Promise<Report[]> {
  console.log("\n# 2. engine choice for audio-only jobs: native ffmpeg vs ffmpeg.wasm in-process");
  const report = new Report("2 engines (audio)");
  const dir = await tempDir("bench-engines-");
  const sources = await cachedTracks(audioSpecs(2, 1800));
  const shipped = createWasmRuntime();
  const native = createNativeEngine(FFMPEG);
  try {
    await shipped.load();
    const rows: { seconds: number; bytes: number; native: number; pipeline: number; wasm: number }[] = [];
    for (const d of DURATIONS) {
      const files = await Promise.all(sources.map((src, i) => cachedCut(src, `engine-${d}s-p${i}`, d)));
      const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
      const job = localJob({
        type: "AUDIO",
        spanSec: d,
        tracks: files.map((file, i) => ({ file, offsetSec: i === 0 ? 0 : Math.min(2, d / 5), audio: true, video: false })),
      });
      const { plan } = await localPlan(job, files, join(dir, `out-${d}.mp3`));
      // One untimed run each: page cache, and wasm's lazily compiled functions for this graph.
      if (d <= 60) {
        await timeRun(shipped.engine, plan, 1);
        await timeRun(native, plan, 1);
      }
      const reps = REPS[d] ?? 1;
      const n = await timeRun(native, plan, reps);
      const p = d >= 60 ? await timeRun(withParallelAudio(native, { minSeconds: 0 }), plan, reps) : n;
      const w = await timeRun(shipped.engine, plan, reps);
      rows.push({ seconds: d, bytes, native: n, pipeline: p, wasm: w });
      const label = d < 60 ? `${d} s` : `${d / 60} min`;
      report.add({
        metric: `${label} (${(bytes / 2 ** 20).toFixed(2)} MiB in)`,
        value: `wasm ${fmt.s(w)}`,
        baseline: `native ${fmt.s(n)}${d >= 60 ? `, native pipeline ${fmt.s(p)}` : ""}`,
        ratio: fmt.x(Math.min(n, p) / w),
        note: w < Math.min(n, p) ? "wasm faster" : "native faster",
      });
    }
    // Crossover: where wasm time = best native time, interpolated on log(duration).
    let crossover: number | null = null;
    for (let i = 0; i + 1 < rows.length; i++) {
      const a = rows[i]!;
      const b = rows[i + 1]!;
      const ra = Math.log(a.wasm / Math.min(a.native, a.pipeline));
      const rb = Math.log(b.wasm / Math.min(b.native, b.pipeline));
      if (ra <= 0 && rb > 0) {
        const f = ra / (ra - rb);
        const sec = Math.exp(Math.log(a.seconds) + f * (Math.log(b.seconds) - Math.log(a.seconds)));
        crossover = a.bytes + ((b.bytes - a.bytes) * (sec - a.seconds)) / (b.seconds - a.seconds);
        report.note(`wasm stops paying at ≈ ${sec.toFixed(1)} s of 2-participant audio ≈ ${(crossover / 2 ** 20).toFixed(2)} MiB of input`);
      }
    }
    if (crossover === null) {
      const first = rows[0]!;
      if (first.wasm > Math.min(first.native, first.pipeline))
        report.note("wasm is slower at every size measured: the threshold is below the smallest job");
      else report.note("wasm is faster at every size measured");
    }
    // A failed wasm run throws above: reaching here means it took every size.
    report.note("the shipped wasm engine rendered every size (inputs over 1 MiB included)");
    const recommended = crossover ?? (rows[0]!.wasm > rows[0]!.native ? 0 : Infinity);
    report.add({
      metric: "wasm threshold (input bytes)",
      value: Number.isFinite(recommended) ? `${(recommended / 2 ** 20).toFixed(2)} MiB (measured crossover)` : "none (wasm always faster)",
      baseline: `${(WASM_MAX_INPUT_BYTES / 2 ** 20).toFixed(2)} MiB (current WASM_MAX_INPUT_BYTES)`,
      note: "RENDERER_WASM_MAX_BYTES overrides it",
    });
  } finally {
    await shipped.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return [report];
}

runIfMain(import.meta.url, benchEngines);
