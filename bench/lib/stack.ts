// The running stack for benchmarks: the end-to-end harness's startTestStack (real `wrangler dev`
// over local D1/R2/Queues), with either the real renderer or a stub renderer on its port.
import {
  ingestRecording,
  SUPERVISOR,
  SERVICE,
  startTestStack,
  waitForState,
  type TestStack,
  type TrackFile,
  type Who,
} from "../../test/e2e/harness.ts";
import { startStubRenderer, type StubOptions, type StubRenderer } from "./stub-renderer.ts";

export { SUPERVISOR, SERVICE };

export interface BenchStack extends TestStack {
  stub?: StubRenderer;
}

export async function benchStack(
  o: { stub?: StubOptions; vars?: Record<string, string>; rendererEnv?: Record<string, string>; renderers?: number } = {},
): Promise<BenchStack> {
  const s: BenchStack = await startTestStack({
    // Cron only reclaims leases and re-wakes stale jobs; benchmarks need neither every 2 s.
    cronEveryMs: 10_000,
    vars: { LEASE_SECONDS: o.stub ? "3600" : "30", ...o.vars },
    rendererEnv: o.rendererEnv,
    renderers: o.renderers,
  });
  const dispose0 = s.dispose;
  s.dispose = async () => {
    const n = reloads(s);
    if (n) console.log(`  ! wrangler dev reloaded the Worker ${n}× during this benchmark (a source file changed under it)`);
    await dispose0();
  };
  if (o.stub) {
    // Same port, so the Worker's RENDERER_URL now reaches the stub.
    await s.stopRenderer();
    s.stub = await startStubRenderer(Number(new URL(s.rendererUrl).port), o.stub);
    const dispose = s.dispose;
    s.dispose = async () => {
      await s.stub?.close();
      await dispose();
    };
  }
  return s;
}

/** Ingests `files` as one call's tracks (t0, t1… of participants p0, p1…), joining at `offsets` seconds. */
export function ingestCall(
  s: TestStack,
  conversationId: string,
  type: "AUDIO" | "VIDEO",
  spanSec: number,
  files: string[],
  offsets: number[],
) {
  const tracks: TrackFile[] = files.map((file, i) => ({
    id: `t${i}`,
    participantId: `p${i}`,
    start: offsets[i]!,
    audio: true,
    video: type === "VIDEO",
    file,
    contentType: type === "AUDIO" ? "audio/webm" : "video/webm",
  }));
  return ingestRecording(s, conversationId, spanSec, tracks);
}

/** `wrangler dev` reloads the Worker when a source file changes (others may be editing). */
export function reloads(s: TestStack): number {
  return s.logs().split("Reloading local server").length - 1;
}

/**
 * Retries an API call that met a Worker reload ("Your worker restarted mid-request", 503): the
 * proxy retries GETs itself, not writes.
 */
export async function retryOnRestart<T extends { status: number; text: string }>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 0; ; i++) {
    const r = await fn();
    if (r.status !== 503 || !/restarted mid-request/.test(r.text) || i + 1 >= attempts) return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

export interface Requested {
  id: string;
  /** performance.now() just before the request was sent. */
  sentAt: number;
  /** Date.now() just before the request was sent (to compare with the server's timestamps). */
  sentWall: number;
}

export async function requestComposition(
  s: TestStack,
  body: { conversationId: string; type: "AUDIO" | "VIDEO"; resolution?: string; priority?: number; name?: string },
  as: Who = SUPERVISOR,
): Promise<Requested> {
  const sentWall = Date.now();
  const sentAt = performance.now();
  const res = await retryOnRestart(() =>
    s.api("POST", "/request", { as, body: { layout: "GRID", resolution: "1280x720", name: "bench", priority: 1, ...body } }),
  );
  if (res.status !== 200) throw new Error(`POST /request: ${res.status} ${res.text}`);
  return { id: res.json.id as string, sentAt, sentWall };
}

/**
 * Waits for COMPLETED and returns the request→COMPLETED time from the Worker's own completion
 * timestamp (same machine clock), so the polling interval does not blur it.
 */
export async function timeToCompleted(
  s: TestStack,
  conversationId: string,
  r: Requested,
  timeoutMs: number,
): Promise<{ seconds: number; view: any }> {
  // The figure is the server's own `completed` time, so polling slowly changes nothing but the CPU
  // the poller takes from the render on this shared 2-core machine.
  const view = await waitForState(s, conversationId, r.id, ["COMPLETED", "FAILED", "CANCELLED"], timeoutMs, undefined, 2000);
  if (view.state !== "COMPLETED") throw new Error(`composition ${r.id} ended ${view.state}: ${view.error}\n${s.logs().slice(-3000)}`);
  return { seconds: (Date.parse(view.completed) - r.sentWall) / 1000, view };
}
