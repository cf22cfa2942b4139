// ffmpeg.wasm (@ffmpeg/core, single-threaded build) in-process. The 32 MB module is compiled ONCE;
// each worker thread instantiates it (~0.1 s) and its instance is reused across exec calls —
// measured: after core.reset() a second exec (even after a failed one) works and is ~6× faster
// than the first. Instances are recycled after MAX_RUNS to bound leaks in long-lived processes,
// and discarded after a crash or a cancel (terminate() is the only way to stop a running exec).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { devNull } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { audioGraph } from "../planner/audio-graph.ts";
import type { RenderPlan } from "../planner/types.ts";
import { EngineError, type Engine, type FfprobeRunner, type RunOptions } from "./types.ts";
import { WORKER_SOURCE } from "./wasm-worker.ts";

const MAX_RUNS = 50;
const MAX_IDLE = 2;

interface Done {
  type: "done";
  id: number;
  ret: number;
  crashed?: string;
  stdout: string;
  log: string;
}

interface Call {
  args: string[];
  inputs: [host: string, mem: string][];
  output?: [mem: string, host: string];
  probe?: boolean;
  keepStdout?: boolean;
}

/** Where @ffmpeg/core's ESM build and its wasm live (works from source, tests and the bundle). */
export function resolveCore(): { coreUrl: string; wasmPath: string } {
  let coreUrl: string;
  try {
    coreUrl = import.meta.resolve("@ffmpeg/core");
  } catch {
    const umd = createRequire(import.meta.url).resolve("@ffmpeg/core");
    coreUrl = pathToFileURL(join(dirname(umd), "..", "esm", "ffmpeg-core.js")).href;
  }
  return { coreUrl, wasmPath: join(dirname(fileURLToPath(coreUrl)), "ffmpeg-core.wasm") };
}

class Instance {
  runs = 0;
  dead = false;
  private seq = 0;
  private constructor(private readonly worker: Worker) {
    worker.on("exit", () => (this.dead = true));
    // An idle instance must not keep the process alive.
    worker.unref();
  }

  static start(module: WebAssembly.Module, coreUrl: string): Promise<Instance> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, coreUrl } });
      worker.once("error", reject);
      worker.once("message", (m: { type: string; error?: string }) => {
        if (m.type === "ready") resolve(new Instance(worker));
        else reject(new Error(`ffmpeg.wasm failed to load: ${m.error}`));
      });
    });
  }

  call(msg: Call, onProgress?: (s: number) => void, signal?: AbortSignal): Promise<Done> {
    const id = ++this.seq;
    this.runs++;
    this.worker.ref();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.worker.off("message", onMessage);
        this.worker.off("error", onError);
        this.worker.off("exit", onExit);
        signal?.removeEventListener("abort", onAbort);
        this.worker.unref();
      };
      const onMessage = (m: { type: string; id: number; seconds?: number }) => {
        if (m.id !== id) return;
        if (m.type === "progress" && m.seconds !== undefined) onProgress?.(m.seconds);
        if (m.type === "done") {
          cleanup();
          resolve(m as Done);
        }
      };
      const onError = (e: Error) => {
        cleanup();
        this.kill();
        reject(new EngineError(`ffmpeg.wasm crashed: ${e.message}`, "", true));
      };
      const onExit = () => {
        cleanup();
        reject(new EngineError("ffmpeg.wasm worker exited", "", true));
      };
      const onAbort = () => {
        cleanup();
        this.kill();
        reject(signal?.reason);
      };
      if (signal?.aborted) return onAbort();
      this.worker.on("message", onMessage);
      this.worker.on("error", onError);
      this.worker.on("exit", onExit);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.worker.postMessage({ ...msg, id });
    });
  }

  kill(): void {
    this.dead = true;
    void this.worker.terminate();
  }
}

/**
 * One small mix through the usual audio path (resample, delay, amix, limiter, MP3). V8 compiles
 * wasm functions lazily into the shared module: measured, a fresh instance created after this
 * runs a first job in ~0.1 s instead of ~0.6 s.
 */
const WARM_UP: Call = {
  args: [
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:duration=1",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=660:duration=1",
    "-filter_complex",
    audioGraph(
      [
        { input: 0, offsetMs: 0 },
        { input: 1, offsetMs: 300 },
      ],
      1500,
    ).join(";"),
    "-map",
    "[aout]",
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-f",
    "mp3",
    "/warm.mp3",
  ],
  inputs: [],
  output: ["/warm.mp3", devNull],
};

export interface WasmRuntime {
  engine: Engine;
  ffprobe: FfprobeRunner;
  /** Compiles the module and warms one instance; rejects if @ffmpeg/core cannot load. */
  load(): Promise<void>;
  loaded(): boolean;
  close(): Promise<void>;
}

type Caller = (msg: Call, onProgress?: (s: number) => void, signal?: AbortSignal) => Promise<Done>;

/** The compiled module and its instances: idle ones reused, busy ones tracked for close(). */
class InstancePool {
  private module: Promise<WebAssembly.Module> | undefined;
  private readonly idle: Instance[] = [];
  private readonly busy = new Set<Instance>();
  constructor(
    private readonly coreUrl: string,
    private readonly wasmPath: string,
  ) {}

  compile(): Promise<WebAssembly.Module> {
    return (this.module ??= readFile(this.wasmPath).then((bytes) => WebAssembly.compile(bytes)));
  }

  async start(): Promise<Instance> {
    const inst = await Instance.start(await this.compile(), this.coreUrl);
    this.busy.add(inst);
    return inst;
  }

  async acquire(): Promise<Instance> {
    for (let inst = this.idle.pop(); inst; inst = this.idle.pop()) {
      if (!inst.dead) {
        this.busy.add(inst);
        return inst;
      }
    }
    return this.start();
  }

  release(inst: Instance, healthy: boolean): void {
    this.busy.delete(inst);
    if (healthy && !inst.dead && inst.runs < MAX_RUNS && this.idle.length < MAX_IDLE) this.idle.push(inst);
    else if (!inst.dead) inst.kill();
  }

  readonly call: Caller = async (msg, onProgress, signal) => {
    const inst = await this.acquire();
    let healthy = false;
    try {
      const done = await inst.call(msg, onProgress, signal);
      healthy = !done.crashed;
      return done;
    } finally {
      this.release(inst, healthy);
    }
  };

  close(): void {
    for (const inst of [...this.idle, ...this.busy]) inst.kill();
    this.idle.length = 0;
  }
}

function wasmEngine(call: Caller): Engine {
  return {
    name: "wasm",
    async run(plan: RenderPlan, opts: RunOptions): Promise<void> {
      // Its in-memory FS knows nothing of ours: inputs are copied in, paths rewritten, output copied out.
      const names = new Map<string, string>();
      plan.inputs.forEach((p, i) => names.set(p, `/in${i}${extname(p)}`));
      const outMem = `/out${extname(plan.output) || ".bin"}`;
      names.set(plan.output, outMem);
      const args = plan.args.map((a) => names.get(a) ?? a);
      const done = await call(
        { args, inputs: plan.inputs.map((p) => [p, names.get(p)!]), output: [outMem, plan.output] },
        opts.onProgress,
        opts.signal,
      );
      if (done.crashed) throw new EngineError(`ffmpeg.wasm crashed: ${done.crashed}`, done.log, true);
      if (done.ret !== 0) {
        const last = done.log
          .split("\n")
          .filter((l) => !/^Aborted/.test(l))
          .slice(-3)
          .join(" | ");
        throw new EngineError(`ffmpeg.wasm failed (${done.ret}): ${last}`, done.log);
      }
    },
  };
}

function wasmFfprobe(call: Caller): FfprobeRunner {
  return async (file, args, signal) => {
    const mem = `/probe${extname(file)}`;
    const done = await call({ args: [...args, mem], inputs: [[file, mem]], probe: true, keepStdout: true }, undefined, signal);
    if (done.crashed) throw new EngineError(`ffprobe.wasm crashed: ${done.crashed}`, done.log);
    // ffprobe's return code is not reported by this build; callers judge by the output.
    return { stdout: done.stdout, stderr: done.log.split(mem).join(file) };
  };
}

export function createWasmRuntime(): WasmRuntime {
  const { coreUrl, wasmPath } = resolveCore();
  const pool = new InstancePool(coreUrl, wasmPath);
  let ok = false;
  return {
    engine: wasmEngine(pool.call),
    ffprobe: wasmFfprobe(pool.call),
    async load() {
      const inst = await pool.start();
      ok = true;
      // In the background: nothing waits for the warm-up, a job arriving meanwhile gets its own instance.
      void inst.call(WARM_UP).then(
        (done) => pool.release(inst, !done.crashed),
        () => pool.release(inst, false),
      );
    },
    loaded: () => ok,
    async close() {
      pool.close();
    },
  };
}
