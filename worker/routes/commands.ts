import { createRoute } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { cancelComposition, createComposition, deleteComposition, reexecuteComposition } from "../jobs/commands";
import { bearerSecurity, conflictResponse, problemResponses } from "../schemas/common";
import {
  CancelResult,
  CompositionIdentifier,
  CompositionPath,
  CreateCompositionWebCommand,
  ReExecuteCompositionWebCommand,
} from "../schemas/composition";

// Seed section "Composition Command Service".
const tags = ["Composition Command Controller"];
const json = <T>(schema: T) => ({ content: { "application/json": { schema } }, required: true });

const reexecute = createRoute({
  method: "post",
  path: "/reexecute",
  operationId: "reexecuteComposition",
  tags,
  summary: "Re-execute a previously completed composition",
  description: "Supported roles (AGENT, SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
  request: { body: json(ReExecuteCompositionWebCommand) },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: CompositionIdentifier } } },
    ...problemResponses,
    ...conflictResponse,
  },
});

const request = createRoute({
  method: "post",
  path: "/request",
  operationId: "requestComposition",
  tags,
  summary: "Create a new Composition",
  description: "Supported roles (AGENT, SUPERVISOR, SERVICE)",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR", "SERVICE")] as const,
  request: { body: json(CreateCompositionWebCommand) },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: CompositionIdentifier } } },
    ...problemResponses,
    ...conflictResponse,
  },
});

const cancel = createRoute({
  method: "post",
  path: "/{conversationId}/{compositionId}/cancel",
  operationId: "cancelComposition",
  tags,
  summary: "Cancel a running Composition",
  description: "Supported roles (AGENT, SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
  request: { params: CompositionPath },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: CancelResult } } },
    ...problemResponses,
    ...conflictResponse,
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{conversationId}/{compositionId}/delete",
  operationId: "deleteComposition",
  tags,
  summary: "Delete existing Composition",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: CompositionPath },
  responses: { 204: { description: "No Content" }, ...problemResponses },
});

export const commands = createRouter()
  .openapi(reexecute, async (c) => {
    const body = c.req.valid("json");
    return c.json(
      await reexecuteComposition(c.env, c.get("principal"), body.conversationId, body.id, body.priority, body.callbackUrl),
      200,
    );
  })
  .openapi(request, async (c) => {
    return c.json(await createComposition(c.env, c.get("principal"), c.req.valid("json")), 200);
  })
  .openapi(cancel, async (c) => {
    const { conversationId, compositionId } = c.req.valid("param");
    return c.json(await cancelComposition(c.env, c.get("principal"), conversationId, compositionId), 200);
  })
  .openapi(remove, async (c) => {
    const { conversationId, compositionId } = c.req.valid("param");
    await deleteComposition(c.env, c.get("principal"), conversationId, compositionId);
    return c.body(null, 204);
  });
