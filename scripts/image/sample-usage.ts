// `node --import tsx scripts/image/sample-usage.ts <container id>`: samples the container's memory
// and scratch bytes until SIGTERM/SIGINT, then prints one JSON line of the peaks (with a readable
// `summary`). scripts/image/e2e.sh runs it around each test file.
import { describePeaks, sampleUsage } from "./usage.ts";

const id = process.argv[2];
if (!id) throw new Error("usage: sample-usage.ts <container id>");
const sampler = sampleUsage(id);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    const peaks = sampler.stop();
    console.log(JSON.stringify({ ...peaks, summary: describePeaks(peaks) }));
    process.exit(0);
  });
}
