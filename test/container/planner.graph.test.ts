import { describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { audioGraph } from "../../container/src/planner/audio-graph.ts";
import { planRender, type ProbeFacts } from "../../container/src/planner/index.ts";

function job(type: "AUDIO" | "VIDEO", tracks: Partial<RenderJob["tracks"][number]>[], durationMs = 12_000): RenderJob {
  return {
    jobId: "j1",
    attempt: 1,
    type,
    format: type === "AUDIO" ? "MP3" : "MP4",
    width: 640,
    height: 360,
    durationMs,
    tracks: tracks.map((t, i) => ({
      id: `t${i}`,
      participantId: `p${i}`,
      url: "http://x/",
      offsetMs: 0,
      audio: true,
      video: true,
      size: 1,
      ...t,
    })),
    output: { url: "http://x/o", contentType: "video/mp4", multipartUrl: "http://x/m" },
    callback: { url: "http://x/r", token: "k" },
  };
}

const facts = (d: number, video = true, audio = true): ProbeFacts => ({ durationSec: d, hasAudio: audio, hasVideo: video });
const graphOf = (args: string[]) => args[args.indexOf("-filter_complex") + 1]!.split(";");

describe("audio graph", () => {
  it("delays each track to its offset, mixes without normalising, limits, and fixes the length", () => {
    const chains = audioGraph(
      [
        { input: 0, offsetMs: 0 },
        { input: 1, offsetMs: 2500 },
        { input: 2, offsetMs: 7000.4 },
      ],
      12_000,
    );
    expect(chains[0]).toBe(
      "[0:a]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[a0]",
    );
    expect(chains[1]).toContain("adelay=delays=2500:all=1[a1]");
    expect(chains[2]).toContain("adelay=delays=7000:all=1[a2]");
    // A silent bed of the span leads the mix (amix drops the unread rest of its first input at its end).
    expect(chains[3]).toBe("anullsrc=r=48000:cl=stereo,atrim=end=12[abed]");
    expect(chains[4]).toMatch(/^\[abed\]\[a0\]\[a1\]\[a2\]amix=inputs=4:normalize=0:duration=longest/);
    expect(chains[4]).toContain("alimiter=limit=0.891:level=0:latency=1");
    expect(chains[4]).toMatch(/apad=whole_dur=12,atrim=end=12,asetpts=N\/SR\/TB\[aout\]$/);
  });

  it("is silence of the right length without audio tracks", () => {
    expect(audioGraph([], 5_500)).toEqual(["anullsrc=r=48000:cl=stereo,atrim=end=5.5,asetpts=N/SR/TB[aout]"]);
  });
});

describe("the mix's layout", () => {
  const mono = (d: number): ProbeFacts => ({ ...facts(d, false), audioChannels: 1 });
  const stereo = (d: number): ProbeFacts => ({ ...facts(d, false), audioChannels: 2 });
  const plan = (f: Record<string, ProbeFacts>, channel?: "LEFT") =>
    planRender(job("AUDIO", [{ video: false, ...(channel ? { channel } : {}) }, { video: false }]), f, {
      inputs: { t0: "/a", t1: "/b" },
      output: "/o.mp3",
    });

  it("is mono when every mixed track is: half the mix's and the encoder's work, the same sound", () => {
    const p = plan({ t0: mono(12), t1: mono(12) });
    expect(p.graph.output.audio?.channels).toBe(1);
    expect(p.args.slice(p.args.indexOf("-ac"), p.args.indexOf("-ac") + 2)).toEqual(["-ac", "1"]);
    const g = graphOf(p.args);
    expect(g[0]).toContain("channel_layouts=mono[a0]");
    expect(g.find((c) => c.startsWith("anullsrc"))).toContain("cl=mono");
  });

  it("is stereo when one track is stereo, its channels unknown, or a track is split onto a channel", () => {
    expect(plan({ t0: mono(12), t1: stereo(12) }).graph.output.audio?.channels).toBe(2);
    expect(plan({ t0: mono(12), t1: facts(12, false) }).graph.output.audio?.channels).toBe(2);
    expect(plan({ t0: mono(12), t1: mono(12) }, "LEFT").graph.output.audio?.channels).toBe(2);
  });
});

describe("planRender", () => {
  it("AUDIO → MP3 arguments: inputs in order, only the mix mapped, exact length", () => {
    const j = job("AUDIO", [{ offsetMs: 0 }, { offsetMs: 1500, video: false }, { offsetMs: 4000 }], 9_000);
    const plan = planRender(
      j,
      { t0: facts(9), t1: facts(3, false), t2: facts(5) },
      {
        inputs: { t0: "/w/a", t1: "/w/b", t2: "/w/c" },
        output: "/w/out.mp3",
      },
    );
    expect(plan.kind).toBe("audio");
    expect(plan.inputs).toEqual(["/w/a", "/w/b", "/w/c"]);
    expect(plan.inputTracks).toEqual(["t0", "t1", "t2"]);
    expect(plan.args.slice(0, 4)).toEqual(["-reinit_filter", "0", "-i", "/w/a"]);
    expect(plan.args.filter((a) => a === "-i")).toHaveLength(3);
    expect(plan.args.slice(plan.args.indexOf("-map"))).toEqual([
      "-map",
      "[aout]",
      "-c:a",
      "libmp3lame",
      "-b:a",
      "128k",
      "-ar",
      "48000",
      "-ac",
      "2",
      "-t",
      "9",
      "-f",
      "mp3",
      "/w/out.mp3",
    ]);
    const g = graphOf(plan.args);
    expect(g.some((c) => c.includes("[1:a]") && c.includes("adelay=delays=1500:all=1"))).toBe(true);
    expect(g.some((c) => c.includes(":v]"))).toBe(false);
    expect(plan.durationSeconds).toBe(9);
  });

  it("VIDEO → staggered joins and an early leave give the right segments, trims and tiles", () => {
    // t0 0–12 (640x480), t1 3–12 portrait, t2 6–9, t3 audio only from 1 s.
    const j = job("VIDEO", [{ offsetMs: 0 }, { offsetMs: 3000 }, { offsetMs: 6000 }, { offsetMs: 1000, video: false }]);
    const plan = planRender(
      j,
      { t0: facts(12), t1: facts(9), t2: facts(3), t3: facts(11, false) },
      {
        inputs: { t0: "/w/0", t1: "/w/1", t2: "/w/2", t3: "/w/3" },
        output: "/w/out.mp4",
      },
    );
    const g = graphOf(plan.args);
    // One shifted CFR stream per video track, split once per segment it appears in.
    expect(g).toContain("[0:v]setpts=PTS+0/TB,fps=25,split=4[v0_0][v0_1][v0_2][v0_3]");
    expect(g).toContain("[1:v]setpts=PTS+3/TB,fps=25,split=3[v1_0][v1_1][v1_2]");
    expect(g).toContain("[2:v]setpts=PTS+6/TB,fps=25[v2_0]");
    expect(g.some((c) => c.startsWith("[3:v]"))).toBe(false);
    // Segment bases: 0–3 (1 tile), 3–6 (2), 6–9 (3 in 2×2), 9–12 (2).
    expect(g.filter((c) => c.startsWith("color=")).map((c) => /d=([\d.]+)/.exec(c)![1])).toEqual(["3", "3", "3", "3"]);
    expect(g).toContain(
      "[v0_0]trim=start=0:end=3,setpts=PTS-0/TB,scale=w=640:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t0_0]",
    );
    expect(g).toContain(
      "[v1_0]trim=start=3:end=6,setpts=PTS-3/TB,scale=w=320:h=360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t1_1]",
    );
    expect(g).toContain(
      "[v2_0]trim=start=6:end=9,setpts=PTS-6/TB,scale=w=320:h=180:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[t2_2]",
    );
    expect(g).toContain("[b2_2][t2_2]overlay=x=0+(320-w)/2:y=180+(180-h)/2:eof_action=pass[s2]");
    expect(g).toContain("[b3_1][t3_1]overlay=x=320+(320-w)/2:y=0+(360-h)/2:eof_action=pass[s3]");
    expect(g).toContain("[s0][s1][s2][s3]concat=n=4:v=1:a=0,format=yuv420p[vout]");
    // The encoder reads one copy of the finished frames; the thumbnails (one a second) the other.
    expect(g.slice(-2)).toEqual(["[vout]split=2[voutmain][spritein]", "[spritein]fps=1/1,scale=160:90,format=yuv420p[sprite]"]);
    // The audio-only participant is mixed, delayed by its offset.
    expect(g.some((c) => c.startsWith("[3:a]") && c.includes("adelay=delays=1000:all=1"))).toBe(true);
    expect(plan.args).toEqual(expect.arrayContaining(["-map", "[voutmain]", "[aout]", "libx264", "yuv420p", "+faststart", "aac"]));
    const sprite = plan.args.indexOf("[sprite]") - 1;
    expect(plan.args.slice(sprite - 5, sprite)).toEqual(["-t", "12", "-f", "mp4", "/w/out.mp4"]);
    // The thumbnails as raw frames, each written as it is taken (tiled into the sprite afterwards).
    expect(plan.args.slice(sprite)).toEqual(["-map", "[sprite]", "-f", "rawvideo", "-pix_fmt", "yuv420p", "/w/out.mp4.thumbnails.yuv"]);
    expect(plan.graph.sprite?.grid).toMatchObject({ interval: 1, count: 12, columns: 10, rows: 2 });
  });

  it("trusts probing over the declaration: a declared video without a video stream gets no tile", () => {
    const j = job("VIDEO", [{ offsetMs: 0 }, { offsetMs: 0 }], 4000);
    const plan = planRender(j, { t0: facts(4), t1: facts(4, false) }, { inputs: { t0: "/a", t1: "/b" }, output: "/o.mp4" });
    expect(plan.warnings).toEqual(['track "t1": declared video but has no video stream']);
    expect(graphOf(plan.args)).toContain("[0:v]setpts=PTS+0/TB,fps=25[v0_0]");
    expect(graphOf(plan.args).some((c) => c.startsWith("[1:v]"))).toBe(false);
  });

  it("falls back to the declared length when probing measured none, and skips tracks after the span", () => {
    const j = job("AUDIO", [{ offsetMs: 0, durationMs: 2000 }, { offsetMs: 9000 }], 5000);
    const plan = planRender(
      j,
      { t0: { durationSec: null, hasAudio: true, hasVideo: false }, t1: facts(2) },
      {
        inputs: { t0: "/a", t1: "/b" },
        output: "/o.mp3",
      },
    );
    expect(plan.inputs).toEqual(["/a"]);
    expect(plan.warnings).toContain('track "t1": nothing to use inside the recording span');
  });

  it("a VIDEO job with nobody on camera is black with the mix", () => {
    const j = job("VIDEO", [{ offsetMs: 500, video: false }], 3000);
    const plan = planRender(j, { t0: facts(2, false) }, { inputs: { t0: "/a" }, output: "/o.mp4" });
    const g = graphOf(plan.args);
    expect(g).toContain("color=c=black:s=640x360:r=25:d=3,setsar=1[s0]");
    expect(g).toContain("[s0]concat=n=1:v=1:a=0,format=yuv420p[vout]");
  });
});
