// The real entry point as a process: startup line; SIGTERM drains for RENDERER_DRAIN_SECONDS and then
// hands a job still running back to the Worker (failed + retryable + handedBack) before exiting;
// SIGINT (Ctrl-C) hands it back at once.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTrack, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { processesMatching } from "./harness.ts";

const SERVER = fileURLToPath(new URL("../../container/src/server.ts", import.meta.url));
let fw: FakeWorker;
let child: ChildProcess | undefined;

beforeAll(async () => {
  fw = await FakeWorker.start();
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await fw.close();
});

function startServer(env: Record<string, string> = {}): Promise<{ port: number; lines: string[] }> {
  child = spawn(process.execPath, ["--import", "tsx", SERVER], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", SLOTS: "2", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line: ${lines.join("\n")}`)), 30_000);
    const onData = (d: Buffer) => {
      for (const line of d.toString().split("\n").filter(Boolean)) {
        lines.push(line);
        const m = /listening on port (\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ port: Number(m[1]), lines });
        }
      }
    };
    child!.stdout!.on("data", onData);
    child!.stderr!.on("data", onData);
    child!.once("exit", (code) => reject(new Error(`server exited (${code}): ${lines.join("\n")}`)));
  });
}

/** Starts a 5-minute 720p render (it cannot finish during these tests) and waits for its ffmpeg. */
async function startLongRender(port: number, jobId: string): Promise<void> {
  const dir = await tempDir("shutdown-");
  const cam = await makeTrack({
    dir,
    name: "cam",
    format: "webm",
    durationSec: 2,
    video: { color: "red", width: 320, height: 240 },
    audio: { frequency: 440 },
  });
  const job = await fw.withSizes(
    fw.job({
      jobId,
      type: "VIDEO",
      durationMs: 300_000,
      width: 1280,
      height: 720,
      tracks: [{ id: "cam", file: cam, offsetMs: 0, audio: true, video: true }],
    }),
  );
  const res = await fetch(`http://127.0.0.1:${port}/jobs`, { method: "POST", body: JSON.stringify(job) });
  expect(res.status).toBe(202);
  await fw.waitFor(() => processesMatching(`render-${jobId}-`).length > 0, 30_000, "ffmpeg to start");
}

describe("renderer process", () => {
  it("prints its engines, and on SIGTERM drains, then hands a job still running back and exits", async () => {
    const { port, lines } = await startServer({ RENDERER_DRAIN_SECONDS: "1" });
    expect(lines.find((l) => l.includes("listening"))).toMatch(/native ffmpeg \S+ .*ffmpeg\.wasm loaded/);
    await startLongRender(port, "shutdown-job");

    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    const t0 = Date.now();
    child!.kill("SIGTERM");
    const final = await fw.waitForFinal("shutdown-job", 10_000);
    // Not before the 1 s drain grace was over.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(final).toEqual({ event: "failed", attempt: 1, error: "renderer shutting down", retryable: true, handedBack: true });
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(processesMatching("render-shutdown-job-")).toEqual([]);
    // Its scratch dir (renderer-<pid>) went with it.
    expect(existsSync(join(tmpdir(), `renderer-${child!.pid}`))).toBe(false);
    expect(fw.uploads.has("shutdown-job")).toBe(false);
  });

  it("on SIGINT hands the running job back at once (no drain) and exits", async () => {
    const { port } = await startServer();
    await startLongRender(port, "sigint-job");
    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    const t0 = Date.now();
    child!.kill("SIGINT");
    expect(await fw.waitForFinal("sigint-job", 10_000)).toMatchObject({ event: "failed", retryable: true, handedBack: true });
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(processesMatching("render-sigint-job-")).toEqual([]);
  });
});
