// Trimming in the planner: RenderJob.keep (spans of the recording's timeline) → a graph that
// renders only the rendered window (inputs seeked to its start), cuts the mix sample-exactly with
// atrim, composes only the kept video frames, and an output of exactly the sum of the spans.
import { describe, expect, it } from "vitest";
import { parseRenderJob, type RenderJob } from "../../contract/renderer.ts";
import { normalizeKeep } from "../../container/src/planner/keep.ts";
import { planRender, type ProbeFacts } from "../../container/src/planner/index.ts";

type T = Partial<RenderJob["tracks"][number]> & { id: string };

function job(type: "AUDIO" | "VIDEO", tracks: T[], durationMs: number, keep?: RenderJob["keep"]): RenderJob {
  return {
    jobId: "j1",
    attempt: 1,
    type,
    format: type === "AUDIO" ? "MP3" : "MP4",
    width: 640,
    height: 360,
    durationMs,
    tracks: tracks.map((t) => ({
      participantId: `p-${t.id}`,
      url: "http://x/",
      offsetMs: 0,
      audio: true,
      video: type === "VIDEO",
      size: 1,
      ...t,
    })),
    ...(keep ? { keep } : {}),
    output: { url: "http://x/o", contentType: "video/mp4", multipartUrl: "http://x/m" },
    callback: { url: "http://x/r", token: "k" },
  };
}

const facts = (d: number, video = true, audio = true): ProbeFacts => ({ durationSec: d, hasAudio: audio, hasVideo: video });
const graphOf = (args: string[]) => args[args.indexOf("-filter_complex") + 1]!.split(";");
const argAfter = (args: string[], flag: string) => args[args.lastIndexOf(flag) + 1];
/** The input files in order, each with the -ss that precedes it (undefined = read from the start). */
function inputsOf(args: string[]): { path: string; ss?: string }[] {
  const out: { path: string; ss?: string }[] = [];
  args.forEach((a, i) => {
    if (a !== "-i") return;
    out.push({ path: args[i + 1]!, ...(args[i - 2] === "-ss" ? { ss: args[i - 1]! } : {}) });
  });
  return out;
}
const maps = (args: string[]) => args.flatMap((a, i) => (a === "-map" ? [args[i + 1]!] : []));

// A call of 20 s: a 0–6 (audio+video), b 10–20 (audio+video), phone 3–8 audio only. 8–10 s: nobody.
const CALL: T[] = [
  { id: "a", offsetMs: 0, durationMs: 6000 },
  { id: "b", offsetMs: 10_000, durationMs: 10_000 },
  { id: "phone", offsetMs: 3000, durationMs: 5000, video: false },
];
const FACTS = { a: facts(6), b: facts(10), phone: facts(5, false) };
const FILES = { inputs: { a: "/w/a", b: "/w/b", phone: "/w/p" }, output: "/w/out" };

describe("no keep", () => {
  it("leaves the graph exactly as without trimming, and a keep of the whole span is the same job", () => {
    for (const type of ["AUDIO", "VIDEO"] as const) {
      const plain = planRender(job(type, CALL, 20_000), FACTS, FILES);
      const whole = planRender(job(type, CALL, 20_000, [{ startMs: 0, endMs: 20_000 }]), FACTS, FILES);
      expect(whole.args).toEqual(plain.args);
      expect(plain.args).not.toContain("-ss");
      // A VIDEO's encoder reads one copy of the grid; its thumbnails the other.
      expect(maps(plain.args)).toEqual(type === "AUDIO" ? ["[aout]"] : ["[voutmain]", "[aout]", "[sprite]"]);
      expect(graphOf(plain.args).some((c) => /asplit|aselect|select=|akept/.test(c))).toBe(false);
      expect(argAfter(plain.args, "-t")).toBe("20");
      expect(plain.durationSeconds).toBe(20);
    }
  });
});

describe("AUDIO keep", () => {
  it("two spans (a trim around the 8–10 s hole): the mix is cut sample-exactly with atrim and joined; -t = the sum", () => {
    const plan = planRender(
      job("AUDIO", CALL, 20_000, [
        { startMs: 0, endMs: 8000 },
        { startMs: 10_000, endMs: 20_000 },
      ]),
      FACTS,
      FILES,
    );
    const g = graphOf(plan.args);
    // The window is the whole call (first span starts at 0, last ends at 20 s): no seeking.
    expect(inputsOf(plan.args)).toEqual([{ path: "/w/a" }, { path: "/w/b" }, { path: "/w/p" }]);
    expect(g.find((c) => c.includes("amix"))).toMatch(/apad=whole_dur=20,atrim=end=20,asetpts=N\/SR\/TB\[afull\]$/);
    expect(g).toContain("[afull]asplit=2[ak0][ak1]");
    expect(g).toContain("[ak0]atrim=start=0:end=8,asetpts=PTS-STARTPTS[ac0]");
    expect(g).toContain("[ak1]atrim=start=10:end=20,asetpts=PTS-STARTPTS[ac1]");
    expect(g).toContain("[ac0][ac1]concat=n=2:v=0:a=1,asetpts=N/SR/TB[akept]");
    // aselect keeps or drops whole frames (t = a frame's start): not used.
    expect(g.some((c) => c.includes("aselect"))).toBe(false);
    expect(maps(plan.args)).toEqual(["[akept]"]);
    expect(argAfter(plan.args, "-t")).toBe("18");
    expect(plan.durationSeconds).toBe(18);
  });

  it("a from/to window: inputs that began before it are seeked, offsets rebased, the graph ends with the window", () => {
    // 4.5–12.25 s: a (0–6) is read from 4.5 s, phone (3–8) from 1.5 s, b (10–20) starts 5.5 s in.
    const plan = planRender(job("AUDIO", CALL, 20_000, [{ startMs: 4500, endMs: 12_250 }]), FACTS, FILES);
    const g = graphOf(plan.args);
    expect(inputsOf(plan.args)).toEqual([{ path: "/w/a", ss: "4.5" }, { path: "/w/b" }, { path: "/w/p", ss: "1.5" }]);
    expect(g[0]).toBe("[0:a]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[a0]");
    expect(g[1]).toContain("adelay=delays=5500:all=1[a1]");
    expect(g[2]).not.toContain("adelay");
    // One span: no cut, the mix itself is the window's length.
    expect(g.some((c) => c.includes("asplit"))).toBe(false);
    expect(g[g.length - 1]).toMatch(/apad=whole_dur=7.75,atrim=end=7.75,asetpts=N\/SR\/TB\[akept\]$/);
    expect(maps(plan.args)).toEqual(["[akept]"]);
    expect(argAfter(plan.args, "-t")).toBe("7.75");
    expect(plan.durationSeconds).toBe(7.75);
  });

  it("tracks with nothing inside the kept spans are not inputs (and are not warned about)", () => {
    // Keep 10–20 s only: a (0–6) and phone (3–8) end long before.
    const plan = planRender(job("AUDIO", CALL, 20_000, [{ startMs: 10_000, endMs: 20_000 }]), FACTS, FILES);
    expect(inputsOf(plan.args)).toEqual([{ path: "/w/b" }]);
    expect(graphOf(plan.args)[0]).toBe(
      "[0:a]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[a0]",
    );
    expect(plan.warnings).toEqual([]);
    expect(argAfter(plan.args, "-t")).toBe("10");
  });

  it("a track ending just before a span (within a probe's packet error) is still mixed", () => {
    const plan = planRender(job("AUDIO", CALL, 20_000, [{ startMs: 6400, endMs: 12_000 }]), FACTS, FILES);
    // a's probed end is 6.0 s: 400 ms short of the window may be a packet of rounding — kept, seeked.
    expect(inputsOf(plan.args)).toEqual([{ path: "/w/a", ss: "6.4" }, { path: "/w/b" }, { path: "/w/p", ss: "3.4" }]);
  });

  it("ms bounds stay exact (no frame grid for sound alone); three spans", () => {
    const keep = [
      { startMs: 1234, endMs: 2345 },
      { startMs: 7013, endMs: 7999 },
      { startMs: 12_001, endMs: 19_999 },
    ];
    const plan = planRender(job("AUDIO", CALL, 20_000, keep), FACTS, FILES);
    const g = graphOf(plan.args);
    expect(inputsOf(plan.args)).toEqual([{ path: "/w/a", ss: "1.234" }, { path: "/w/b" }, { path: "/w/p" }]);
    expect(g).toContain("[afull]asplit=3[ak0][ak1][ak2]");
    // On the window's own timeline (from 1.234 s).
    expect(g).toContain("[ak0]atrim=start=0:end=1.111,asetpts=PTS-STARTPTS[ac0]");
    expect(g).toContain("[ak1]atrim=start=5.779:end=6.765,asetpts=PTS-STARTPTS[ac1]");
    expect(g).toContain("[ak2]atrim=start=10.767:end=18.765,asetpts=PTS-STARTPTS[ac2]");
    expect(argAfter(plan.args, "-t")).toBe(String((1111 + 986 + 7998) / 1000));
    expect(plan.durationSeconds).toBeCloseTo(10.095, 9);
  });
});

describe("VIDEO keep", () => {
  it("two spans: bounds widened to the 40 ms frame grid, only kept frames composed, picture and sound cut at the same instants", () => {
    // 0–8.01 s and 9.99–20 s → 0–8.04 and 9.96–20 (a start widened down, an end up).
    const plan = planRender(
      job("VIDEO", CALL, 20_000, [
        { startMs: 0, endMs: 8010 },
        { startMs: 9990, endMs: 20_000 },
      ]),
      FACTS,
      FILES,
    );
    const g = graphOf(plan.args);
    expect(g).toContain("[ak0]atrim=start=0:end=8.04,asetpts=PTS-STARTPTS[ac0]");
    expect(g).toContain("[ak1]atrim=start=9.96:end=20,asetpts=PTS-STARTPTS[ac1]");
    // Segments of the full timeline were 0–6 (a), 6–10 (nobody), 10–20 (b); cut to the kept frames:
    // 0–6 a, 6–8.04 black, 9.96–10 black, 10–20 b.
    const bases = g.filter((c) => c.startsWith("color=")).map((c) => /d=([\d.]+)/.exec(c)![1]);
    expect(bases).toEqual(["6", "2.04", "0.04", "10"]);
    expect(g).toContain(
      "[v0_0]trim=start=0:end=6,setpts=PTS-0/TB,scale=w=640:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t0_0]",
    );
    expect(g).toContain(
      "[v1_0]trim=start=10:end=20,setpts=PTS-10/TB,scale=w=640:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t3_0]",
    );
    expect(g).toContain("[s0][s1][s2][s3]concat=n=4:v=1:a=0,format=yuv420p[vout]");
    // The thumbnails cover the kept output, not the call: one a second for 18.08 s.
    expect(plan.graph.sprite?.grid).toMatchObject({ interval: 1, count: 19 });
    // No frame selection after the fact.
    expect(g.some((c) => /(^|[,\]])select=/.test(c))).toBe(false);
    expect(maps(plan.args)).toEqual(["[voutmain]", "[akept]", "[sprite]"]);
    expect(argAfter(plan.args, "-t")).toBe("18.08");
    expect(plan.durationSeconds).toBeCloseTo(18.08, 9);
  });

  it("a window: seeked inputs, the grid of who is live inside it, tile order still the join order", () => {
    // Listed b before a; window 11–15 s of a call where a (0–20) joined before b (5–20).
    const tracks: T[] = [
      { id: "b", offsetMs: 5000 },
      { id: "a", offsetMs: 0 },
    ];
    const plan = planRender(
      job("VIDEO", tracks, 20_000, [{ startMs: 11_000, endMs: 15_000 }]),
      { a: facts(20), b: facts(15) },
      {
        inputs: { a: "/w/a", b: "/w/b" },
        output: "/w/o.mp4",
      },
    );
    const g = graphOf(plan.args);
    // Read from 2 s before the window (the pre-roll), its first frames put back before the window's start.
    expect(inputsOf(plan.args)).toEqual([
      { path: "/w/b", ss: "4" },
      { path: "/w/a", ss: "9" },
    ]);
    expect(g).toContain("[0:v]setpts=PTS-2/TB,fps=25[v0_0]");
    expect(g).toContain("[1:v]setpts=PTS-2/TB,fps=25[v1_0]");
    expect(g.find((c) => c.startsWith("[0:a]"))).toMatch(/^\[0:a\]atrim=start=2,asetpts=PTS-STARTPTS,aresample/);
    // One segment of 4 s, two tiles: a (input 1) in the left cell, b (input 0) in the right one.
    expect(g.filter((c) => c.startsWith("color="))).toEqual(["color=c=black:s=640x360:r=25:d=4,setsar=1[b0_0]"]);
    expect(g).toContain(
      "[v1_0]trim=start=0:end=4,setpts=PTS-0/TB,scale=w=320:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t0_0]",
    );
    expect(g).toContain("[b0_0][t0_0]overlay=x=0+(320-w)/2:y=0+(360-h)/2:eof_action=pass[b0_1]");
    expect(g).toContain("[b0_1][t0_1]overlay=x=320+(320-w)/2:y=0+(360-h)/2:eof_action=pass[s0]");
    expect(argAfter(plan.args, "-t")).toBe("4");
  });

  it("a tile leaves the grid only where its track is gone: an excluded participant is simply not a video track", () => {
    // What the Worker sends for videoSourcesExcluded: the participant's track with video:false.
    const plan = planRender(
      job(
        "VIDEO",
        [
          { id: "a", offsetMs: 0 },
          { id: "c", offsetMs: 0, video: false },
        ],
        6000,
      ),
      { a: facts(6), c: facts(6) },
      { inputs: { a: "/w/a", c: "/w/c" }, output: "/w/o.mp4" },
    );
    const g = graphOf(plan.args);
    expect(g.some((c) => c.startsWith("[1:v]"))).toBe(false);
    expect(g).toContain(
      "[v0_0]trim=start=0:end=6,setpts=PTS-0/TB,scale=w=640:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t0_0]",
    );
    expect(g.some((c) => c.startsWith("[1:a]"))).toBe(true);
  });
});

describe("normalizeKeep", () => {
  it("sorts, merges overlapping and touching spans, clips to the span; the whole span is null", () => {
    expect(normalizeKeep(undefined, 10_000)).toBeNull();
    expect(normalizeKeep([{ startMs: 0, endMs: 10_000 }], 10_000)).toBeNull();
    expect(normalizeKeep([{ startMs: 0, endMs: 99_000 }], 10_000)).toBeNull();
    expect(
      normalizeKeep(
        [
          { startMs: 6000, endMs: 12_000 },
          { startMs: 1000.4, endMs: 3000 },
          { startMs: 2500, endMs: 4000 },
          { startMs: 4000, endMs: 5000 },
        ],
        10_000,
      ),
    ).toEqual([
      { startMs: 1000, endMs: 5000 },
      { startMs: 6000, endMs: 10_000 },
    ]);
  });

  it("on a frame grid: starts down, ends up, an end at the span's own end kept as is", () => {
    expect(
      normalizeKeep(
        [
          { startMs: 1010, endMs: 2001 },
          { startMs: 5000, endMs: 10_010 },
        ],
        10_010,
        25,
      ),
    ).toEqual([
      { startMs: 1000, endMs: 2040 },
      { startMs: 5000, endMs: 10_010 },
    ]);
  });

  it("throws when nothing of the span is left", () => {
    expect(() => normalizeKeep([{ startMs: 12_000, endMs: 13_000 }], 10_000)).toThrow(/nothing|no part/i);
  });
});

describe("contract validation of keep", () => {
  const body = (keep: unknown) => ({ ...job("AUDIO", [{ id: "a" }], 10_000), keep });
  it("accepts ordered, disjoint spans inside the recording", () => {
    expect(
      parseRenderJob(
        body([
          { startMs: 0, endMs: 1000 },
          { startMs: 2000, endMs: 12_000 },
        ]),
      ).ok,
    ).toBe(true);
  });
  it.each([
    ["a span starting at or after durationMs", [{ startMs: 10_000, endMs: 11_000 }], "keep.0.startMs"],
    [
      "overlapping spans",
      [
        { startMs: 0, endMs: 3000 },
        { startMs: 2000, endMs: 4000 },
      ],
      "keep.1.startMs",
    ],
    [
      "spans out of order",
      [
        { startMs: 5000, endMs: 6000 },
        { startMs: 0, endMs: 1000 },
      ],
      "keep.1.startMs",
    ],
    ["an empty span", [{ startMs: 3000, endMs: 3000 }], "keep.0"],
    ["no span", [], "keep"],
  ])("refuses %s", (_, keep, path) => {
    const r = parseRenderJob(body(keep));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.some((e) => e.startsWith(`${path}:`))).toBe(true);
  });
});
