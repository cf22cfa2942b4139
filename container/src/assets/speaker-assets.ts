// Runs the speaker pass and writes its sidecars: timeline.json and speakers.vtt, with the metrics
// for the completed report. A VIDEO job that highlights the speaker measures first (the grid needs
// the talk spans) and the sidecars reuse that measurement.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConversationMetrics, RenderJob } from "../../../contract/renderer.ts";
import type { Engine } from "../engines/types.ts";
import { SPEAKER_RATE, type SpeakerPass } from "../planner/speakers.ts";
import type { ReviewAssetFile } from "./review-assets.ts";
import { levelsFromPcm, speakersOf, speakersVtt, talkSpans, timelineJson, toOutput, type Span } from "./speakers.ts";

/** Each measured track's talk spans, on the rendered window's clock (the pass run first unless the render wrote its samples). */
export async function measureTalk(engine: Engine, pass: SpeakerPass, signal: AbortSignal): Promise<Map<string, Span[]>> {
  if (!pass.inRender) {
    if (!engine.runArgs) throw new Error(`the ${engine.name} engine runs no bare ffmpeg command`);
    await engine.runArgs(pass.args, { signal, onProgress: () => {} });
  }
  const talk = new Map<string, Span[]>();
  for (const t of pass.tracks) {
    // No samples at all: the track ends where the window starts (a part of a split call, a trim);
    // a pass that failed has already thrown with ffmpeg's own reason.
    const levels = levelsFromPcm(await readFile(t.pcm), SPEAKER_RATE);
    talk.set(t.id, levels.length ? talkSpans(levels) : []);
  }
  return talk;
}

export async function makeSpeakerAssets(
  job: RenderJob,
  pass: SpeakerPass,
  windowTalk: ReadonlyMap<string, Span[]>,
  dir: string,
): Promise<{ files: ReviewAssetFile[]; metrics: ConversationMetrics }> {
  const talk = new Map([...windowTalk].map(([id, spans]) => [id, toOutput(spans, pass.cuts, pass.outputSec)]));
  const speakers = speakersOf(job, talk);
  const timeline = timelineJson(speakers, pass.outputSec);
  const json = join(dir, "timeline.json");
  const vtt = join(dir, "speakers.vtt");
  await writeFile(json, JSON.stringify(timeline));
  await writeFile(vtt, speakersVtt(speakers));
  return {
    files: [
      { name: "timeline.json", file: json, contentType: "application/json" },
      { name: "speakers.vtt", file: vtt, contentType: "text/vtt; charset=utf-8" },
    ],
    metrics: timeline.metrics,
  };
}
