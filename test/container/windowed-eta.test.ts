// The windowed AUDIO render's time left (windowed-eta.ts): the mix still to do, slower while an
// encoder shares the cores, then the last window's encode, which starts only when the mix is done.
import { describe, expect, it } from "vitest";
import { WindowedEta } from "../../container/src/engines/windowed-eta.ts";

// 10 minutes in two windows overlapping by a second, on 2 cores; one encoder alone does 130 s/s.
const windows = [
  { from: 0, to: 301 },
  { from: 299, to: 600 },
];

describe("WindowedEta", () => {
  it("has no estimate until the mixer has moved", () => {
    const eta = new WindowedEta(windows, 2, 130);
    expect(eta.remaining(0)).toBeUndefined();
    eta.mixed(0, 0);
    expect(eta.remaining(0.1)).toBeUndefined();
  });

  it("counts the slower mix beside the first encoder and the last window's encode after the mix", () => {
    const eta = new WindowedEta(windows, 2, 130);
    eta.mixed(0, 0);
    eta.mixed(100, 0.5); // 200 s/s with no encoder
    // 201 s more at 200 s/s, 299 s at 200 × (1 − 0.5 / 2) = 150 s/s, then the last encoder's start
    // and 301 s at 130 s/s.
    const expected = 201 / 200 + 299 / 150 + 0.15 + 301 / 130;
    expect(eta.remaining(0.5)).toBeCloseTo(expected, 2);
    // The position's own rate would say 2 s: less than half.
    expect(eta.remaining(0.5)!).toBeGreaterThan(2 * ((0.5 * 500) / 100));
    // Counted down between events.
    expect(eta.remaining(1.5)).toBeCloseTo(expected - 1, 2);
  });

  it("the mix at its speed beside the running encoder; that encoder's speed scaled to one alone", () => {
    const eta = new WindowedEta(windows, 2, 130);
    eta.mixed(0, 0);
    eta.mixed(310, 1.5);
    eta.encoded(0, 0, 1.5);
    eta.mixed(370, 2.0); // 120 s/s beside one encoder
    eta.mixed(430, 2.5);
    eta.encoded(0, 65, 2.5); // 65 s/s beside the mix: 100 s/s alone
    expect(eta.remaining(2.5)).toBeCloseTo(170 / 120 + 0.15 + 301 / 100, 1);
  });

  it("before any encoder is seen, the encoders' speed follows the mix's on a faster or slower machine", () => {
    const at = (mixSpeed: number) => {
      const eta = new WindowedEta(windows, 2, 130, 0.7);
      eta.mixed(0, 0);
      eta.mixed(mixSpeed * 0.5, 0.5);
      return eta.remaining(0.5)!;
    };
    const mixLeft = (speed: number) => (301 - speed * 0.5) / speed + 299 / (speed * 0.75);
    // The mix at 300 s/s: LAME taken at 210 s/s, not the prior's 130.
    expect(at(300)).toBeCloseTo(mixLeft(300) + 0.15 + 301 / 210, 2);
    // A machine half as fast: the encoders' prior halves with the mix's speed.
    expect(at(150)).toBeCloseTo(mixLeft(150) + 0.15 + 301 / 105, 2);
    // Without the ratio, the prior.
    const fixed = new WindowedEta(windows, 2, 130);
    fixed.mixed(0, 0);
    fixed.mixed(150, 0.5);
    expect(fixed.remaining(0.5)).toBeCloseTo(mixLeft(300) + 0.15 + 301 / 130, 2);
  });

  it("an encoder slowed beside a many-track mix does not pull the mix-relative prior down", () => {
    const eta = new WindowedEta(windows, 2, 130, 1);
    eta.mixed(0, 0);
    eta.mixed(300, 1.5); // 200 s/s alone
    eta.encoded(0, 0, 1.5);
    eta.mixed(450, 2.5); // 150 s/s beside one encoder: 200 alone
    eta.encoded(0, 60, 2.5); // 60 s/s beside the mix: 92 scaled up, against the prior's 200
    expect(eta.remaining(2.5)).toBeCloseTo(150 / 150 + 0.15 + 301 / 200, 1);
    // Without a mix-relative prior, the encoder's own scaled speed is all there is.
    const fixed = new WindowedEta(windows, 2, 130);
    fixed.mixed(0, 0);
    fixed.mixed(300, 1.5);
    fixed.encoded(0, 0, 1.5);
    fixed.mixed(450, 2.5);
    fixed.encoded(0, 60, 2.5);
    expect(fixed.remaining(2.5)).toBeCloseTo(150 / 150 + 0.15 + 301 / (60 / 0.65), 1);
  });

  it("after the mix, the last encoder's own speed", () => {
    const eta = new WindowedEta(windows, 2, 130);
    eta.mixed(0, 0);
    eta.mixed(600, 3);
    eta.mixDone(3);
    eta.encoded(0, Infinity, 3.2);
    eta.encoded(1, 0, 3);
    eta.encoded(1, 100, 3.5); // 200 s/s: faster than the prior
    expect(eta.remaining(3.5)).toBeCloseTo(201 / 200, 2);
  });
});
