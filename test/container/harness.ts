// Starts an in-process renderer against a FakeWorker for the integration tests.
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { expect } from "vitest";
import type { RenderJob, RenderReport } from "../../contract/renderer.ts";
import { parseRendererConfig } from "../../container/src/config.ts";
import { setupEngines, type EngineSet } from "../../container/src/engines/setup.ts";
import type { JobOutcome } from "../../container/src/job.ts";
import { createRenderer, type Renderer, type RendererOptions } from "../../container/src/server.ts";
import type { FakeWorker } from "./fake-worker.ts";

export interface RunningRenderer {
  url: string;
  renderer: Renderer;
  engines: EngineSet;
  outcomes: Map<string, JobOutcome>;
  logs: string[];
  post(job: RenderJob | unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startRenderer(
  o: Partial<Omit<RendererOptions, "engines">> & { env?: NodeJS.ProcessEnv; engines?: EngineSet } = {},
): Promise<RunningRenderer> {
  const engines = o.engines ?? (await setupEngines(parseRendererConfig({ ...process.env, ...o.env }).engines));
  const outcomes = new Map<string, JobOutcome>();
  const logs: string[] = [];
  const renderer = createRenderer({
    tmpRoot: tmpdir(),
    ...o,
    engines,
    log: (l) => logs.push(l),
    onOutcome: (job, outcome) => outcomes.set(job.jobId, outcome),
  });
  const port = await renderer.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    renderer,
    engines,
    outcomes,
    logs,
    async post(job) {
      const res = await fetch(`${url}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(job),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    close: () => renderer.shutdown(),
  };
}

/** Pids of live processes whose command line contains `needle` (e.g. a job's temp dir name). */
export function processesMatching(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const state = /^State:\s+(\w)/m.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1];
      if (cmd.includes(needle) && state !== "Z") pids.push(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Posts a job to the renderer, waits for it to complete, and returns its uploaded output and final report. */
export async function renderCompleted(fw: FakeWorker, r: RunningRenderer, job: RenderJob, timeoutMs = 90_000) {
  expect((await r.post(await fw.withSizes(job))).status).toBe(202);
  const final = await fw.waitForFinal(job.jobId, timeoutMs);
  expect(final, `${JSON.stringify(final)}\n${r.logs.join("\n")}`).toMatchObject({ event: "completed" });
  return { path: fw.uploads.get(job.jobId)!.path, final: final as Extract<RenderReport, { event: "completed" }> };
}
