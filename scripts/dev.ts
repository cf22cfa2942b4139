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

const rendererPortSet = Boolean(process.env.RENDERER_PORT);
const port = portVar("PORT", 8787);
const rendererPort = portVar("RENDERER_PORT", port + 1);

// Checked before anything starts: a taken port is said plainly, with a free one to use instead.
if (!(await portFree(port, "127.0.0.1"))) {
  const free = await nextFreePorts(port, rendererPortSet ? 1 : 2, "127.0.0.1");
  refuse(
    `port ${port} (the Worker, PORT) is already in use: stop what listens there, or pick another${free ? `, e.g. PORT=${free} npm start` : " with PORT=…"}`,
  );
}
if (!(await portFree(rendererPort))) {
  const free = await nextFreePorts(rendererPort);
  refuse(
    `port ${rendererPort} (the renderer, RENDERER_PORT${rendererPortSet ? "" : ", default PORT+1"}) is already in use: ` +
      `stop what listens there, or pick another${free ? `, e.g. RENDERER_PORT=${free} npm start` : " with RENDERER_PORT=…"}`,
  );
}

const stack = await startStack({
  port,
  rendererPort,
  persistTo: join(ROOT, ".wrangler", "state"),
  envFiles: [devSecretsFile()],
  vars: {
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    ALLOW_LOOPBACK_CALLBACKS: "true",
  },
});

console.log(`
  Composition API   ${stack.apiUrl}
  API docs          ${stack.apiUrl}/docs
  Renderer          ${stack.rendererUrl}
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
