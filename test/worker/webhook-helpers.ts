import { env } from "cloudflare:workers";
import { createMessageBatch } from "cloudflare:test";
import { vi } from "vitest";
import { handleWebhookBatch, type DeliverOptions } from "../../worker/webhooks/deliver";
import type { WebhookMessage } from "../../worker/webhooks/types";

export interface Sent {
  body: WebhookMessage;
  delaySeconds: number;
}

/** Keeps WEBHOOKS messages for the test to deliver (instead of miniflare running the consumer later). */
export function captureWebhooks(): Sent[] {
  const sent: Sent[] = [];
  vi.spyOn(env.WEBHOOKS, "send").mockImplementation(async (body: WebhookMessage, opts?: QueueSendOptions) => {
    sent.push({ body, delaySeconds: opts?.delaySeconds ?? 0 });
    return {} as QueueSendResponse;
  });
  vi.spyOn(env.WEBHOOKS, "sendBatch").mockImplementation(async (batch: Iterable<MessageSendRequest<WebhookMessage>>) => {
    for (const m of batch) sent.push({ body: m.body, delaySeconds: m.delaySeconds ?? 0 });
    return {} as QueueSendBatchResponse;
  });
  return sent;
}

export interface Received {
  url: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: any;
  headers: Headers;
}

/** A receiver: records every POST and answers with `answer(n)` (n = 0-based request number). */
export function receiver(answer: (n: number, req: Received) => number | "timeout" = () => 200) {
  const seen: Received[] = [];
  const fake = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const body = await req.text();
    const r: Received = {
      url: req.url,
      id: req.headers.get("webhook-id") ?? "",
      timestamp: req.headers.get("webhook-timestamp") ?? "",
      signature: req.headers.get("webhook-signature") ?? "",
      body,
      json: JSON.parse(body),
      headers: req.headers,
    };
    const status = answer(seen.length, r);
    seen.push(r);
    if (status === "timeout") throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
    return new Response(status === 200 ? "ok" : "nope", { status });
  }) as typeof globalThis.fetch;
  return { seen, fetch: fake };
}

/**
 * Runs the WEBHOOKS consumer on everything queued so far, again and again until nothing new is
 * sent (delays are not waited for: time is the test's to control). Returns the outcomes in order.
 */
export async function drain(sent: Sent[], opts: DeliverOptions, maxRounds = 50): Promise<string[]> {
  const outcomes: string[] = [];
  let next = 0;
  for (let round = 0; round < maxRounds && next < sent.length; round++) {
    const bodies = sent.slice(next).map((s) => s.body);
    next = sent.length;
    const batch = createMessageBatch<WebhookMessage>(
      "composition-webhooks",
      bodies.map((body, i) => ({ id: `w-${round}-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    outcomes.push(...(await handleWebhookBatch(batch, env, opts)));
  }
  return outcomes;
}

/** Standard Webhooks verification written from the spec with WebCrypto, independent of the Worker's code. */
export async function independentlyVerify(secret: string, r: Pick<Received, "id" | "timestamp" | "signature" | "body">): Promise<boolean> {
  const key = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(`${r.id}.${r.timestamp}.${r.body}`)));
  const expected = `v1,${btoa(String.fromCharCode(...mac))}`;
  return r.signature.split(" ").includes(expected);
}

export async function deliveryRows(compositionId: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM webhook_deliveries WHERE composition_id = ?1 ORDER BY seq, created_at`)
    .bind(compositionId)
    .all<Record<string, any>>();
  return results;
}
