// The speaker timeline (analytics): per-track frame levels → talk spans (voice activity with an
// adaptive threshold above the track's own noise floor) → the composition's timeline.json, its
// speakers.vtt and the conversation metrics. Pure.
import type { ConversationMetrics, RenderJob } from "../../../contract/renderer.ts";
import type { KeptSpan } from "../planner/keep.ts";
import { displayLabel } from "../planner/labels.ts";

export type Span = [number, number];

/** A frame's level: its start on the window's clock (s) and its RMS in dBFS (-Infinity for silence). */
export interface FrameLevel {
  t: number;
  db: number;
}

const FRAME_SEC = 0.02;
/** Speech this far above the track's noise floor (its 10th-percentile frame) counts as talk… */
const ABOVE_FLOOR_DB = 15;
/** …but never below this (a silent track's floor is −∞) nor above this (a loud floor). */
const MIN_THRESHOLD_DB = -50;
const MAX_THRESHOLD_DB = -30;
/** Pauses shorter than this stay inside one talk span (a breath, a plosive's gap). */
const HANGOVER_SEC = 0.3;
/** Talk shorter than this is a click, not speech. */
const MIN_TALK_SEC = 0.1;

/** 20 ms frames of 16-bit mono samples at `rate`: each frame's start and RMS level in dBFS. */
export function levelsFromPcm(pcm: Uint8Array, rate: number): FrameLevel[] {
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.byteLength / 2));
  const n = Math.round(rate * FRAME_SEC);
  const out: FrameLevel[] = [];
  for (let start = 0; start + n <= samples.length; start += n) {
    let sum = 0;
    for (let i = start; i < start + n; i++) sum += samples[i]! * samples[i]!;
    const rms = Math.sqrt(sum / n) / 32768;
    out.push({ t: start / rate, db: rms > 0 ? 20 * Math.log10(rms) : -Infinity });
  }
  return out;
}

export function talkSpans(levels: readonly FrameLevel[]): Span[] {
  if (levels.length === 0) return [];
  const sorted = levels.map((l) => l.db).sort((a, b) => a - b);
  const floor = sorted[Math.floor(sorted.length * 0.1)]!;
  const threshold = Math.min(MAX_THRESHOLD_DB, Math.max(MIN_THRESHOLD_DB, floor + ABOVE_FLOOR_DB));
  const spans: Span[] = [];
  for (const l of levels) {
    if (l.db < threshold) continue;
    const last = spans.at(-1);
    if (last && l.t - last[1] <= HANGOVER_SEC) last[1] = l.t + FRAME_SEC;
    else spans.push([l.t, l.t + FRAME_SEC]);
  }
  return spans.filter(([a, b]) => b - a >= MIN_TALK_SEC);
}

/** Spans on the window's clock → the output's (the kept spans back to back). */
export function toOutput(spans: readonly Span[], cuts: KeptSpan[] | null, outputSec: number): Span[] {
  const clip = (s: Span[]) => s.map(([a, b]): Span => [Math.max(0, a), Math.min(outputSec, b)]).filter(([a, b]) => b > a);
  if (!cuts) return clip([...spans]);
  const out: Span[] = [];
  let offset = 0;
  for (const c of cuts) {
    const [cs, ce] = [c.startMs / 1000, c.endMs / 1000];
    for (const [a, b] of spans) {
      const [x, y] = [Math.max(a, cs), Math.min(b, ce)];
      if (y > x) out.push([offset + x - cs, offset + y - cs]);
    }
    offset += ce - cs;
  }
  return clip(out);
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const length = (spans: readonly Span[]) => spans.reduce((n, [a, b]) => n + b - a, 0);

/** Where at least `min` of the lists' spans overlap (a sweep over their edges). */
function coverage(lists: readonly Span[][], min: number): Span[] {
  const edges = lists.flat().flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]);
  edges.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
  const out: Span[] = [];
  let depth = 0;
  let start = 0;
  for (const [t, d] of edges as [number, number][]) {
    const before = depth;
    depth += d;
    if (before < min && depth >= min) start = t;
    if (before >= min && depth < min && t > start) out.push([start, t]);
  }
  return out;
}

/** The complement of `spans` (sorted, disjoint) within [0, duration]. */
function gaps(spans: readonly Span[], duration: number): Span[] {
  const out: Span[] = [];
  let at = 0;
  for (const [a, b] of spans) {
    if (a > at) out.push([at, a]);
    at = Math.max(at, b);
  }
  if (duration > at) out.push([at, duration]);
  return out;
}

export interface Speaker {
  participantId: string;
  role: string | null;
  displayName: string | null;
  talk: Span[];
}

const AGENT_SIDE = new Set(["AGENT", "SUPERVISOR"]);

export function conversationMetrics(speakers: readonly Speaker[], duration: number): ConversationMetrics {
  const overtalk = coverage(
    speakers.map((s) => s.talk),
    2,
  );
  const silence = gaps(
    coverage(
      speakers.map((s) => s.talk),
      1,
    ),
    duration,
  );
  const all = speakers.reduce((n, s) => n + length(s.talk), 0);
  const agent = speakers.filter((s) => s.role && AGENT_SIDE.has(s.role)).reduce((n, s) => n + length(s.talk), 0);
  const monologues = speakers.flatMap((s) => s.talk.map(([a, b]) => ({ by: s.participantId, sec: b - a })));
  const longest = monologues.reduce<{ by: string | null; sec: number }>((m, x) => (x.sec > m.sec ? x : m), { by: null, sec: 0 });
  const talkSeconds: Record<string, number> = {};
  for (const s of speakers) talkSeconds[s.participantId] = round((talkSeconds[s.participantId] ?? 0) + length(s.talk));
  return {
    talkSeconds,
    talkRatio: all > 0 ? round(agent / all) : null,
    overtalkSeconds: round(length(overtalk)),
    overtalkCount: overtalk.length,
    silenceSeconds: round(length(silence)),
    longestSilenceSeconds: round(Math.max(0, ...silence.map(([a, b]) => b - a))),
    longestMonologueSeconds: round(longest.sec),
    longestMonologueBy: longest.by,
  };
}

/** What a person is called where people read it: their display name, else their role in words, else "Speaker N". */
export function speakerLabel(s: Pick<Speaker, "role" | "displayName">, n: number): string {
  return displayLabel(s) ?? `Speaker ${n}`;
}

const roundSpans = (spans: readonly Span[]) => spans.map(([a, b]): Span => [round(a), round(b)]);

export function timelineJson(speakers: readonly Speaker[], duration: number) {
  const talk = speakers.map((s) => s.talk);
  return {
    duration: round(duration),
    participants: speakers.map((s) => ({ ...s, talk: roundSpans(s.talk) })),
    overtalk: roundSpans(coverage(talk, 2)),
    silence: roundSpans(gaps(coverage(talk, 1), duration)),
    metrics: conversationMetrics(speakers, duration),
  };
}

const vttTime = (sec: number) => {
  const ms = Math.round(sec * 1000);
  const p = (v: number, n = 2) => String(v).padStart(n, "0");
  return `${p(Math.floor(ms / 3_600_000))}:${p(Math.floor(ms / 60_000) % 60)}:${p(Math.floor(ms / 1000) % 60)}.${p(ms % 1000, 3)}`;
};

/** One cue per talk span, in time order, its text who is talking. */
export function speakersVtt(speakers: readonly Speaker[]): string {
  const cues = speakers
    .flatMap((s, i) => s.talk.map(([a, b]) => ({ a, b, who: speakerLabel(s, i + 1) })))
    .sort((x, y) => x.a - y.a || x.b - y.b)
    .map((c) => `${vttTime(c.a)} --> ${vttTime(c.b)}\n${c.who}`);
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

/** The job's people, merged by participant (a participant with two tracks talks once). */
export function speakersOf(job: RenderJob, talkByTrack: ReadonlyMap<string, Span[]>): Speaker[] {
  const byParticipant = new Map<string, Speaker>();
  for (const t of job.tracks) {
    const talk = talkByTrack.get(t.id);
    if (!talk) continue;
    const s = byParticipant.get(t.participantId) ?? {
      participantId: t.participantId,
      role: t.role ?? null,
      displayName: t.displayName ?? null,
      talk: [],
    };
    s.talk = coverage([s.talk, talk], 1);
    byParticipant.set(t.participantId, s);
  }
  return [...byParticipant.values()];
}
