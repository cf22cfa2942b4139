// The renderer's ffmpeg.wasm engine, run from its own worker source with ONE line changed, so the
// engine benchmark can measure inputs above 1 MiB.
//
// The bug this works around (found by bench/engines.ts, to be fixed in wasm-worker.ts): copyIn()
// reads each 1 MiB chunk into a reused Node Buffer and hands it to MEMFS.write(), whose first write
// to an empty file keeps `buffer.slice(…)`. On a Uint8Array that is a copy; on a Node Buffer it is
// a view, so the file's first MiB is overwritten by every later chunk and any input larger than
// 1 MiB reaches ffmpeg.wasm corrupted ("EBML header parsing failed"). The fix is to read into a
// plain Uint8Array, as copyOut() already does.
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { Worker } from "node:worker_threads";
import { resolveCore } from "../../container/src/engines/wasm.ts";
import { WORKER_SOURCE } from "../../container/src/engines/wasm-worker.ts";
import type { Engine } from "../../container/src/engines/types.ts";
import type { RenderPlan } from "../../container/src/planner/types.ts";

const BUGGY = "const buf = Buffer.allocUnsafe(CHUNK);";
export const FIXED_SOURCE = WORKER_SOURCE.replace(BUGGY, "const buf = new Uint8Array(CHUNK);");
export const WORKER_NEEDS_FIX = WORKER_SOURCE.includes(BUGGY);

interface Done {
  type: string;
  id: number;
  ret: number;
  crashed?: string;
  log: string;
}

/** One warm instance of the (fixed) worker, exposed as an Engine. */
export async function fixedWasmEngine(): Promise<{ engine: Engine; close: () => Promise<number> }> {
  const { coreUrl, wasmPath } = resolveCore();
  const module = await WebAssembly.compile(await readFile(wasmPath));
  const worker = new Worker(FIXED_SOURCE, { eval: true, workerData: { module, coreUrl } });
  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", (m: { type: string; error?: string }) => (m.type === "ready" ? resolve() : reject(new Error(m.error))));
  });
  let seq = 0;
  const call = (msg: object) =>
    new Promise<Done>((resolve) => {
      const id = ++seq;
      const on = (m: Done) => {
        if (m.id !== id || m.type !== "done") return;
        worker.off("message", on);
        resolve(m);
      };
      worker.on("message", on);
      worker.postMessage({ ...msg, id });
    });
  const engine: Engine = {
    name: "wasm",
    async run(plan: RenderPlan): Promise<void> {
      const names = new Map<string, string>();
      plan.inputs.forEach((p, i) => names.set(p, `/in${i}${extname(p)}`));
      const outMem = `/out${extname(plan.output) || ".bin"}`;
      names.set(plan.output, outMem);
      const done = await call({
        args: plan.args.map((a) => names.get(a) ?? a),
        inputs: plan.inputs.map((p) => [p, names.get(p)!]),
        output: [outMem, plan.output],
      });
      if (done.crashed || done.ret !== 0) throw new Error(`ffmpeg.wasm failed (${done.crashed ?? done.ret}): ${done.log.split("\n").slice(-3).join(" | ")}`);
    },
  };
  return { engine, close: () => worker.terminate() };
}
