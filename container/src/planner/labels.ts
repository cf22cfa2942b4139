// What a participant is called where people see it: their displayName, else their role in words.
// A participantId may be private: it is never burned into a picture.
import type { RenderJob } from "../../../contract/renderer.ts";
import { enableExpr } from "./redact.ts";

const ROLE_WORDS: Record<string, string> = { AGENT: "Agent", CUSTOMER: "Customer", SUPERVISOR: "Supervisor", OTHER: "Participant" };

export function displayLabel(t: { role?: string | null; displayName?: string | null }): string | null {
  return t.displayName ?? (t.role ? (ROLE_WORDS[t.role] ?? null) : null);
}

/** The label files of a labelled VIDEO job's tracks: path and text, by track id. */
export function labelFiles(job: RenderJob, stem: string): Map<string, { path: string; text: string }> {
  const out = new Map<string, { path: string; text: string }>();
  if (job.type !== "VIDEO" || !job.labels) return out;
  job.tracks.forEach((t, k) => {
    const text = displayLabel(t);
    if (text) out.set(t.id, { path: `${stem}.label${k}.txt`, text });
  });
  return out;
}

/**
 * A frame around the picture while its participant talks (spans on the window's clock, where the
 * source chain runs), drawn before the tile is scaled, a thirtieth of the picture's height thick.
 * Four filled strips, not one outlined box: drawbox visits every pixel of its box, so an outline
 * the size of the picture cost a whole-frame pass per tile (measured: 0.61× the render).
 */
export function highlightFilters(talk: readonly (readonly [number, number])[], color: string): string[] {
  if (talk.length === 0) return [];
  const on = enableExpr(talk.map(([startSec, endSec]) => ({ startSec, endSec })));
  const box = (x: string, y: string, w: string, h: string) =>
    `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=0x${color.slice(1)}:t=fill:enable=${on}`;
  const T = "'max(4,ih/30)'";
  return [box("0", "0", "iw", T), box("0", "'ih-max(4,ih/30)'", "iw", T), box("0", "0", T, "ih"), box("'iw-max(4,ih/30)'", "0", T, "ih")];
}
