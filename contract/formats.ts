// The output formats, written once: what each composition type renders to, its media type and its
// file extension. The Worker stores, serves and names outputs from it; the contract holds jobs to it.

export const FORMATS = {
  MP3: { type: "AUDIO", contentType: "audio/mpeg", extension: "mp3" },
  MP4: { type: "VIDEO", contentType: "video/mp4", extension: "mp4" },
  // Not a composition: a stored track rewritten with its redactions (VP8/Opus), replacing the original.
  WEBM: { type: "TRACK", contentType: "video/webm", extension: "webm" },
} as const;

export type Format = keyof typeof FORMATS;
export type CompositionType = (typeof FORMATS)[Format]["type"];

export const FORMAT_NAMES = Object.keys(FORMATS) as [Format, ...Format[]];

/** AUDIO renders MP3, VIDEO renders MP4 (and a track rewrite WEBM). */
export function formatOf(type: CompositionType): Format {
  return FORMAT_NAMES.find((f) => FORMATS[f].type === type)!;
}
