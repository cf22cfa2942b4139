import { getContainer } from "@cloudflare/containers";
import { RENDERER_PATHS, StartJobResponseSchema, type RenderJob } from "../../contract/renderer";
import { workerConfig } from "../config";
import type { Env } from "../env";

export type StartResult = { accepted: true; instance: string } | { accepted: false; reason: string };

/**
 * The one seam between dispatch and whatever runs ffmpeg: a Cloudflare Container in production,
 * a plain URL (a Node process) in local dev and tests.
 */
export interface Renderer {
  /** `avoid`: instances to offer the job to only after the others (a split run's other parts run there). */
  start(job: RenderJob, o?: { avoid?: readonly string[] }): Promise<StartResult>;
  cancel(jobId: string, instance: string | null): Promise<void>;
}

type Send = (instance: string, path: string, init: RequestInit) => Promise<Response>;

/**
 * How many instances one dispatch offers a job to before calling the renderer busy. Every offer is
 * a request that may cold-start a sleeping container, so a dispatch never walks all of them; the
 * refused wake-up is retried (with backoff) and every finished job sends a "slot freed" one.
 */
export const MAX_OFFERS_PER_DISPATCH = 2;

/** Up to `n` distinct instances in random order: load spreads, and one full instance blocks nothing. */
function pickInstances(instances: readonly string[], n: number): string[] {
  const pool = [...instances];
  const picked: string[] = [];
  while (picked.length < n && pool.length) picked.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]!);
  return picked;
}

/**
 * The instances one dispatch offers a job to: the ones not to avoid first (a part of a split run
 * on an instance of its own gets both its cores), then the avoided ones, `n` at most.
 */
export function offerOrder(instances: readonly string[], avoid: readonly string[], n: number): string[] {
  const preferred = instances.filter((i) => !avoid.includes(i));
  const rest = instances.filter((i) => avoid.includes(i));
  return [...pickInstances(preferred, n), ...pickInstances(rest, n)].slice(0, n);
}

async function offer(send: Send, instance: string, job: RenderJob): Promise<StartResult> {
  try {
    const res = await send(instance, RENDERER_PATHS.jobs, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(job),
    });
    // An answer outside the contract is a refusal named by its status.
    const body = StartJobResponseSchema.safeParse(await res.json().catch(() => undefined)).data;
    if (res.ok && body?.accepted) return { accepted: true, instance };
    return { accepted: false, reason: body?.reason ?? `renderer answered ${res.status}` };
  } catch (err) {
    return { accepted: false, reason: `renderer unreachable: ${(err as Error).message}` };
  }
}

function rendererOver(instances: string[], send: Send): Renderer {
  return {
    async start(job, o = {}) {
      let refused: StartResult = { accepted: false, reason: "busy" };
      for (const instance of offerOrder(instances, o.avoid ?? [], MAX_OFFERS_PER_DISPATCH)) {
        const result = await offer(send, instance, job);
        if (result.accepted) return result;
        refused = result;
      }
      return refused;
    },
    async cancel(jobId, instance) {
      // Only the instance that accepted a job runs it. None recorded: no renderer accepted it (or one
      // did in the instant before it was recorded; that one stops at its next report, refused).
      if (!instance) return;
      await send(instance, RENDERER_PATHS.job(jobId), { method: "DELETE" });
    },
  };
}

let override: Renderer | null = null;

/** Tests replace the renderer here; nothing else should. */
export function setRendererForTests(r: Renderer | null): void {
  override = r;
}

/**
 * The renderer instances jobs are offered to: in production RENDERER_INSTANCES is the only source of
 * their number (see wrangler.toml); outside Cloudflare one "local-i" per RENDERER_URL (RENDERERS=2 npm start).
 */
export function rendererInstanceNames(env: Env): string[] {
  const { outside, instances } = workerConfig(env).renderer;
  if (outside) return outside.urls.map((_, i) => `local-${i}`);
  return Array.from({ length: instances }, (_, i) => `renderer-${i}`);
}

export function rendererFor(env: Env): Renderer {
  if (override) return override;
  const names = rendererInstanceNames(env);
  const outside = workerConfig(env).renderer.outside;
  if (outside) return rendererOver(names, (instance, path, init) => fetch(outside.urls[names.indexOf(instance)]! + path, init));
  if (env.RENDERER) {
    const namespace = env.RENDERER;
    return rendererOver(names, (instance, path, init) =>
      getContainer(namespace as never, instance).fetch(new Request(`http://renderer${path}`, init)),
    );
  }
  throw new Error("no renderer configured: set RENDERER_URL or bind the RENDERER container");
}
