// The RenderJob body, checked before anything is started: a bad job is the dispatcher's bug and
// must be refused loudly (400), not half-rendered.
import { z } from "zod";
import type { RenderJob } from "./contract.ts";

const httpUrl = z.string().refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), "must be an http(s) URL");

const Track = z.object({
  id: z.string().min(1).max(200),
  participantId: z.string().max(200),
  url: httpUrl,
  offsetMs: z.number().finite().min(0),
  durationMs: z.number().finite().min(0).optional(),
  audio: z.boolean(),
  video: z.boolean(),
  size: z.number().int().min(0),
});

export const RenderJobSchema = z
  .object({
    jobId: z.string().min(1).max(200),
    attempt: z.number().int().min(0),
    type: z.enum(["AUDIO", "VIDEO"]),
    format: z.enum(["MP3", "MP4"]),
    width: z.number().int().min(0).max(7680),
    height: z.number().int().min(0).max(4320),
    durationMs: z.number().finite().gt(0).max(24 * 3600 * 1000),
    tracks: z.array(Track).max(256),
    keep: z
      .array(z.object({ startMs: z.number().finite().min(0), endMs: z.number().finite().gt(0) }).refine((k) => k.endMs > k.startMs, "endMs must be after startMs"))
      .min(1)
      .max(1000)
      .optional(),
    output: z.object({ url: httpUrl, contentType: z.string().min(1), multipartUrl: httpUrl }),
    callback: z.object({ url: httpUrl, token: z.string().min(1) }),
  })
  .superRefine((j, ctx) => {
    if ((j.type === "AUDIO") !== (j.format === "MP3")) {
      ctx.addIssue({ code: "custom", path: ["format"], message: "AUDIO renders MP3 and VIDEO renders MP4" });
    }
    if (j.type === "VIDEO") {
      for (const k of ["width", "height"] as const) {
        if (j[k] < 16 || j[k] % 2 !== 0) ctx.addIssue({ code: "custom", path: [k], message: "must be an even number ≥ 16" });
      }
    }
    j.keep?.forEach((k, i) => {
      if (k.startMs >= j.durationMs) ctx.addIssue({ code: "custom", path: ["keep", i, "startMs"], message: "must be before durationMs" });
      const prev = j.keep![i - 1];
      if (prev && k.startMs < prev.endMs) ctx.addIssue({ code: "custom", path: ["keep", i, "startMs"], message: "spans must be in time order and not overlap" });
    });
    const ids = new Set<string>();
    j.tracks.forEach((t, i) => {
      if (ids.has(t.id)) ctx.addIssue({ code: "custom", path: ["tracks", i, "id"], message: "duplicate track id" });
      ids.add(t.id);
    });
  });

export type ParseResult = { ok: true; job: RenderJob } | { ok: false; errors: string[] };

export function parseRenderJob(body: unknown): ParseResult {
  const r = RenderJobSchema.safeParse(body);
  if (r.success) return { ok: true, job: r.data };
  return { ok: false, errors: r.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`) };
}
