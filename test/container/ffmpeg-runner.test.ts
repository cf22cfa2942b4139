// The one ffmpeg runner every native engine uses: progress from -progress, the stderr tail, stop and
// abort (SIGTERM, SIGKILL after the grace), and what an exit means.
import { describe, expect, it } from "vitest";
import { exitError, FFMPEG_BASE_ARGS, KILL_GRACE_MS, PROGRESS_ARGS, spawnFfmpeg } from "../../container/src/engines/ffmpeg-runner.ts";
import { EngineError } from "../../container/src/engines/types.ts";
import { FFMPEG } from "../fixtures/media.ts";

/** ffmpeg making a sine in real time (-re) to nowhere, until stopped. */
const LIVE = [...FFMPEG_BASE_ARGS, ...PROGRESS_ARGS, "-re", "-f", "lavfi", "-i", "sine=frequency=440", "-f", "null", "-"];

describe("ffmpeg runner", () => {
  it("reports the output position from -progress and a clean exit", async () => {
    const seen: number[] = [];
    const run = spawnFfmpeg(FFMPEG, [...FFMPEG_BASE_ARGS, ...PROGRESS_ARGS, "-f", "lavfi", "-i", "sine=duration=3", "-f", "null", "-"], {
      onProgress: (s) => seen.push(s),
    });
    const exit = await run.exit;
    expect(exit).toMatchObject({ code: 0, stopped: false });
    expect(exitError("ffmpeg", exit)).toBeUndefined();
    expect(seen.at(-1)).toBeCloseTo(3, 1);
    expect(seen.every((s, i) => i === 0 || s >= seen[i - 1]!)).toBe(true);
  });

  it("an abort stops ffmpeg at once; its exit (255 on SIGTERM) is marked as ours", async () => {
    const abort = new AbortController();
    const seen: number[] = [];
    const run = spawnFfmpeg(FFMPEG, LIVE, { signal: abort.signal, onProgress: (s) => seen.push(s) });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    abort.abort();
    const exit = await run.exit;
    expect(Date.now() - t0).toBeLessThan(KILL_GRACE_MS);
    expect(exit).toMatchObject({ code: 255, stopped: true });
    // Still a failure of the process when asked; callers that stopped it do not ask.
    expect(exitError("mixer", exit)).toBeInstanceOf(EngineError);
  });

  it("a process that ignores SIGTERM is killed after the grace period", async () => {
    const run = spawnFfmpeg("sh", ["-c", "trap '' TERM; echo ready; exec sleep 30"]);
    await new Promise((r) => run.child.stdout!.once("data", r));
    const t0 = Date.now();
    run.stop();
    const exit = await run.exit;
    const took = Date.now() - t0;
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL", stopped: true });
    expect(took).toBeGreaterThanOrEqual(KILL_GRACE_MS - 50);
    expect(took).toBeLessThan(KILL_GRACE_MS + 2000);
    // Killed from outside: retryable.
    expect(exitError("encoder 1", exit)).toMatchObject({ message: "encoder 1 failed (SIGKILL): no error output", retryable: true });
  });

  it("a failure is named after the process with the last lines of its error output, kept bounded", async () => {
    const exit = await spawnFfmpeg(FFMPEG, [...FFMPEG_BASE_ARGS, "-i", "/nonexistent/input.webm", "-f", "null", "-"]).exit;
    expect(exit.code).not.toBe(0);
    expect(exit.stopped).toBe(false);
    const e = exitError("decoder 0", exit)!;
    expect(e.message).toMatch(/^decoder 0 failed \(\d+\): .*No such file or directory/);
    expect(e.retryable).toBe(false);
    const noisy = await spawnFfmpeg("sh", ["-c", "for i in $(seq 1 100); do echo line $i >&2; done; exit 3"], { tailLines: 5 }).exit;
    expect(noisy.log.split("\n")).toEqual(["line 96", "line 97", "line 98", "line 99", "line 100"]);
    expect(exitError("ffmpeg", noisy)!.message).toBe("ffmpeg failed (3): line 98 | line 99 | line 100");
  });

  it("a binary that cannot start is told as such, and keeps stdout when asked", async () => {
    const exit = await spawnFfmpeg("/nonexistent/ffmpeg", ["-version"]).exit;
    expect(exit.error).toBeInstanceOf(Error);
    expect(exitError("ffprobe", exit)!.message).toMatch(/^cannot start ffprobe: spawn \/nonexistent\/ffmpeg ENOENT/);
    const out = await spawnFfmpeg("sh", ["-c", "printf 'a\\nb'"], { keepStdout: true }).exit;
    expect(out).toMatchObject({ code: 0, stdout: "a\nb" });
  });
});
