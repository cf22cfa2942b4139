// Samples a running container's memory (from its cgroup) and the bytes in its writable layer (the
// renderer's scratch files: downloaded tracks, windows, the output before upload) and keeps the
// peaks. scripts/image/sample-usage.ts is the command form; render-1080p.ts samples in-process.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface UsagePeaks {
  /** usage minus inactive page cache, as `docker stats` shows it (sampled). */
  workingSetBytes: number;
  /** anonymous memory (heaps, frame buffers): what cannot be reclaimed (sampled). */
  anonBytes: number;
  /** the kernel's own peak of the cgroup's usage, page cache included (since sampling started). */
  cgroupPeakBytes: number | null;
  /** bytes of files in the container's writable layer (sampled). */
  scratchBytes: number;
  /** CPU time the container used while sampling (all its processes, user + system). */
  cpuSeconds: number | null;
  samples: number;
}

interface Cgroup {
  dir: string;
  v1: boolean;
  /** The file holding the cgroup's CPU time, or null if there is none. */
  cpuFile: string | null;
}

function findCgroup(id: string): Cgroup {
  const v1 = [`/sys/fs/cgroup/memory/docker/${id}`, `/sys/fs/cgroup/memory/system.slice/docker-${id}.scope`];
  const v2 = [`/sys/fs/cgroup/docker/${id}`, `/sys/fs/cgroup/system.slice/docker-${id}.scope`];
  const dir1 = v1.find(existsSync);
  if (dir1) {
    const cpu = dir1.replace("/memory/", "/cpuacct/") + "/cpuacct.usage";
    return { dir: dir1, v1: true, cpuFile: existsSync(cpu) ? cpu : null };
  }
  const dir2 = v2.find(existsSync);
  if (dir2) return { dir: dir2, v1: false, cpuFile: join(dir2, "cpu.stat") };
  throw new Error(`no memory cgroup found for container ${id} (looked at ${[...v1, ...v2].join(", ")})`);
}

const readNumber = (file: string): number => Number(readFileSync(file, "utf8").trim());

function memoryStat(cg: Cgroup): Map<string, number> {
  const lines = readFileSync(join(cg.dir, "memory.stat"), "utf8").trim().split("\n");
  return new Map(lines.map((l) => l.split(" ") as [string, string]).map(([k, v]) => [k, Number(v)]));
}

function memoryNow(cg: Cgroup): { workingSet: number; anon: number } {
  const stat = memoryStat(cg);
  const usage = readNumber(join(cg.dir, cg.v1 ? "memory.usage_in_bytes" : "memory.current"));
  const inactiveFile = stat.get(cg.v1 ? "total_inactive_file" : "inactive_file") ?? 0;
  return { workingSet: usage - inactiveFile, anon: stat.get(cg.v1 ? "total_rss" : "anon") ?? 0 };
}

/** The cgroup's CPU time so far (v1: cpuacct.usage in ns; v2: cpu.stat usage_usec). */
function cpuSecondsNow(cg: Cgroup): number | null {
  if (!cg.cpuFile) return null;
  if (cg.v1) return readNumber(cg.cpuFile) / 1e9;
  const usec = /^usage_usec (\d+)$/m.exec(readFileSync(cg.cpuFile, "utf8"))?.[1];
  return usec === undefined ? null : Number(usec) / 1e6;
}

const peakFile = (cg: Cgroup) => join(cg.dir, cg.v1 ? "memory.max_usage_in_bytes" : "memory.peak");

/** Starts the kernel's peak afresh where the kernel allows it (v1; v2 from Linux 6.12). */
function resetPeak(cg: Cgroup): boolean {
  try {
    writeFileSync(peakFile(cg), cg.v1 ? "0" : "reset");
    return true;
  } catch {
    return false;
  }
}

/** Apparent size of every file under dir; files that vanish while walking are skipped. */
function treeBytes(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      total += st.isDirectory() ? treeBytes(path) : st.size;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}

/** The writable layer's bytes: walked on the host (overlay2), else `du` inside the container. */
function scratchReader(id: string): () => number {
  const upper = execFileSync("docker", ["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", id], { encoding: "utf8" }).trim();
  if (upper && existsSync(upper)) return () => treeBytes(upper);
  return () => Number(execFileSync("docker", ["exec", id, "du", "-sb", "/tmp"], { encoding: "utf8" }).split("\t")[0]);
}

/** Samples every `everyMs` until stop() resolves with the peaks. */
export function sampleUsage(containerId: string, everyMs = 200): { stop: () => UsagePeaks } {
  const cg = findCgroup(containerId);
  const scratch = scratchReader(containerId);
  const kernelPeak = resetPeak(cg);
  const cpuAtStart = cpuSecondsNow(cg);
  const peaks: UsagePeaks = { workingSetBytes: 0, anonBytes: 0, cgroupPeakBytes: null, scratchBytes: 0, cpuSeconds: null, samples: 0 };
  const sample = () => {
    try {
      const m = memoryNow(cg);
      peaks.workingSetBytes = Math.max(peaks.workingSetBytes, m.workingSet);
      peaks.anonBytes = Math.max(peaks.anonBytes, m.anon);
      peaks.scratchBytes = Math.max(peaks.scratchBytes, scratch());
      peaks.samples++;
    } catch {
      /* the container is stopping */
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      if (kernelPeak && existsSync(peakFile(cg))) peaks.cgroupPeakBytes = readNumber(peakFile(cg));
      const cpu = cpuSecondsNow(cg);
      if (cpu !== null && cpuAtStart !== null) peaks.cpuSeconds = cpu - cpuAtStart;
      return peaks;
    },
  };
}

export const mib = (bytes: number | null) => (bytes === null ? "n/a" : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

export function describePeaks(p: UsagePeaks): string {
  const cpu = p.cpuSeconds === null ? "n/a" : `${p.cpuSeconds.toFixed(1)} s`;
  return `peak memory working set ${mib(p.workingSetBytes)} (anon ${mib(p.anonBytes)}, cgroup peak incl. page cache ${mib(p.cgroupPeakBytes)}), peak scratch ${mib(p.scratchBytes)}, CPU ${cpu}, ${p.samples} samples`;
}
