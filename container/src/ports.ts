// Whether a TCP port is free, and the next free one to suggest when it is not: a port already in
// use is told to the user with the variable to change, never as an EADDRINUSE stack trace.
import { createServer } from "node:net";
import { StartupError } from "./config.ts";

/** True when nothing listens on `port` (at `host`, default every interface). */
export function portFree(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? resolve(false) : reject(e)));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** The first port after `port` from which `count` consecutive ports are free (a guess: another program may take it first). */
export async function nextFreePorts(port: number, count = 1, host?: string): Promise<number | null> {
  for (let first = port + 1; first + count - 1 <= Math.min(65_535, port + 200); first++) {
    let free = true;
    for (let p = first; p < first + count && free; p++) free = await portFree(p, host);
    if (free) return first;
  }
  return null;
}

/** A listen failure as the renderer's operator should read it: a taken port names PORT and a free one. */
export async function listenError(e: unknown, port: number, host?: string): Promise<unknown> {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `port ${port}${host ? ` on ${host}` : ""}`;
  if (code === "EADDRINUSE") {
    const free = await nextFreePorts(port, 1, host).catch(() => null);
    return new StartupError(
      `${where} is already in use: stop what listens there, or set PORT to a free port${free ? ` (e.g. PORT=${free})` : ""}`,
    );
  }
  if (code === "EACCES") return new StartupError(`${where} needs privileges this process lacks: set PORT to a port above 1023`);
  return e;
}
