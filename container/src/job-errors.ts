// What a failed job reports: its error, cleaned of the job's temp dir, naming the track ffmpeg
// blamed, and whether another attempt could pass.
import { EngineError } from "./engines/types.ts";
import { JobError } from "./http-io.ts";
import type { RenderPlan } from "./planner/index.ts";

/** Which track an ffmpeg error is about, from a path or an `#input:stream` mention in its log. */
function blamedTrack(log: string, plan: RenderPlan | undefined): string | undefined {
  if (!plan) return undefined;
  const byPath = plan.inputs.findIndex((p, i) => i < plan.inputTracks.length && log.includes(p));
  if (byPath >= 0) return plan.inputTracks[byPath];
  const m = /(?:stream|[Ii]nput) #(\d+)/.exec(log);
  return m ? plan.inputTracks[Number(m[1])] : undefined;
}

export function classify(e: unknown, plan: RenderPlan | undefined, dir: string | undefined): { error: string; retryable: boolean } {
  const clean = (s: string) => (dir ? s.split(`${dir}/`).join("").split(dir).join("") : s).slice(0, 2000);
  if (e instanceof JobError) return { error: clean(e.message), retryable: e.retryable };
  if (e instanceof EngineError) {
    const track = blamedTrack(e.log, plan);
    const msg = clean(e.message);
    return { error: track ? `track "${track}": invalid data (${msg})` : msg, retryable: e.retryable };
  }
  // Disk full, out of memory, a bug: nothing says the next attempt would fail the same way.
  return { error: clean(`renderer error: ${(e as Error)?.message ?? String(e)}`), retryable: true };
}
