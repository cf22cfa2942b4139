// The real entry point as a process: startup line, and SIGTERM handing a running job back to the
// Worker as failed + retryable before exiting.
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

function startServer(): Promise<{ port: number; lines: string[] }> {
  child = spawn(process.execPath, ["--import", "tsx", SERVER], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", SLOTS: "2" },
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

describe("renderer process", () => {
  it("prints its engines, and on SIGTERM fails running jobs as retryable and exits", async () => {
    const { port, lines } = await startServer();
    expect(lines.find((l) => l.includes("listening"))).toMatch(/native ffmpeg \S+ .*ffmpeg\.wasm loaded/);

    const dir = await tempDir("shutdown-");
    const cam = await makeTrack({ dir, name: "cam", format: "webm", durationSec: 2, video: { color: "red", width: 320, height: 240 }, audio: { frequency: 440 } });
    const job = await fw.withSizes(
      fw.job({
        jobId: "shutdown-job", type: "VIDEO", durationMs: 300_000, width: 1280, height: 720,
        tracks: [{ id: "cam", file: cam, offsetMs: 0, audio: true, video: true }],
      }),
    );
    const res = await fetch(`http://127.0.0.1:${port}/jobs`, { method: "POST", body: JSON.stringify(job) });
    expect(res.status).toBe(202);
    await fw.waitFor(() => processesMatching("render-shutdown-job-").length > 0, 30_000, "ffmpeg to start");

    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    const t0 = Date.now();
    child!.kill("SIGTERM");
    const final = await fw.waitForFinal("shutdown-job", 10_000);
    expect(final).toEqual({ event: "failed", attempt: 1, error: "renderer shutting down", retryable: true });
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(processesMatching("render-shutdown-job-")).toEqual([]);
    // Its scratch dir (renderer-<pid>) went with it.
    expect(existsSync(join(tmpdir(), `renderer-${child!.pid}`))).toBe(false);
    expect(fw.uploads.has("shutdown-job")).toBe(false);
  });
});
