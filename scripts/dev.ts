// `npm start`: local D1/R2/Queues (persisted in .wrangler/state), dev secrets on first run, the
// Worker on PORT (default 8787) and the renderer beside it. Ctrl-C stops both.
import { join } from "node:path";
import { nextFreePorts, portFree } from "../container/src/ports.ts";
import { devSecretsFile } from "./dev-secrets.ts";
import { ROOT, startStack } from "./stack.ts";

/** Stops `npm start` with one line saying what to change. */
function refuse(message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

function portVar(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65_535)) refuse(`${name} must be a port number (1 to 65535), not ${JSON.stringify(raw)}`);
  return port;
}

/** A whole number from `min` to `max`, or `fallback` when unset. */
function countVar(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) refuse(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

const rendererPortSet = Boolean(process.env.RENDERER_PORT);
/** Renderer processes side by side (fan-out runs a composition's parts over them). */
const renderers = countVar("RENDERERS", 1, 1, 16);
/** Forces fan-out: every VIDEO composition in parts this long (else the cost model decides). */
const fanoutSegmentSeconds = countVar("FANOUT_SEGMENT_SECONDS", 0, 2, 86_400);
const port = portVar("PORT", 8787);
const firstRendererPort = portVar("RENDERER_PORT", port + 1);

// Checked before anything starts: a taken port is said plainly, with a free one to use instead.
if (!(await portFree(port, "127.0.0.1"))) {
  const free = await nextFreePorts(port, rendererPortSet ? 1 : 2, "127.0.0.1");
  refuse(
    `port ${port} (the Worker, PORT) is already in use: stop what listens there, or pick another${free ? `, e.g. PORT=${free} npm start` : " with PORT=…"}`,
  );
}
for (let rendererPort = firstRendererPort; rendererPort < firstRendererPort + renderers; rendererPort++) {
  if (await portFree(rendererPort)) continue;
  const free = await nextFreePorts(rendererPort, renderers);
  const which =
    renderers > 1
      ? `renderer ${rendererPort - firstRendererPort + 1} of RENDERERS=${renderers}, from RENDERER_PORT`
      : "the renderer, RENDERER_PORT";
  refuse(
    `port ${rendererPort} (${which}${rendererPortSet ? "" : ", default PORT+1"}) is already in use: ` +
      `stop what listens there, or pick another${free ? `, e.g. RENDERER_PORT=${free} npm start` : " with RENDERER_PORT=…"}`,
  );
}

const stack = await startStack({
  port,
  rendererPort: firstRendererPort,
  renderers,
  persistTo: join(ROOT, ".wrangler", "state"),
  envFiles: [devSecretsFile()],
  vars: {
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    ALLOW_LOOPBACK_CALLBACKS: "true",
    // Unset: the Worker's own cost model decides (an empty var reads as unset).
    FANOUT_SEGMENT_SECONDS: fanoutSegmentSeconds ? String(fanoutSegmentSeconds) : "",
    // Each renderer process takes one job at a time (RENDERER_SLOTS below): slots = processes.
    ...(renderers > 1 ? { RENDERER_SLOTS: "1" } : {}),
  },
  ...(renderers > 1 ? { rendererEnv: { SLOTS: "1" } } : {}),
});

console.log(`
  Composition API   ${stack.apiUrl}
  API docs          ${stack.apiUrl}/docs
  Renderer${renderers > 1 ? "s" : " "}         ${stack.rendererUrls.join(", ")}${fanoutSegmentSeconds ? `\n  Fan-out           VIDEO in ${fanoutSegmentSeconds} s parts` : ""}
  A token:          npm run --silent token -- --sub alice --org acme --role SUPERVISOR
  Ctrl-C stops both.
`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping…");
    await stack.stop();
    process.exit(0);
  });
}
