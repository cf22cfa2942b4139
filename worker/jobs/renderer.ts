import { getContainer } from "@cloudflare/containers";
import { RENDERER_PATHS, StartJobResponseSchema, type RenderJob } from "../../contract/renderer";
import type { Env } from "../env";

export type StartResult = { accepted: true; instance: string } | { accepted: false; reason: string };

/**
 * The one seam between dispatch and whatever runs ffmpeg: a Cloudflare Container in production,
 * a plain URL (a Node process) in local dev and tests.
 */
export interface Renderer {
  start(job: RenderJob): Promise<StartResult>;
  cancel(jobId: string, instance: string | null): Promise<void>;
}

type Send = (instance: string, path: string, init: RequestInit) => Promise<Response>;

function rendererOver(instances: string[], send: Send): Renderer {
  return {
    async start(job) {
      // Try instances from a random start so load spreads and one full instance does not block.
      const first = Math.floor(Math.random() * instances.length);
      let reason = "busy";
      for (let i = 0; i < instances.length; i++) {
        const instance = instances[(first + i) % instances.length]!;
        try {
          const res = await send(instance, RENDERER_PATHS.jobs, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(job),
          });
          // An answer outside the contract is a refusal named by its status.
          const body = StartJobResponseSchema.safeParse(await res.json().catch(() => undefined)).data;
          if (res.ok && body?.accepted) return { accepted: true, instance };
          reason = body?.reason ?? `renderer answered ${res.status}`;
        } catch (err) {
          reason = `renderer unreachable: ${(err as Error).message}`;
        }
      }
      return { accepted: false, reason };
    },
    async cancel(jobId, instance) {
      const targets = instance && instances.includes(instance) ? [instance] : instances;
      await Promise.allSettled(targets.map((t) => send(t, RENDERER_PATHS.job(jobId), { method: "DELETE" })));
    },
  };
}

let override: Renderer | null = null;

/** Tests replace the renderer here; nothing else should. */
export function setRendererForTests(r: Renderer | null): void {
  override = r;
}

export function rendererFor(env: Env): Renderer {
  if (override) return override;
  if (env.RENDERER_URL) {
    const base = env.RENDERER_URL.replace(/\/$/, "");
    return rendererOver(["local"], (_i, path, init) => fetch(base + path, init));
  }
  if (env.RENDERER) {
    const namespace = env.RENDERER;
    const count = Math.max(1, Number(env.RENDERER_INSTANCES ?? "2"));
    const names = Array.from({ length: count }, (_, i) => `renderer-${i}`);
    return rendererOver(names, (instance, path, init) =>
      getContainer(namespace as never, instance).fetch(new Request(`http://renderer${path}`, init)),
    );
  }
  throw new Error("no renderer configured: set RENDERER_URL or bind the RENDERER container");
}
