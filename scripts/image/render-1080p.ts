// The job the production instance is sized for, on the image's container: a 4-person VIDEO at
// 1920x1080 from four 1080p camera tracks (joins staggered, so the grid goes 1 → 2 → 3 → 4 up),
// through the real stack, measuring the container's peak memory and scratch bytes while it renders.
// Needs E2E_RENDERER_URL (the container's renderer) and RENDERER_CONTAINER (its id);
// scripts/image/e2e.sh sets both. RENDER_1080P_SECONDS sets the length (default 6);
// RENDER_1080P_JOBS how many such compositions are requested at once (default 2: every slot busy).
import { statSync } from "node:fs";
import { join } from "node:path";
import { makeTrack, probe, tempDir, type TrackFormat } from "../../test/fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TrackFile } from "../../test/e2e/harness.ts";
import { describePeaks, mib, sampleUsage } from "./usage.ts";

const containerId = process.env.RENDERER_CONTAINER;
if (!process.env.E2E_RENDERER_URL || !containerId)
  throw new Error("set E2E_RENDERER_URL and RENDERER_CONTAINER (scripts/image/e2e.sh does)");
const SPAN = Number(process.env.RENDER_1080P_SECONDS ?? 6);
const JOBS = Number(process.env.RENDER_1080P_JOBS ?? 2);
const CONVERSATION = "conv-1080p";

const people: { name: string; format: TrackFormat; color: string; frequency: number; start: number }[] = [
  { name: "agent", format: "webm", color: "red", frequency: 440, start: 0 },
  { name: "customer", format: "mp4", color: "lime", frequency: 660, start: SPAN * 0.1 },
  { name: "expert", format: "webm", color: "blue", frequency: 880, start: SPAN * 0.2 },
  { name: "supervisor", format: "webm", color: "yellow", frequency: 1320, start: SPAN * 0.3 },
];

const dir = await tempDir("image-1080p-");
const tracks: TrackFile[] = await Promise.all(
  people.map(async (p): Promise<TrackFile> => {
    const file = await makeTrack({
      dir,
      name: p.name,
      format: p.format,
      durationSec: SPAN - p.start,
      video: { color: p.color, width: 1920, height: 1080, fps: 30 },
      audio: { frequency: p.frequency },
    });
    const contentType = p.format === "mp4" ? "video/mp4" : "video/webm";
    return { id: `t-${p.name}`, participantId: p.name, start: p.start, audio: true, video: true, file, contentType };
  }),
);
const inputBytes = tracks.reduce((n, t) => n + statSync(t.file).size, 0);

const stack = await startTestStack();
try {
  await ingestRecording(stack, CONVERSATION, SPAN, tracks);
  const sampler = sampleUsage(containerId);
  const t0 = Date.now();
  const ids = await Promise.all(Array.from({ length: JOBS }, (_, i) => requestVideo(`1080p ${i + 1}`)));
  const views = await Promise.all(ids.map((id) => waitForState(stack, CONVERSATION, id, ["COMPLETED", "FAILED"], 900_000)));
  const seconds = (Date.now() - t0) / 1000;
  const peaks = sampler.stop();
  const failed = views.find((v) => v.state !== "COMPLETED");
  if (failed) throw new Error(`a 1080p job ended ${failed.state}: ${failed.error}`);

  const out = join(dir, "out.mp4");
  await downloadOutput(stack, CONVERSATION, ids[0]!, out);
  const video = (await probe(out)).streams.find((s) => s.type === "video");
  if (video?.width !== 1920 || video.height !== 1080) throw new Error(`output is ${video?.width}x${video?.height}, not 1920x1080`);
  console.log(
    `${JOBS} × 1080p 4-person VIDEO at once (${SPAN} s, inputs ${mib(inputBytes)}, output ${mib(statSync(out).size)} each): ` +
      `request → all COMPLETED in ${seconds.toFixed(1)} s; ${describePeaks(peaks)}`,
  );
} finally {
  await stack.dispose();
}

async function requestVideo(name: string): Promise<string> {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: CONVERSATION, layout: "GRID", name, resolution: "1920x1080", type: "VIDEO" },
  });
  if (res.status !== 200) throw new Error(`POST /request: ${res.status} ${res.text}`);
  return res.json.id as string;
}
