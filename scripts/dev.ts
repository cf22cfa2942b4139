// `npm start`: local D1/R2/Queues (persisted in .wrangler/state), dev secrets on first run, the
// Worker on PORT (default 8787) and the renderer beside it. Ctrl-C stops both.
import { join } from "node:path";
import { devSecrets } from "./dev-secrets.ts";
import { ROOT, startStack } from "./stack.ts";

const port = Number(process.env.PORT ?? 8787);
const rendererPort = Number(process.env.RENDERER_PORT ?? port + 1);
const secrets = devSecrets();

const stack = await startStack({
  port,
  rendererPort,
  persistTo: join(ROOT, ".wrangler", "state"),
  vars: {
    ...secrets,
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
