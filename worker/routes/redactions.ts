import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { redactionOf, redactionsOf, requestRedaction } from "../jobs/redactions";
import { bearerSecurity, Id, problemResponses } from "../schemas/common";
import { Redaction, RedactionInput } from "../schemas/compliance";
import { ConversationPath } from "../schemas/recording";

// Beyond the seed: redaction of the recording itself (PCI), SUPERVISOR only.
const tags = ["Compliance"];
const supervisor = requireRoles("SUPERVISOR");
const json = <T>(schema: T) => ({ content: { "application/json": { schema } } });

const RedactionPath = ConversationPath.extend({ redactionId: Id.openapi({ param: { name: "redactionId", in: "path" } }) });

const post = createRoute({
  method: "post",
  path: "/recordings/{conversationId}/redactions",
  operationId: "redactRecording",
  tags,
  summary: "Redact the recording itself: the spans' media is removed from every affected stored track",
  description:
    "Supported roles (SUPERVISOR). Runs as a job (poll GET …/redactions/{redactionId}): each affected track is rewritten " +
    "(audio SILENCE or a 1 kHz BEEP, video BLACK, BLUR or NONE inside the spans) and replaces the original, which is deleted; " +
    "then every composition of the conversation is re-executed (its old output deleted at once). While it is pending the " +
    "recording cannot be composed (409). Audited with each track's SHA-256 before and after. Refused (409) under a legal hold.",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: ConversationPath, body: { ...json(RedactionInput), required: true } },
  responses: { 202: { description: "Accepted: queued", ...json(Redaction) }, ...problemResponses },
});

const list = createRoute({
  method: "get",
  path: "/recordings/{conversationId}/redactions",
  operationId: "listRedactions",
  tags,
  summary: "The redactions of a recording, newest first",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: ConversationPath },
  responses: { 200: { description: "OK", ...json(z.array(Redaction)) }, ...problemResponses },
});

const get = createRoute({
  method: "get",
  path: "/recordings/{conversationId}/redactions/{redactionId}",
  operationId: "getRedaction",
  tags,
  summary: "One redaction: its state, progress, and once COMPLETED each track's SHA-256 before and after",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [supervisor] as const,
  request: { params: RedactionPath },
  responses: { 200: { description: "OK", ...json(Redaction) }, ...problemResponses },
});

export const redactions = createRouter()
  .openapi(post, async (c) => {
    const view = await requestRedaction(c.env, c.get("principal"), c.req.valid("param").conversationId, c.req.valid("json"));
    return c.json(view, 202);
  })
  .openapi(list, async (c) => c.json(await redactionsOf(c.env, c.get("principal"), c.req.valid("param").conversationId), 200))
  .openapi(get, async (c) => {
    const { conversationId, redactionId } = c.req.valid("param");
    return c.json(await redactionOf(c.env, c.get("principal"), conversationId, redactionId), 200);
  });
