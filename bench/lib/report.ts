// What every benchmark reports: named figures with their baseline and ratio, printed as they come
// and gathered into one table (bench/results/latest.json, and README's "## Benchmarks" section).
import { execFileSync } from "node:child_process";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Row {
  /** Benchmark section, e.g. "1a AUDIO compose". */
  section: string;
  metric: string;
  value: string;
  baseline?: string;
  /** value / baseline in the direction where > 1 is better, as text ("1.72×"). */
  ratio?: string;
  goal?: string;
  /** true = met, false = not met, undefined = no goal. */
  met?: boolean;
  note?: string;
}

export class Report {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  constructor(readonly section: string) {}

  add(r: Omit<Row, "section">): void {
    const row = { section: this.section, ...r };
    this.rows.push(row);
    const parts = [`  ${row.metric}: ${row.value}`];
    if (row.baseline !== undefined) parts.push(`baseline ${row.baseline}`);
    if (row.ratio !== undefined) parts.push(`ratio ${row.ratio}`);
    if (row.goal !== undefined) parts.push(`goal ${row.goal} → ${row.met === undefined ? "-" : row.met ? "MET" : "NOT MET"}`);
    if (row.note) parts.push(`(${row.note})`);
    console.log(parts.join(" | "));
  }

  note(line: string): void {
    this.notes.push(line);
    console.log(`  · ${line}`);
  }
}

export const fmt = {
  s: (sec: number) => `${sec.toFixed(sec < 10 ? 2 : 1)} s`,
  ms: (ms: number) => `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`,
  x: (r: number) => `${r.toFixed(2)}×`,
  rps: (n: number) => `${n.toFixed(0)} req/s`,
};

export function loadNow(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

export function machine(): Record<string, string> {
  const cpu = cpus();
  let ffmpeg = "?";
  try {
    ffmpeg = /ffmpeg version (\S+)/.exec(execFileSync("ffmpeg", ["-hide_banner", "-version"]).toString())?.[1] ?? "?";
  } catch {
    /* no ffmpeg */
  }
  let kernel = "?";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    /* not Linux */
  }
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? "?"}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    os: `Linux ${kernel}`,
    node: process.version,
    ffmpeg,
    load: loadNow(),
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs `fn` and returns its wall time in seconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

/** Markdown table of rows. */
export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = ["| # | Figure | Result | Baseline | Ratio | Goal | Met |", "|---|---|---|---|---|---|---|"];
  for (const r of rows) {
    lines.push(
      `| ${esc(r.section)} | ${esc(r.metric)}${r.note ? ` (${esc(r.note)})` : ""} | ${esc(r.value)} | ${esc(r.baseline ?? "")} | ${esc(r.ratio ?? "")} | ${esc(r.goal ?? "")} | ${r.met === undefined ? "" : r.met ? "yes" : "**no**"} |`,
    );
  }
  return lines.join("\n");
}

/** Runs a benchmark module on its own (`tsx bench/x.ts`): prints the machine, then its figures. */
export function runIfMain(moduleUrl: string, fn: () => Promise<Report[]>): void {
  const entry = process.argv[1];
  if (!entry) return;
  let self: string;
  try {
    self = realpathSync(fileURLToPath(moduleUrl));
    if (realpathSync(entry) !== self) return;
  } catch {
    return;
  }
  console.log(`machine: ${JSON.stringify(machine())}`);
  fn().then(
    (reports) => {
      console.log(`\n${markdownTable(reports.flatMap((r) => r.rows))}`);
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
