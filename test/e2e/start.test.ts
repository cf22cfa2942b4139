// `npm start` with a port already taken: it says which one (the Worker's or the renderer's), the
// variable to change and a free port to use, before it starts or writes anything.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const DEV = fileURLToPath(new URL("../../scripts/dev.ts", import.meta.url));

function npmStart(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", DEV], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

let occupied: Server | undefined;
afterEach(() => new Promise<void>((r) => (occupied ? occupied.close(() => r()) : r())));

/** Takes a free port of 127.0.0.1 and returns it. */
async function occupy(): Promise<number> {
  occupied = createServer();
  return new Promise((r) => occupied!.listen(0, "127.0.0.1", () => r((occupied!.address() as { port: number }).port)));
}

describe("npm start on a taken port", () => {
  it("the Worker's port (PORT): exits 1 naming it, with a free pair to use instead", async () => {
    const port = await occupy();
    const { code, output } = await npmStart({ PORT: String(port), RENDERER_PORT: "" });
    expect(code).toBe(1);
    const m = new RegExp(
      `^npm start: port ${port} \\(the Worker, PORT\\) is already in use: stop what listens there, or pick another, e\\.g\\. PORT=(\\d+) npm start$`,
    ).exec(output.trim());
    expect(m, output).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(port);
    expect(output).not.toMatch(/EADDRINUSE|^\s+at /m);
  });

  it("the renderer's port (PORT+1 by default): exits 1 naming RENDERER_PORT", async () => {
    const rendererPort = await occupy();
    const { code, output } = await npmStart({ PORT: String(rendererPort - 1), RENDERER_PORT: "" });
    expect(code).toBe(1);
    expect(output.trim()).toMatch(
      new RegExp(
        `^npm start: port ${rendererPort} \\(the renderer, RENDERER_PORT, default PORT\\+1\\) is already in use: stop what listens there, or pick another, e\\.g\\. RENDERER_PORT=\\d+ npm start$`,
      ),
    );
  });

  it("RENDERERS that is not a count: exits 1 naming it", async () => {
    const { code, output } = await npmStart({ RENDERERS: "two" });
    expect(code).toBe(1);
    expect(output.trim()).toBe('npm start: RENDERERS must be a whole number from 1 to 16, not "two"');
  });

  it("a PORT that is not a port number: exits 1 naming it", async () => {
    const { code, output } = await npmStart({ PORT: "eighty" });
    expect(code).toBe(1);
    expect(output.trim()).toBe('npm start: PORT must be a port number (1 to 65535), not "eighty"');
  });
});
