import type { CompositionRow } from "../db/schema";

// Review assets (thumbnails sprite + WebVTT track, audiowaveform peaks) belong to one run like its
// output: `…/run-<lease>.mp4` has `…/run-<lease>.waveform.json` and so on next to it, so a
// re-execution never mixes runs, and whatever removes a run's output removes its assets too.

export const REVIEW_ASSETS = {
  "thumbnails.jpg": { contentType: "image/jpeg", types: ["VIDEO"] },
  "thumbnails.vtt": { contentType: "text/vtt; charset=utf-8", types: ["VIDEO"] },
  "waveform.json": { contentType: "application/json", types: ["AUDIO", "VIDEO"] },
  // Analytics: the speaker timeline with its metrics, and one WebVTT cue per talk span.
  "timeline.json": { contentType: "application/json", types: ["AUDIO", "VIDEO"] },
  "speakers.vtt": { contentType: "text/vtt; charset=utf-8", types: ["AUDIO", "VIDEO"] },
} as const satisfies Record<string, { contentType: string; types: readonly CompositionRow["type"][] }>;

export type ReviewAssetName = keyof typeof REVIEW_ASSETS;
export const REVIEW_ASSET_NAMES = Object.keys(REVIEW_ASSETS) as ReviewAssetName[];
/** Far above a 200-frame sprite or 10,000 peaks; anything bigger is not one of ours. */
export const MAX_REVIEW_ASSET_BYTES = 16 * 1024 * 1024;

export function isReviewAsset(name: string): name is ReviewAssetName {
  return Object.hasOwn(REVIEW_ASSETS, name);
}

/** Which assets a composition of this type has. */
export function reviewAssetAllowed(name: string, type: CompositionRow["type"]): name is ReviewAssetName {
  return isReviewAsset(name) && (REVIEW_ASSETS[name].types as readonly string[]).includes(type);
}

const runStem = (outputKey: string) => outputKey.replace(/\.[a-z0-9]+$/, "");

/** The key of a run's asset, from the key of that run's output. */
export function reviewAssetKey(outputKey: string, name: ReviewAssetName): string {
  return `${runStem(outputKey)}.${name}`;
}

/** A run's output and every asset it may have: what cleanup keeps and the storage audit counts as referenced. */
export function runKeys(outputKey: string): string[] {
  return [outputKey, ...REVIEW_ASSET_NAMES.map((name) => reviewAssetKey(outputKey, name))];
}

/** Whether a composition object is a run's review asset (the storage audit's kind "asset"). */
export function isReviewAssetKey(key: string): boolean {
  return REVIEW_ASSET_NAMES.some((name) => key.endsWith(`.${name}`));
}
