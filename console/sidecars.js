// @ts-check
/** The review assets around the player: waveform peaks, scrub thumbnails, the speaker timeline. */
import { clock } from "./format.js";

/**
 * audiowaveform's JSON (version 2): `data` holds min,max pairs per point, channels interleaved.
 * @typedef {{ version: number, channels: number, sample_rate: number, samples_per_pixel: number, bits: number, length: number, data: number[] }} Waveform
 * @typedef {{ start: number, end: number, url: string, x: number, y: number, w: number, h: number }} ThumbnailCue
 * @typedef {{ participantId: string, role?: string, displayName?: string, talk: [number, number][] }} TimelineParticipant
 * @typedef {{ duration: number, participants: TimelineParticipant[], overtalk?: [number, number][], silence?: [number, number][] }} Timeline
 */

/** @param {unknown} json @returns {Waveform | null} */
export function asWaveform(json) {
  const w = /** @type {Waveform} */ (json);
  const ok = w && Array.isArray(w.data) && w.channels >= 1 && w.length > 0 && w.data.length >= w.length * w.channels * 2;
  return ok ? w : null;
}

/** @type {WeakMap<Waveform, number>} */
const loudest = new WeakMap();

/** The largest |sample| of the whole waveform: the drawing is scaled to it, so quiet calls still show their shape. */
function scaleOf(/** @type {Waveform} */ wf) {
  let peak = loudest.get(wf);
  if (peak === undefined) {
    peak = wf.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 2 ** (wf.bits - 1);
    loudest.set(wf, peak);
  }
  return peak;
}

/**
 * Peaks per channel band, scaled to the loudest; what has played is drawn in the accent colour.
 * @param {HTMLCanvasElement} canvas @param {Waveform} wf @param {number} played 0..1
 */
export function drawWaveform(canvas, wf, played) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, width, height);
  const full = scaleOf(wf) * 1.05;
  const band = height / wf.channels;
  const style = getComputedStyle(canvas);
  for (let ch = 0; ch < wf.channels; ch++) {
    const mid = band * ch + band / 2;
    for (let x = 0; x < width; x++) {
      const from = Math.floor((x / width) * wf.length);
      const to = Math.max(from + 1, Math.floor(((x + 1) / width) * wf.length));
      let lo = 0;
      let hi = 0;
      for (let i = from; i < to && i < wf.length; i++) {
        lo = Math.min(lo, wf.data[(i * wf.channels + ch) * 2] ?? 0);
        hi = Math.max(hi, wf.data[(i * wf.channels + ch) * 2 + 1] ?? 0);
      }
      const top = mid - (hi / full) * (band / 2);
      ctx.fillStyle = x < played * width ? style.getPropertyValue("--played") : style.getPropertyValue("--unplayed");
      ctx.fillRect(x, top, 1, Math.max(1, ((hi - lo) / full) * (band / 2)));
    }
  }
}

/** `00:01:02.500` or `01:02.500` → seconds. @param {string} s */
function vttTime(s) {
  const parts = s.trim().split(":").map(Number);
  return parts.reduce((acc, n) => acc * 60 + n, 0);
}

/**
 * The cues of a thumbnails track: each names a region of a sprite (`…/thumbnails.jpg#xywh=x,y,w,h`).
 * @param {string} text @param {string} base the VTT's own URL, for relative sprite references
 * @returns {ThumbnailCue[]}
 */
export function parseThumbnails(text, base) {
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    const at = lines.findIndex((l) => l.includes("-->"));
    const target = lines[at + 1];
    if (at < 0 || !target) continue;
    const [from, to] = /** @type {[string, string]} */ ((lines[at] ?? "").split("-->").map((t) => t.trim().split(/\s/)[0] ?? ""));
    const [url, fragment] = target.trim().split("#xywh=");
    const box = (fragment ?? "").split(",").map(Number);
    if (!url || box.length !== 4 || box.some((n) => !Number.isFinite(n))) continue;
    const [x, y, w, h] = /** @type {[number, number, number, number]} */ (box);
    cues.push({ start: vttTime(from), end: vttTime(to), url: new URL(url, base).href, x, y, w, h });
  }
  return cues;
}

/** @param {unknown} json @returns {Timeline | null} */
export function asTimeline(json) {
  const t = /** @type {Timeline} */ (json);
  return t && Array.isArray(t.participants) && t.participants.every((p) => Array.isArray(p.talk)) ? t : null;
}

/**
 * A lane per participant (its talk spans are buttons that seek there), then overtalk and silence.
 * @param {HTMLElement} box @param {Timeline} timeline @param {number} duration @param {(t: number) => void} seek
 */
export function renderLanes(box, timeline, duration, seek) {
  const total = duration || timeline.duration || 1;
  /** @param {string} label @param {[number, number][]} spans @param {string} kind @param {string} verb */
  const lane = (label, spans, kind, verb) => {
    const row = document.createElement("div");
    row.className = "lane";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", `${label} lane`);
    const name = document.createElement("span");
    name.className = "lane-label";
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "lane-track";
    for (const [start, end] of spans) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `span ${kind}`;
      b.style.left = `${(start / total) * 100}%`;
      b.style.width = `${Math.max(0.4, ((end - start) / total) * 100)}%`;
      b.setAttribute("aria-label", `${label} ${verb} ${clock(start)} to ${clock(end)}`);
      b.addEventListener("click", () => seek(start));
      track.appendChild(b);
    }
    row.append(name, track);
    box.appendChild(row);
  };
  box.replaceChildren();
  // A display name, else the role in words ("Customer"), else the participant's id.
  const words = (/** @type {string | undefined} */ role) => (role ? role.charAt(0) + role.slice(1).toLowerCase() : "");
  for (const p of timeline.participants) lane(p.displayName || words(p.role) || p.participantId, p.talk, "talk", "talks");
  if (timeline.overtalk?.length) lane("Overtalk", timeline.overtalk, "overtalk", "overtalk");
  if (timeline.silence?.length) lane("Silence", timeline.silence, "silence", "silent");
}
