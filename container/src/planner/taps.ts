// What a native render writes beside its output so that nothing is decoded twice: each track's
// speaker levels (speakers.ts) and the finished mix for the waveform. Pure.
import type { RenderJob } from "../../../contract/renderer.ts";
import { commandArgs } from "./graph.ts";
import { withSpeakerTaps } from "./speakers.ts";
import type { RenderPlan } from "./types.ts";

/**
 * The plan whose render also writes its mix's samples (`<output>.mix.s16`) for the waveform, so the
 * finished output is not decoded again for it (that decode was most of an AUDIO job's delivery).
 */
export function withMixTap(plan: RenderPlan): RenderPlan {
  if (plan.graph.mixTap || !plan.graph.output.audio) return plan;
  const graph = { ...plan.graph, mixTap: `${plan.output}.mix.s16` };
  return { ...plan, graph, args: commandArgs(graph, plan.output) };
}

/**
 * The taps of a job's native render: the speaker levels unless the highlight measured them already
 * (`measured`), the mix when the job makes a waveform (not a track rewrite, a VIDEO part or a join).
 */
export function withRenderTaps(job: RenderJob, plan: RenderPlan, measured: boolean): RenderPlan {
  const waveform = job.type !== "TRACK" && job.part?.kind !== "VIDEO" && job.part?.kind !== "JOIN";
  const mixed = waveform ? withMixTap(plan) : plan;
  return measured ? mixed : withSpeakerTaps(mixed);
}
