// @ts-check
/** The player of the selected composition: media, scrub bar with thumbnails, waveform, lanes, sharing. */
import { api, commandPath, signedLink } from "./api.js";
import { clock, durationSeconds, when } from "./format.js";
import { asTimeline, asWaveform, drawWaveform, parseThumbnails, renderLanes } from "./sidecars.js";

/** @typedef {import("./api.js").Composition} Composition */
/** @typedef {import("./sidecars.js").ThumbnailCue} ThumbnailCue */

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

/**
 * The body of a review asset, or null while it does not exist (older compositions, a renderer
 * without it, an asset kind the server does not serve yet): the player goes on without it.
 * @param {Composition} c @param {string} name
 */
async function assetBody(c, name) {
  try {
    const link = await signedLink(c, { asset: name });
    if (!new URL(link.url).pathname.endsWith(`/${name}`)) return null;
    const res = await fetch(link.url);
    return res.ok ? { res, url: link.url } : null;
  } catch {
    return null;
  }
}

/** @param {{ can: { share: boolean, revoke: boolean }, notify: (text: string, kind?: "info" | "error") => void, onChange: () => void }} deps */
export function createPlayer({ can, notify, onChange }) {
  const box = $("player-media");
  const info = $("player-info");
  const scrub = /** @type {HTMLInputElement} */ ($("scrub-bar"));
  const canvas = /** @type {HTMLCanvasElement} */ ($("waveform"));
  const thumb = $("thumbnail");
  const lanes = $("lanes");
  const shareLink = /** @type {HTMLInputElement} */ ($("share-link"));
  /** @type {Composition | null} */
  let current = null;
  /** @type {HTMLMediaElement | null} */
  let media = null;
  /** @type {ThumbnailCue[]} */
  let cues = [];
  /** @type {import("./sidecars.js").Waveform | null} */
  let waveform = null;
  let dragging = false;

  const duration = () => (media && Number.isFinite(media.duration) ? media.duration : (durationSeconds(current?.duration ?? null) ?? 0));

  function describe() {
    if (!current) return;
    const waiting = current.state !== "COMPLETED";
    info.textContent = `${current.name} · ${current.conversationId} · ${current.state}${waiting && !media ? " (it plays once COMPLETED)" : ""}`;
  }

  function clear() {
    media?.pause();
    media?.removeAttribute("src");
    media = null;
    cues = [];
    waveform = null;
    box.replaceChildren();
    for (const id of ["scrub", "clock", "lanes", "share", "waveform", "thumbnail"]) $(id).hidden = true;
    shareLink.value = "";
  }

  function tick() {
    if (!media) return;
    const t = media.currentTime;
    if (!dragging) scrub.value = String(t);
    scrub.setAttribute("aria-valuetext", `${clock(t)} of ${clock(duration())}`);
    $("clock").textContent = `${clock(t)} / ${clock(duration())}`;
    if (waveform) drawWaveform(canvas, waveform, duration() ? t / duration() : 0);
  }

  /** @param {number} t */
  function seek(t) {
    if (!media) return;
    media.currentTime = Math.min(Math.max(0, t), duration());
    tick();
  }

  /** The sprite region for instant `t`, placed over the scrub bar at `x` px from its left. */
  function preview(/** @type {number} */ t, /** @type {number} */ x) {
    const cue = cues.find((c) => t >= c.start && t < c.end) ?? (t >= (cues.at(-1)?.start ?? Infinity) ? cues.at(-1) : undefined);
    if (!cue) return void (thumb.hidden = true);
    Object.assign(thumb.style, {
      backgroundImage: `url("${cue.url}")`,
      backgroundPosition: `-${cue.x}px -${cue.y}px`,
      width: `${cue.w}px`,
      height: `${cue.h}px`,
      left: `${Math.min(Math.max(0, x - cue.w / 2), Math.max(0, scrub.clientWidth - cue.w))}px`,
    });
    thumb.dataset.time = String(t);
    $("thumbnail-time").textContent = clock(t);
    thumb.setAttribute("aria-label", `Thumbnail preview at ${clock(t)}`);
    thumb.hidden = false;
  }

  /** @param {Composition} c */
  async function loadSidecars(c) {
    const [peaks, vtt, timeline] = await Promise.all([
      assetBody(c, "waveform.json"),
      c.type === "VIDEO" ? assetBody(c, "thumbnails.vtt") : null,
      assetBody(c, "timeline.json"),
    ]);
    if (current?.id !== c.id) return;
    waveform = asWaveform(await peaks?.res.json().catch(() => null));
    canvas.hidden = !waveform;
    if (vtt) cues = parseThumbnails(await vtt.res.text(), vtt.url);
    const lanesData = asTimeline(await timeline?.res.json().catch(() => null));
    lanes.hidden = !lanesData;
    if (lanesData) renderLanes(lanes, lanesData, duration(), seek);
    tick();
  }

  /** @param {Composition} c @param {number} [resumeAt] */
  async function load(c, resumeAt) {
    const link = await signedLink(c);
    if (current?.id !== c.id) return;
    clear();
    const el = document.createElement(c.type === "VIDEO" ? "video" : "audio");
    Object.assign(el, { controls: true, preload: "auto", src: link.url });
    el.setAttribute("playsinline", "");
    el.setAttribute("aria-label", `${c.type === "VIDEO" ? "Video" : "Audio"}: ${c.name}`);
    el.addEventListener("loadedmetadata", () => {
      scrub.max = String(duration());
      if (resumeAt) el.currentTime = resumeAt;
      tick();
    });
    el.addEventListener("timeupdate", tick);
    box.replaceChildren(el);
    media = el;
    for (const id of ["scrub", "clock"]) $(id).hidden = false;
    $("share").hidden = !can.share;
    $("revoke").hidden = !can.revoke;
    describe();
    await loadSidecars(c);
  }

  scrub.addEventListener("input", () => {
    dragging = true;
    seek(Number(scrub.value));
    preview(Number(scrub.value), (Number(scrub.value) / (duration() || 1)) * scrub.clientWidth);
  });
  scrub.addEventListener("change", () => (dragging = false));
  scrub.addEventListener("blur", () => (thumb.hidden = true));
  $("scrub").addEventListener("pointermove", (e) => {
    const rect = scrub.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
    preview(fraction * duration(), fraction * rect.width);
  });
  $("scrub").addEventListener("pointerleave", () => (thumb.hidden = true));
  new ResizeObserver(tick).observe(canvas);

  $("share-copy").addEventListener("click", async () => {
    if (!current) return;
    try {
      const link = await signedLink(current, { ttl: Number(/** @type {HTMLSelectElement} */ ($("share-ttl")).value) });
      shareLink.value = link.url;
      await navigator.clipboard.writeText(link.url).catch(() => shareLink.select());
      notify(`Share link copied: it plays without a token until ${when(link.validUntil)}.`);
    } catch (err) {
      notify(err instanceof Error ? err.message : String(err), "error");
    }
  });

  $("revoke").addEventListener("click", async () => {
    const c = current;
    if (!c || !confirm(`Revoke every link to "${c.name}" given so far? People you shared it with lose access.`)) return;
    try {
      const res = await api("POST", commandPath(c, "links/revoke"));
      shareLink.value = "";
      notify(`Links to "${c.name}" revoked at ${when(res.linksRevokedAt)}; links given before no longer play.`);
      // This player's own link was revoked too: continue on a fresh one.
      if (media) await load(c, media.currentTime);
    } catch (err) {
      notify(err instanceof Error ? err.message : String(err), "error");
    }
  });

  return {
    /** @param {Composition} c */
    async open(c) {
      current = c;
      clear();
      describe();
      $("player").scrollIntoView({ block: "nearest" });
      if (c.state === "COMPLETED") await load(c).catch((err) => notify(err.message, "error"));
      else onChange();
    },
    /** Follows the selected composition through the list's polls; plays it once it completes. @param {Composition[]} rows */
    update(rows) {
      const fresh = current && rows.find((r) => r.id === current?.id);
      if (!fresh || !current) return;
      const completedNow = fresh.state === "COMPLETED" && (current.state !== "COMPLETED" || fresh.completed !== current.completed);
      current = fresh;
      describe();
      if (completedNow) load(fresh, media?.currentTime).catch((err) => notify(err.message, "error"));
    },
    isWaiting: () => !!current && ["QUEUED", "PROCESSING"].includes(current.state),
    selectedId: () => current?.id ?? null,
    /** @param {string} [id] */
    forget(id) {
      if (id && current?.id !== id) return;
      current = null;
      clear();
      info.textContent = "Choose a composition to play it.";
    },
  };
}
