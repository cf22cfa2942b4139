// The time windows of a long MP3 encode (pure layout; the encode itself is in engines.test.ts).
import { describe, expect, it } from "vitest";
import { chunkCount, chunkLayout, ROLL_FRAMES } from "../../container/src/engines/chunked-mp3.ts";
import { SAMPLES_PER_FRAME } from "../../container/src/engines/mp3-splice.ts";

describe("chunk layout", () => {
  it("gives each encoder one window of at least the minimum length, and none on one core", () => {
    expect(chunkCount(1800, 2)).toBe(2);
    expect(chunkCount(1800, 4)).toBe(4);
    expect(chunkCount(100, 2)).toBe(1);
    expect(chunkCount(150, 4)).toBe(2);
    expect(chunkCount(1800, 1)).toBe(1);
  });

  it("cuts on the 1152-sample frame grid with overlapping windows around each join", () => {
    const total = 1800 * 48_000;
    const { windows, cutsFrom } = chunkLayout(total, 3);
    expect(windows).toHaveLength(3);
    expect(cutsFrom).toHaveLength(2);
    for (const w of windows) expect(w.start % SAMPLES_PER_FRAME).toBe(0);
    expect(windows[0]!.start).toBe(0);
    expect(windows[2]!.end).toBe(Infinity);
    cutsFrom.forEach((c, k) => {
      // The next window starts ROLL_FRAMES before the join; this one ends ROLL_FRAMES after it.
      expect(windows[k + 1]!.start).toBe((c - ROLL_FRAMES) * SAMPLES_PER_FRAME);
      expect(windows[k]!.end).toBe((c + ROLL_FRAMES) * SAMPLES_PER_FRAME);
    });
    // Joins split the frames evenly.
    expect(cutsFrom[0]! / (total / SAMPLES_PER_FRAME)).toBeCloseTo(1 / 3, 3);
  });

  it("keeps one window when the mix is too short to overlap", () => {
    expect(chunkLayout(48_000 * 4, 2)).toEqual({ windows: [{ start: 0, end: Infinity }], cutsFrom: [] });
  });
});
