// Starts the local stack: `wrangler dev` (Worker over local D1/R2/Queues) and the renderer as a
// plain Node process (or, with `externalRendererUrl`, a renderer already running elsewhere, such as
// the image's container). Used by `npm start`, the end-to-end tests and the benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { API_BASE_PATH } from "../contract/paths.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

export interface StackOptions {
  port: number;
  rendererPort: number;
  /**
   * A renderer that is already running (e.g. the image's container, scripts/image/e2e.sh): the
   * stack starts none (rendererPort is unused) and points the Worker's RENDERER_URL at this one.
   */
  externalRendererUrl?: string;
  /** Where local D1/R2/Queue state lives (wrangler's --persist-to); the Worker's vars file goes there too. */
  persistTo: string;
  /**
   * Worker vars and secrets, over wrangler.toml's [vars]. They reach `wrangler dev` in a file
   * (`<persistTo>/.dev.vars`, mode 0600), never as arguments: a command line is visible to every
   * user of the machine in `ps`.
   */
  vars: Record<string, string>;
  /** Files of vars read before `vars` (npm start: the root .dev.vars, where its secrets are kept). */
  envFiles?: string[];
  rendererEnv?: Record<string, string>;
  /** How many renderer processes, on rendererPort, rendererPort + 1, … (default 1): fan-out runs over them. */
  renderers?: number;
  /** Inherit stdio (npm start) or collect output for diagnostics (tests). */
  quiet?: boolean;
  /** wrangler dev does not fire cron triggers; the stack fires the scheduled handler this often. */
  cronEveryMs?: number;
}

export interface Stack {
  apiUrl: string;
  /** The first renderer's URL (the only one, unless `renderers` > 1). */
  rendererUrl: string;
  rendererUrls: string[];
  logs: () => string;
  /** Starts `wrangler dev` on the stack's port and state; `vars` override the stack's vars for this run. */
  startWorker(vars?: Record<string, string>): Promise<void>;
  stopWorker(signal?: NodeJS.Signals): Promise<void>;
  startRenderer(env?: Record<string, string>): Promise<void>;
  /**
   * SIGTERM (default) and SIGINT reach the renderer process alone, as a container's PID 1 gets the
   * platform's signals (it stops its own ffmpeg children); SIGKILL, and the fallback after `graceMs`
   * (default 5 s), reach its whole process group. Resolves with how it ended (null: it was not running).
   */
  stopRenderer(signal?: NodeJS.Signals, o?: { graceMs?: number }): Promise<Exit | null>;
  stop(): Promise<void>;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process did not stop by itself within the grace: its group was SIGKILLed. */
  killed: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${url} answered`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}

function run(cmd: string, args: string[], opts: { env?: Record<string, string>; quiet?: boolean; sink: string[] }): ChildProcess {
  // Own process group, so stopping it also stops the workerd / ffmpeg processes it started.
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: opts.quiet ? ["ignore", "pipe", "pipe"] : ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const keep = (b: Buffer) => {
    opts.sink.push(b.toString());
    if (opts.sink.length > 2000) opts.sink.splice(0, 1000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return child;
}

async function stopGroup(
  child: ChildProcess | null,
  signal: NodeJS.Signals = "SIGTERM",
  o: { leaderOnly?: boolean; graceMs?: number } = {},
): Promise<Exit | null> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return null;
  const exited = new Promise<Exit>((r) => child.once("exit", (code, sig) => r({ code, signal: sig, killed })));
  let killed = false;
  try {
    process.kill(o.leaderOnly && signal !== "SIGKILL" ? child.pid! : -child.pid!, signal);
  } catch {
    return null;
  }
  const timer = setTimeout(() => {
    killed = true;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  }, o.graceMs ?? 5000);
  const exit = await exited;
  clearTimeout(timer);
  return { ...exit, killed };
}

/**
 * Writes vars as a dotenv file only its owner can read. With `--env-file`, `wrangler dev` reads these
 * files (later ones win) instead of the root .dev.vars, and their values override wrangler.toml's
 * [vars]. Values are single-quoted, so dotenv takes them literally (`#`, `$` and `\n` included).
 */
export function writeVarsFile(path: string, vars: Record<string, string>): string {
  const lines = Object.entries(vars).map(([k, v]) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`var name ${JSON.stringify(k)}: expected A-Z, 0-9 and _`);
    if (/['\r\n]/.test(v)) throw new Error(`var ${k}: a value with a quote or a line break cannot be written to ${path}`);
    return `${k}='${v}'`;
  });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `# Written by scripts/stack.ts for this stack's wrangler dev; not for editing.\n${lines.join("\n")}\n`, {
    mode: 0o600,
  });
  chmodSync(path, 0o600); // mode applies only when the file is created
  return path;
}

export async function applyMigrations(persistTo: string, quiet = true): Promise<void> {
  const sink: string[] = [];
  const child = run(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    quiet,
    sink,
    env: { CI: "true", WRANGLER_SEND_METRICS: "false" },
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`wrangler d1 migrations apply failed (${code}):\n${sink.join("")}`);
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const sink: string[] = [];
  const apiUrl = `http://127.0.0.1:${o.port}${API_BASE_PATH}`;
  const external = o.externalRendererUrl?.replace(/\/$/, "");
  const ports = Array.from({ length: external ? 1 : (o.renderers ?? 1) }, (_, i) => o.rendererPort + i);
  const rendererUrls = external ? [external] : ports.map((p) => `http://127.0.0.1:${p}`);
  const rendererUrl = rendererUrls[0]!;
  let worker: ChildProcess | null = null;
  let renderers: ChildProcess[] = [];
  let cron: NodeJS.Timeout | null = null;
  const refuseIfExternal = () => {
    if (external) throw new Error(`the renderer at ${external} is external: this stack cannot start or stop it`);
  };

  const vars = { ...o.vars, RENDERER_URL: rendererUrls.join(","), INTERNAL_BASE_URL: `http://127.0.0.1:${o.port}` };
  const stack: Stack = {
    apiUrl,
    rendererUrl,
    rendererUrls,
    logs: () => sink.join(""),
    async startWorker(override) {
      const varsFile = writeVarsFile(join(o.persistTo, ".dev.vars"), { ...vars, ...override });
      const envFiles = [...(o.envFiles ?? []), varsFile].flatMap((f) => ["--env-file", f]);
      worker = run(
        WRANGLER,
        [
          "dev",
          "--ip",
          "127.0.0.1",
          "--port",
          String(o.port),
          "--persist-to",
          o.persistTo,
          "--show-interactive-dev-session=false",
          ...envFiles,
        ],
        { quiet: o.quiet, sink, env: { WRANGLER_SEND_METRICS: "false" } },
      );
      await waitForHttp(`${apiUrl}/health`, 60_000, worker);
      cron ??= setInterval(() => {
        fetch(`http://127.0.0.1:${o.port}/cdn-cgi/handler/scheduled`).catch(() => undefined);
      }, o.cronEveryMs ?? 10_000);
      cron.unref();
    },
    async stopWorker(signal) {
      await stopGroup(worker, signal);
      worker = null;
    },
    async startRenderer(env) {
      refuseIfExternal();
      renderers = ports.map((port) =>
        run(process.execPath, ["--import", "tsx", "container/src/server.ts"], {
          quiet: o.quiet,
          sink,
          env: { PORT: String(port), ...o.rendererEnv, ...env },
        }),
      );
      await Promise.all(renderers.map((r, i) => waitForHttp(`${rendererUrls[i]}/health`, 30_000, r)));
    },
    async stopRenderer(signal, so = {}) {
      refuseIfExternal();
      const exits = await Promise.all(renderers.map((r) => stopGroup(r, signal, { leaderOnly: true, graceMs: so.graceMs })));
      renderers = [];
      return exits[0] ?? null;
    },
    async stop() {
      if (cron) clearInterval(cron);
      // SIGINT: the renderer hands running jobs back at once instead of draining them (SIGTERM).
      await Promise.all([...renderers.map((r) => stopGroup(r, "SIGINT", { leaderOnly: true })), stopGroup(worker)]);
    },
  };
  await applyMigrations(o.persistTo, o.quiet);
  if (external) await waitForHttp(`${external}/health`, 30_000);
  else await stack.startRenderer();
  await stack.startWorker();
  return stack;
}
