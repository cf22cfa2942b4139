import { describe, expect, it } from "vitest";
import { FANOUT_COSTS, modelPlan, planFanout, singleSeconds, splitSeconds } from "../../worker/jobs/fanout-plan.ts";

const video = (outputMs: number, instances: number, forcedSegmentSeconds: number | null = null) =>
  planFanout({ type: "VIDEO", outputMs, trimmed: false, instances, forcedSegmentSeconds });

describe("the fan-out model (pure)", () => {
  it("never splits a short call, a single instance, an AUDIO composition or a trimmed one", () => {
    expect(video(90_000, 8)).toBeNull();
    expect(video(3_600_000, 1)).toBeNull();
    expect(planFanout({ type: "AUDIO", outputMs: 3_600_000, trimmed: false, instances: 8, forcedSegmentSeconds: null })).toBeNull();
    expect(planFanout({ type: "VIDEO", outputMs: 3_600_000, trimmed: true, instances: 8, forcedSegmentSeconds: null })).toBeNull();
  });

  it("splits a 60-minute call over 9 instances into 8 contiguous windows (and the AUDIO part) on the 25 fps frame grid", () => {
    const w = video(3_600_020, 9)!;
    expect(w).toHaveLength(8);
    expect(w[0]!.startMs).toBe(0);
    expect(w.at(-1)!.endMs).toBe(3_600_020);
    for (let k = 1; k < w.length; k++) {
      expect(w[k]!.startMs).toBe(w[k - 1]!.endMs);
      expect(w[k]!.startMs % 40).toBe(0);
    }
  });

  it("forced segments are of that length from the start, the remainder last", () => {
    expect(video(75_000, 1, 30)).toEqual([
      { startMs: 0, endMs: 30_000 },
      { startMs: 30_000, endMs: 60_000 },
      { startMs: 60_000, endMs: 75_000 },
    ]);
  });

  it("counts the AUDIO part beside one VIDEO part: more parts shorten only the grid's share", () => {
    const hour = 3600;
    expect(splitSeconds(hour, 8) - splitSeconds(hour, 16)).toBeCloseTo((hour * FANOUT_COSTS.renderPerSecond) / 16, 6);
    expect(splitSeconds(hour, 8)).toBeGreaterThan((hour * FANOUT_COSTS.audioPerSecond) / 2 + FANOUT_COSTS.partFixedSeconds);
    expect(singleSeconds(hour)).toBeGreaterThan(splitSeconds(hour, 2));
  });

  it("leaves an instance to the AUDIO part when that is faster: 7 VIDEO parts on 8 instances, 32 on 32", () => {
    const hour = 3600;
    const on8 = modelPlan(hour, 8);
    expect(on8.parts).toBe(7);
    expect(on8.seconds).toBeCloseTo(splitSeconds(hour, 7, FANOUT_COSTS, true), 6);
    expect(on8.seconds).toBeLessThan(splitSeconds(hour, 8));
    // With 32, the hour's mix alone would outlast a 32nd of the grid: beside one part is faster.
    expect(modelPlan(hour, 32)).toEqual({ parts: 32, seconds: splitSeconds(hour, 32) });
  });
});
