// The job the production instance is sized for, on the image's container: a 4-person VIDEO at
// 1920x1080 from four 1080p camera tracks (joins staggered, so the grid goes 1 → 2 → 3 → 4 up),
// through the real stack, measuring the container's peak memory and scratch bytes while it renders.
// Needs E2E_RENDERER_URL (the container's renderer) and RENDERER_CONTAINER (its id);
// scripts/image/e2e.sh sets both. RENDER_1080P_SECONDS sets the length (default 6).
import { statSync } from "node:fs";
import { join } from "node:path";
import { makeTrack, probe, tempDir, type TrackFormat } from "../../test/fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TrackFile } from "../../test/e2e/harness.ts";
import { describePeaks, mib, sampleUsage } from "./usage.ts";

const containerId = process.env.RENDERER_CONTAINER;
if (!process.env.E2E_RENDERER_URL || !containerId) throw new Error("set E2E_RENDERER_URL and RENDERER_CONTAINER (scripts/image/e2e.sh does)");
const SPAN = Number(process.env.RENDER_1080P_SECONDS ?? 6);
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
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: CONVERSATION, layout: "GRID", name: "1080p", resolution: "1920x1080", type: "VIDEO" },
  });
  if (res.status !== 200) throw new Error(`POST /request: ${res.status} ${res.text}`);
  const view = await waitForState(stack, CONVERSATION, res.json.id, ["COMPLETED", "FAILED"], 900_000);
  const seconds = (Date.now() - t0) / 1000;
  const peaks = sampler.stop();
  if (view.state !== "COMPLETED") throw new Error(`the 1080p job ended ${view.state}: ${view.error}`);

  const out = join(dir, "out.mp4");
  await downloadOutput(stack, CONVERSATION, res.json.id, out);
  const video = (await probe(out)).streams.find((s) => s.type === "video");
  if (video?.width !== 1920 || video.height !== 1080) throw new Error(`output is ${video?.width}x${video?.height}, not 1920x1080`);
  console.log(
    `1080p 4-person VIDEO (${SPAN} s, inputs ${mib(inputBytes)}, output ${mib(statSync(out).size)}): ` +
      `request → COMPLETED in ${seconds.toFixed(1)} s; ${describePeaks(peaks)}`,
  );
} finally {
  await stack.dispose();
}
