import { describe, expect, it } from "vitest";
import { frameToSeconds, segments, totalFrames, videoSpans } from "../../container/src/planner/timeline.ts";
import type { PlanTrack } from "../../container/src/planner/types.ts";

const track = (id: string, offsetSec: number, durationSec: number, video = true): PlanTrack => ({
  id,
  path: `/in/${id}`,
  offsetSec,
  durationSec,
  audio: true,
  video,
});

describe("timeline", () => {
  it("places tracks on the 25 fps frame grid and clips them to the span", () => {
    const spans = videoSpans([track("a", 0, 12), track("b", 3.01, 100), track("c", 20, 5), track("d", 1, 2, false)], totalFrames(12));
    expect(spans).toEqual([
      { id: "a", startFrame: 0, endFrame: 300, order: 0 },
      { id: "b", startFrame: 75, endFrame: 300, order: 1 },
    ]);
  });

  it("cuts segments at every join and leave, tiles ordered by join time", () => {
    // a 0–12, b 3–9, c 6–12, d (joins first but listed last) 0–1.
    const tracks = [track("a", 0.5, 11.5), track("b", 3, 6), track("c", 6, 6), track("d", 0, 1)];
    const segs = segments(videoSpans(tracks, 300), 300);
    // 0.5 s is frame 12.5, rounded to frame 13 (0.52 s).
    expect(segs.map((s) => [s.startFrame / 25, s.endFrame / 25, s.live])).toEqual([
      [0, 0.52, ["d"]],
      [0.52, 1, ["d", "a"]],
      [1, 3, ["a"]],
      [3, 6, ["a", "b"]],
      [6, 9, ["a", "b", "c"]],
      [9, 12, ["a", "c"]],
    ]);
  });

  it("covers the whole span, with empty segments where nobody has video", () => {
    const segs = segments(videoSpans([track("a", 2, 2)], 150), 150);
    expect(segs).toEqual([
      { startFrame: 0, endFrame: 50, live: [] },
      { startFrame: 50, endFrame: 100, live: ["a"] },
      { startFrame: 100, endFrame: 150, live: [] },
    ]);
    expect(segments([], 10)).toEqual([{ startFrame: 0, endFrame: 10, live: [] }]);
  });

  it("keeps one segment when a leave and a join fall on the same frame but merges nothing else", () => {
    const segs = segments(videoSpans([track("a", 0, 2), track("b", 2, 2)], 100), 100);
    expect(segs.map((s) => s.live)).toEqual([["a"], ["b"]]);
  });

  it("segments are contiguous and every live id really is live (random joins/leaves)", () => {
    for (let n = 0; n < 200; n++) {
      const total = 1 + Math.floor(Math.random() * 500);
      const tracks = Array.from({ length: 1 + Math.floor(Math.random() * 8) }, (_, i) =>
        track(`t${i}`, Math.random() * 25, Math.random() * 25),
      );
      const spans = videoSpans(tracks, total);
      const segs = segments(spans, total);
      expect(segs[0]!.startFrame).toBe(0);
      expect(segs[segs.length - 1]!.endFrame).toBe(total);
      segs.forEach((s, i) => {
        if (i > 0) expect(s.startFrame).toBe(segs[i - 1]!.endFrame);
        expect(s.endFrame).toBeGreaterThan(s.startFrame);
        for (const f of [s.startFrame, s.endFrame - 1]) {
          const live = spans
            .filter((sp) => sp.startFrame <= f && f < sp.endFrame)
            .map((sp) => sp.id)
            .sort();
          expect([...s.live].sort()).toEqual(live);
        }
      });
    }
  });

  it("formats frame times as exact decimals", () => {
    expect(frameToSeconds(0)).toBe("0");
    expect(frameToSeconds(113)).toBe("4.52");
    expect(frameToSeconds(7)).toBe("0.28");
    expect(totalFrames(7)).toBe(175);
    expect(totalFrames(7.01)).toBe(176);
  });
});
