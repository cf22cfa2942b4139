// The join of a split composition (fan-out): its parts downloaded side by side, the mix probed for
// its channel count (the waveform's bands), then planJoin's stream copy.
import { join } from "node:path";
import type { RenderJob } from "../../contract/renderer.ts";
import type { Prober } from "./engines/types.ts";
import { downloadTrack, JobError } from "./http-io.ts";
import { DOWNLOAD_CONCURRENCY, mapLimit } from "./map-limit.ts";
import type { JoinInputs } from "./planner/part.ts";

export async function fetchParts(
  job: RenderJob,
  dir: string,
  prober: Prober,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<JoinInputs> {
  if (job.part?.kind !== "JOIN") throw new Error("fetchParts: not a JOIN job");
  const { video, audio } = job.part;
  const wanted = [...video.map((url, k) => ({ id: `video part ${k}`, url })), ...(audio ? [{ id: "audio part", url: audio }] : [])];
  const paths = wanted.map((_, k) => join(dir, k < video.length ? `part-${k}.mp4` : "audio.m4a"));
  await mapLimit(wanted, DOWNLOAD_CONCURRENCY, (p, k) => downloadTrack(p, job.callback.token, paths[k]!, signal, onBytes));
  const inputs: JoinInputs = { video: paths.slice(0, video.length), list: join(dir, "parts.ffconcat") };
  if (!audio) return inputs;
  const facts = await prober.probe(paths[video.length]!, signal).catch((e: Error) => {
    throw new JobError(`the audio part is not valid media (${e.message})`, true);
  });
  return { ...inputs, audio: { path: paths[video.length]!, channels: facts.audioChannels ?? 2 } };
}
