// The work profile: a grid's progress counts its cameras, so the ETA of a call whose cameras join
// and leave neither reads low while they join nor high as they leave.
import { describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { planRender, type ProbeFacts } from "../../container/src/planner/index.ts";
import { planPart } from "../../container/src/planner/part.ts";
import { CAMERA_WEIGHT, workFraction } from "../../container/src/planner/work.ts";

function job(type: "AUDIO" | "VIDEO", offsetsMs: number[], durationMs: number, extra: Partial<RenderJob> = {}): RenderJob {
  return {
    ...extra,
    jobId: "j1",
    attempt: 1,
    type,
    format: type === "AUDIO" ? "MP3" : "MP4",
    width: 1280,
    height: 720,
    durationMs,
    tracks: offsetsMs.map((offsetMs, i) => ({
      id: `t${i}`,
      participantId: `p${i}`,
      url: "http://x/",
      offsetMs,
      audio: true,
      video: type === "VIDEO",
      size: 1,
    })),
    output: { url: "http://x/o", contentType: "video/mp4", multipartUrl: "http://x/m" },
    callback: { url: "http://x/r", token: "k" },
  };
}

const minute: ProbeFacts = { durationSec: 60, hasAudio: true, hasVideo: true };
const files = (n: number) => ({
  inputs: Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, `/in/${i}`])),
  output: "/out/o.mp4",
});
const plan = (type: "AUDIO" | "VIDEO", offsetsMs: number[], durationMs: number, extra: Partial<RenderJob> = {}) =>
  planRender(
    job(type, offsetsMs, durationMs, extra),
    Object.fromEntries(offsetsMs.map((_, i) => [`t${i}`, minute])),
    files(offsetsMs.length),
  );
const secondsOf = (p: { work?: { seconds: number }[] }) => p.work!.reduce((n, w) => n + w.seconds, 0);

describe("work profile", () => {
  // 4 cameras of a minute joining 5 s apart over 75 s: 1, 2, 3, 4 tiles, then 3, 2, 1 as they leave.
  const grid = plan("VIDEO", [0, 5000, 10000, 15000], 75_000);

  it("weighs each stretch of a grid by the cameras it shows", () => {
    expect(grid.work?.map((w) => [w.seconds, w.weight])).toEqual(
      [1, 2, 3, 4, 3, 2, 1].map((n, i) => [i === 3 ? 45 : 5, 1 + CAMERA_WEIGHT * n]),
    );
  });

  it("counts the ends, with fewer cameras, as less of the work than their share of the seconds", () => {
    // 15 s of 75 is 20 % of the time; with fewer cameras, less of the work.
    expect(workFraction(grid.work, 15, 75)).toBeLessThan(0.2);
    // The last 15 s (cameras leaving) likewise: at 60 s, more than 80 % of the work is done.
    expect(workFraction(grid.work, 60, 75)).toBeGreaterThan(0.8);
    expect(workFraction(grid.work, 0, 75)).toBe(0);
    expect(workFraction(grid.work, 75, 75)).toBe(1);
    expect(workFraction(grid.work, 80, 75)).toBe(1);
  });

  it("is monotonic and continuous across every layout change", () => {
    let last = 0;
    for (let t = 0; t <= 75; t += 0.04) {
      const f = workFraction(grid.work, t, 75);
      expect(f).toBeGreaterThanOrEqual(last);
      expect(f - last).toBeLessThan(0.002);
      last = f;
    }
  });

  it("counts seconds where the cost is even: a mix, a constant grid, the AUDIO part of a split", () => {
    const mix = plan("AUDIO", [0, 5000], 75_000);
    expect(mix.work).toBeUndefined();
    expect(workFraction(mix.work, 30, 75)).toBeCloseTo(0.4, 10);
    const steady = plan("VIDEO", [0, 0], 60_000);
    expect(steady.work).toEqual([{ seconds: 60, weight: 1 + 2 * CAMERA_WEIGHT }]);
    expect(workFraction(steady.work, 15, 60)).toBeCloseTo(0.25, 10);
    expect(planPart(grid, { kind: "AUDIO" }).work).toBeUndefined();
  });

  it("follows the output's order and length through trimmed spans and a VIDEO part of a split", () => {
    // Kept out of order: the output is 3–8 s, then 12–20 s, then 50–75 s of the recording.
    const keep = [
      { startMs: 50_000, endMs: 75_000 },
      { startMs: 3_000, endMs: 8_000 },
      { startMs: 12_000, endMs: 20_000 },
    ];
    const trimmed = plan("VIDEO", [0, 5000, 10000, 15000], 75_000, { keep });
    expect(secondsOf(trimmed)).toBeCloseTo(trimmed.durationSeconds, 6);
    // 3–5 s: 1 camera, 5–8: 2; 12–15: 3, 15–20: 4; 50–60: 4, 60–65: 3, 65–70: 2, 70–75: 1.
    expect(trimmed.work!.map((w) => [w.seconds, (w.weight - 1) / CAMERA_WEIGHT])).toEqual([
      [2, 1],
      [3, 2],
      [3, 3],
      [5, 4],
      [10, 4],
      [5, 3],
      [5, 2],
      [5, 1],
    ]);
    const part = planPart(plan("VIDEO", [0, 5000, 10000, 15000], 75_000, { keep: [{ startMs: 30_000, endMs: 60_000 }] }), {
      kind: "VIDEO",
      index: 1,
      count: 2,
    });
    expect(part.work).toEqual([{ seconds: 30, weight: 1 + 4 * CAMERA_WEIGHT }]);
  });

  it("is 1 at the end of an output whose length is off the frame grid", () => {
    const offGrid = plan("VIDEO", [0, 5000], 75_010);
    expect(secondsOf(offGrid)).toBeGreaterThan(offGrid.durationSeconds);
    expect(workFraction(offGrid.work, offGrid.durationSeconds, offGrid.durationSeconds)).toBe(1);
  });
});
