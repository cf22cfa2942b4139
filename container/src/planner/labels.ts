// What a participant is called where people see it: their displayName, else their role in words.
// A participantId may be private: it is never burned into a picture.
import type { RenderJob } from "../../../contract/renderer.ts";

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
 * source chain runs), drawn before the tile is scaled: a thirtieth of the picture's height thick.
 */
export function highlightFilters(talk: readonly (readonly [number, number])[], color: string): string[] {
  if (talk.length === 0) return [];
  const on = talk.map(([a, b]) => `between(t,${a.toFixed(3)},${b.toFixed(3)})`).join("+");
  return [`drawbox=x=0:y=0:w=iw:h=ih:color=0x${color.slice(1)}:t='max(4,ih/30)':enable='${on}'`];
}
