// Highlighting the speaker (analytics): the grid needs the talk spans before it is drawn, so a
// highlighted VIDEO job measures its speaker pass first (audio only, a fraction of the render) and
// plans again with them; the sidecars reuse the measurement.
import type { RenderJob } from "../../contract/renderer.ts";
import { measureTalk } from "./assets/speaker-assets.ts";
import type { Span } from "./assets/speakers.ts";
import type { Engine } from "./engines/types.ts";
import { planRender, type PlanFiles, type ProbeFacts, type RenderPlan } from "./planner/index.ts";

export interface Planned {
  plan: RenderPlan;
  talk?: Map<string, Span[]>;
}

export async function planHighlighted(
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  files: PlanFiles,
  native: Engine | undefined,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<Planned> {
  const plan = planRender(job, facts, files);
  // The AUDIO part of a split composition draws no grid: its speaker levels come from its render's taps.
  if (job.type !== "VIDEO" || !job.highlight || job.part?.kind === "AUDIO" || !plan.speakers) return { plan };
  if (!native) {
    log("speaker highlight skipped: it needs the native ffmpeg");
    return { plan };
  }
  const started = Date.now();
  const talk = await measureTalk(native, plan.speakers, signal);
  log(`speaker pass for the highlight: ${((Date.now() - started) / 1000).toFixed(2)} s`);
  return { plan: planRender(job, facts, files, { talk }), talk };
}
