import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { workerConfig } from "../config";
import { findVisibleComposition } from "../db/compositions";
import { createRouter } from "../http/router";
import { problem } from "../http/problem";
import { bearerSecurity, conflictResponse, problemResponses } from "../schemas/common";
import { CompositionPath } from "../schemas/composition";
import {
  CallbackSecret,
  IdPath,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointInput,
  RotateSecretInput,
  WebhookEndpointPatch,
  WebhookEndpointWithSecret,
} from "../schemas/webhooks";
import { createEndpoint, deleteEndpoint, getEndpoint, listEndpoints, rotateSecret, updateEndpoint } from "../webhooks/endpoints";
import { listDeliveries } from "../webhooks/log";
import { callbackSecret } from "../webhooks/signature";

// Beyond the seed: status callbacks (Standard Webhooks) and their delivery log.
const tags = ["Webhooks"];
const json = <T>(schema: T) => ({ content: { "application/json": { schema } }, required: true });
const ok = <T>(schema: T, description = "OK") => ({ description, content: { "application/json": { schema } } });

const create = createRoute({
  method: "post",
  path: "/webhooks",
  operationId: "createWebhook",
  tags,
  summary: "Register a webhook endpoint of the organization",
  description: "Supported roles (SUPERVISOR). The answer carries the endpoint's signing secret; it is not shown again.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { body: json(WebhookEndpointInput) },
  responses: { 201: ok(WebhookEndpointWithSecret, "Created"), ...problemResponses, ...conflictResponse },
});

const list = createRoute({
  method: "get",
  path: "/webhooks",
  operationId: "listWebhooks",
  tags,
  summary: "List the organization's webhook endpoints",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  responses: { 200: ok(z.array(WebhookEndpoint)), ...problemResponses },
});

const secret = createRoute({
  method: "get",
  path: "/webhooks/callback-secret",
  operationId: "getCallbackSecret",
  tags,
  summary: "The secret that signs deliveries to a request's callbackUrl",
  description: "Supported roles (SUPERVISOR). One per organization; endpoints registered under /webhooks have their own.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  responses: { 200: ok(CallbackSecret), ...problemResponses, 503: { description: "Not configured" } },
});

const read = createRoute({
  method: "get",
  path: "/webhooks/{id}",
  operationId: "getWebhook",
  tags,
  summary: "Get a webhook endpoint",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: IdPath },
  responses: { 200: ok(WebhookEndpoint), ...problemResponses },
});

const patch = createRoute({
  method: "patch",
  path: "/webhooks/{id}",
  operationId: "updateWebhook",
  tags,
  summary: "Change a webhook endpoint's URL, event filter or enabled flag",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: IdPath, body: json(WebhookEndpointPatch) },
  responses: { 200: ok(WebhookEndpoint), ...problemResponses },
});

const remove = createRoute({
  method: "delete",
  path: "/webhooks/{id}",
  operationId: "deleteWebhook",
  tags,
  summary: "Delete a webhook endpoint",
  description: "Supported roles (SUPERVISOR). Its pending deliveries are abandoned.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: IdPath },
  responses: { 204: { description: "No Content" }, ...problemResponses },
});

const rotate = createRoute({
  method: "post",
  path: "/webhooks/{id}/rotate-secret",
  operationId: "rotateWebhookSecret",
  tags,
  summary: "Replace a webhook endpoint's signing secret",
  description:
    "Supported roles (SUPERVISOR). The new secret signs from now on; the old one signs too (a second `v1,` signature in `webhook-signature`) for `graceSeconds` (default one day), so receivers can switch without rejecting deliveries. `graceSeconds: 0` stops the old one at once. 409 while a previous rotation's grace still runs (unless `graceSeconds: 0`).",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: IdPath, body: { content: { "application/json": { schema: RotateSecretInput } }, required: false } },
  responses: { 200: ok(WebhookEndpointWithSecret), ...problemResponses, ...conflictResponse },
});

const deliveries = createRoute({
  method: "get",
  path: "/{conversationId}/{compositionId}/deliveries",
  operationId: "listDeliveries",
  tags,
  summary: "The status-callback deliveries of a composition, in event order",
  description: "Supported roles (AGENT, SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
  request: { params: CompositionPath },
  responses: { 200: ok(z.array(WebhookDelivery)), ...problemResponses },
});

export const webhooks = createRouter()
  .openapi(create, async (c) => c.json(await createEndpoint(c.env, c.get("principal").organizationId, c.req.valid("json")), 201))
  .openapi(list, async (c) => c.json(await listEndpoints(c.env.DB, c.get("principal").organizationId), 200))
  .openapi(secret, async (c) => {
    const signing = workerConfig(c.env).webhookSigningSecret;
    if (!signing) throw problem.status(503, "WEBHOOK_SIGNING_SECRET is not configured.");
    return c.json({ secret: await callbackSecret(signing, c.get("principal").organizationId) }, 200);
  })
  .openapi(read, async (c) => c.json(await getEndpoint(c.env.DB, c.get("principal").organizationId, c.req.valid("param").id), 200))
  .openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await updateEndpoint(c.env, c.get("principal").organizationId, id, c.req.valid("json")), 200);
  })
  .openapi(remove, async (c) => {
    await deleteEndpoint(c.env.DB, c.get("principal").organizationId, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(rotate, async (c) => {
    const { graceSeconds } = c.req.valid("json") ?? {};
    return c.json(await rotateSecret(c.env.DB, c.get("principal").organizationId, c.req.valid("param").id, graceSeconds), 200);
  })
  .openapi(deliveries, async (c) => {
    const { conversationId, compositionId } = c.req.valid("param");
    const row = await findVisibleComposition(c.env.DB, c.get("principal"), conversationId, compositionId);
    if (!row) throw problem.notFound(`No composition "${compositionId}" in conversation "${conversationId}".`);
    return c.json(await listDeliveries(c.env, row.id), 200);
  });
