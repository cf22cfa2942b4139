import { createRoute } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { auditLog, currentHold, getRetentionPolicy, holdConversation, releaseConversation, setRetentionPolicy } from "../jobs/compliance";
import { bearerSecurity, problemResponses } from "../schemas/common";
import { AuditPage, AuditQuery, Hold, HoldInput, RetentionPolicy, RetentionPolicyInput } from "../schemas/compliance";
import { ConversationPath } from "../schemas/recording";

// Beyond the seed: compliance. Retention policies, legal holds and the audit log (SUPERVISOR).
const tags = ["Compliance"];
const supervisor = requireRoles("SUPERVISOR");
const json = <T>(schema: T) => ({ content: { "application/json": { schema } } });
const body = <T>(schema: T) => ({ ...json(schema), required: true });

const getPolicy = createRoute({
  method: "get",
  path: "/policies/retention",
  operationId: "getRetentionPolicy",
  tags,
  summary: "The organization's retention policy",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  responses: { 200: { description: "OK", ...json(RetentionPolicy) }, ...problemResponses },
});

const putPolicy = createRoute({
  method: "put",
  path: "/policies/retention",
  operationId: "putRetentionPolicy",
  tags,
  summary: "Set how long compositions and recordings are kept",
  description:
    "Supported roles (SUPERVISOR). ISO-8601 durations (`P90D`, `PT30S`) or null (kept until deleted by hand). " +
    "A cron deletes what has expired every minute, never earlier, skipping conversations under a legal hold; " +
    "each deleted composition sends `composition.deleted`, and each pass is written to the audit log.",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { body: body(RetentionPolicyInput) },
  responses: { 200: { description: "OK", ...json(RetentionPolicy) }, ...problemResponses },
});

const getHold = createRoute({
  method: "get",
  path: "/recordings/{conversationId}/hold",
  operationId: "getHold",
  tags,
  summary: "The legal hold on a conversation",
  description: "Supported roles (SUPERVISOR). 404 when it is not on hold.",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: ConversationPath },
  responses: { 200: { description: "OK", ...json(Hold) }, ...problemResponses },
});

const putHold = createRoute({
  method: "put",
  path: "/recordings/{conversationId}/hold",
  operationId: "placeHold",
  tags,
  summary: "Place a legal hold: nothing of the conversation is deleted while it stands",
  description: "Supported roles (SUPERVISOR). Audited. Retention skips the conversation and deletes by hand answer 409.",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: ConversationPath, body: body(HoldInput) },
  responses: { 200: { description: "OK", ...json(Hold) }, ...problemResponses },
});

const deleteHold = createRoute({
  method: "delete",
  path: "/recordings/{conversationId}/hold",
  operationId: "releaseHold",
  tags,
  summary: "Release a legal hold",
  description: "Supported roles (SUPERVISOR). Body: the reason, which is audited.",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: ConversationPath, body: body(HoldInput) },
  responses: { 204: { description: "Released" }, ...problemResponses },
});

const audit = createRoute({
  method: "get",
  path: "/audit",
  operationId: "getAuditLog",
  tags,
  summary: "The organization's compliance audit log, newest first",
  description: "Supported roles (SUPERVISOR). Paged: page (from 0), size (1–500, default 50).",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { query: AuditQuery },
  responses: { 200: { description: "OK", ...json(AuditPage) }, ...problemResponses },
});

export const compliance = createRouter()
  .openapi(getPolicy, async (c) => c.json(await getRetentionPolicy(c.env, c.get("principal").organizationId), 200))
  .openapi(putPolicy, async (c) => c.json(await setRetentionPolicy(c.env, c.get("principal"), c.req.valid("json")), 200))
  .openapi(getHold, async (c) => c.json(await currentHold(c.env, c.get("principal"), c.req.valid("param").conversationId), 200))
  .openapi(putHold, async (c) => {
    const { conversationId } = c.req.valid("param");
    return c.json(await holdConversation(c.env, c.get("principal"), conversationId, c.req.valid("json").reason), 200);
  })
  .openapi(deleteHold, async (c) => {
    await releaseConversation(c.env, c.get("principal"), c.req.valid("param").conversationId, c.req.valid("json").reason);
    return c.body(null, 204);
  })
  .openapi(audit, async (c) => {
    const { page, size } = c.req.valid("query");
    return c.json(await auditLog(c.env, c.get("principal").organizationId, page, size), 200);
  });
