// Redaction in the render graph (compliance): inside a span, a named track's audio is muted (and a
// 1 kHz beep mixed in when asked) and its tile blacked or blurred. Filters with timeline support
// (`enable=`) do it in the track's own chain, so the rest of the graph, and every engine, is unchanged.
// Pure.
import type { Redaction } from "../../../contract/renderer.ts";
import { formatMs } from "./timeline.ts";
import { SAMPLE_RATE, type FilterChain } from "./types.ts";

/**
 * Samples per audio frame inside a redacted track's chain: `enable` is decided per frame, so a frame
 * of 10 ms bounds how far the mute reaches past a span's edge (and it never starts late).
 */
const REDACT_FRAME_SAMPLES = 480;
const FRAME_SEC = REDACT_FRAME_SAMPLES / SAMPLE_RATE;

/** Beep level: sine's default amplitude (1/8, about −18 dBFS), well below the limiter. */
const BEEP_HZ = 1000;

export interface Interval {
  startSec: number;
  endSec: number;
}

/** A track's spans of one kind, shifted by `shiftMs` (ms on the recording's timeline → the chain's clock). */
function spansOf(redactions: readonly Redaction[], trackId: string, shiftMs: number, wanted: (r: Redaction) => boolean): Interval[] {
  return redactions
    .filter((r) => wanted(r) && r.tracks.includes(trackId))
    .map((r) => ({ startSec: (r.startMs - shiftMs) / 1000, endSec: (r.endMs - shiftMs) / 1000 }))
    .filter((s) => s.endSec > 0);
}

/** `between(t,a,b)+between(t,c,d)…`, quoted for the filtergraph (its commas stay inside the option). */
export function enableExpr(spans: readonly Interval[], lead = 0): string {
  return `'${spans.map((s) => `between(t,${(s.startSec - lead).toFixed(4)},${s.endSec.toFixed(4)})`).join("+")}'`;
}

/**
 * Filters for a track's audio chain, on the track's own clock (after resampling, before its delay):
 * `clockMs` is where that clock's zero lies on the recording's timeline.
 */
export function audioRedactionFilters(redactions: readonly Redaction[], trackId: string, clockMs: number): string[] {
  const spans = spansOf(redactions, trackId, clockMs, () => true);
  if (spans.length === 0) return [];
  // A frame that starts up to one frame before a span overlaps it, so it is muted whole.
  return [`asetnsamples=n=${REDACT_FRAME_SAMPLES}:p=0`, `volume=volume=0:enable=${enableExpr(spans, FRAME_SEC)}`];
}

/** Filters for a track's video chain, on the rendered window's clock (`originMs` on the recording's). */
export function videoRedactionFilters(redactions: readonly Redaction[], trackId: string, originMs: number): string[] {
  const black = spansOf(redactions, trackId, originMs, (r) => r.video === "BLACK");
  const blur = spansOf(redactions, trackId, originMs, (r) => r.video === "BLUR");
  return [
    ...(black.length ? [`drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable=${enableExpr(black)}`] : []),
    // A radius of a tenth of the picture, three passes: text and faces are gone, the shape of a scene stays.
    ...(blur.length
      ? [`boxblur=luma_radius='min(w,h)/10':luma_power=3:chroma_radius='min(cw,ch)/10':chroma_power=3:enable=${enableExpr(blur)}`]
      : []),
  ];
}

/** One beep chain per BEEP span that reaches the window, on the window's clock; outputs `beep0`, `beep1`… */
export function beepChains(
  redactions: readonly Redaction[],
  originMs: number,
  windowMs: number,
  layout: "mono" | "stereo" = "stereo",
): FilterChain[] {
  return redactions
    .filter((r) => r.audio === "BEEP")
    .map((r) => ({ startMs: Math.max(0, r.startMs - originMs), endMs: Math.min(windowMs, r.endMs - originMs) }))
    .filter((s) => s.endMs > s.startMs)
    .map((s, k) => ({
      ins: [],
      filters: [
        `sine=frequency=${BEEP_HZ}:sample_rate=${SAMPLE_RATE}:duration=${formatMs(s.endMs - s.startMs)}`,
        `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=${layout}`,
        ...(s.startMs > 0 ? [`adelay=delays=${Math.round(s.startMs)}:all=1`] : []),
      ],
      outs: [`beep${k}`],
    }));
}
