import { createRoute, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { requireRoles } from "../auth/middleware";
import { withFilters } from "../db/composition-filters";
import { compositionView, listConversationCompositions, pageCompositions, visibleTo } from "../db/compositions";
import { findRecording, recordingMessage } from "../db/recordings";
import { compositions } from "../db/schema";
import { createRouter } from "../http/router";
import { problem } from "../http/problem";
import { COMPOSITION_STATES } from "../db/schema";
import { bearerSecurity, Id, problemResponses } from "../schemas/common";
import { PageCompositionView, PagingQuery } from "../schemas/page";
import { CompositionMessage, ConversationPath } from "../schemas/recording";
import { pageResponse, resolvePaging } from "../http/paging";

// Seed section "Composition Query Service".
const tags = ["Composition Query Controller"];

// Beyond the seed: the console's filters (repeat `state` for several).
const ListQuery = PagingQuery.extend({
  state: z
    .union([z.enum(COMPOSITION_STATES), z.array(z.enum(COMPOSITION_STATES))])
    .optional()
    .openapi({ description: "Beyond the seed: only these states (repeatable)" }),
  conversationId: Id.optional().openapi({ description: "Beyond the seed: only this conversation's compositions" }),
});

const mine = createRoute({
  method: "get",
  path: "/query/composition",
  operationId: "queryCompositions",
  tags,
  summary: "Get all compositions initiated by the currently authenticated user",
  description:
    "Supported roles (AGENT, SUPERVISOR). Spring Data paging: page, size (max 2000), sort=field,dir (created, completed, name, state).",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
  request: { query: ListQuery },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: PageCompositionView } } },
    ...problemResponses,
  },
});

const conversation = createRoute({
  method: "get",
  path: "/query/conversation/{conversationId}",
  operationId: "queryConversation",
  tags,
  summary: "Get recording data and associated composition by conversationId",
  description: "Supported roles (AGENT, SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
  request: { params: ConversationPath },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: CompositionMessage } } },
    ...problemResponses,
  },
});

export const queries = createRouter()
  .openapi(mine, async (c) => {
    const principal = c.get("principal");
    const query = c.req.valid("query");
    const paging = resolvePaging(query);
    const where =
      query.scope === "visible"
        ? visibleTo(principal)
        : and(eq(compositions.organizationId, principal.organizationId), eq(compositions.userId, principal.userId))!;
    const states = query.state === undefined ? undefined : [query.state].flat();
    const filtered = withFilters(where, { state: states, conversationId: query.conversationId });
    const { rows, total } = await pageCompositions(c.env.DB, {
      where: filtered,
      offset: paging.offset,
      limit: paging.limit,
      sort: paging.sort,
    });
    if (!paging.paged && total > rows.length) {
      throw problem.badRequest(`unpaged results are limited to ${paging.limit} rows; ${total} match: request pages instead.`, [
        { field: "query.unpaged", message: "too many rows for an unpaged answer" },
      ]);
    }
    return c.json(pageResponse(rows.map(compositionView), total, paging), 200);
  })
  .openapi(conversation, async (c) => {
    const principal = c.get("principal");
    const { conversationId } = c.req.valid("param");
    const rec = await findRecording(c.env.DB, principal.organizationId, conversationId);
    const rows = rec ? await listConversationCompositions(c.env.DB, principal, conversationId) : [];
    const isAgentsCall = rec?.recording.agentId === principal.userId;
    // An AGENT learns of a call only if it took the call or composed it; otherwise it does not exist.
    if (!rec || (!principal.roles.includes("SUPERVISOR") && !isAgentsCall && rows.length === 0)) {
      throw problem.notFound(`No recording of conversation "${conversationId}".`);
    }
    return c.json({ compositions: rows.map(compositionView), recordingMetadata: recordingMessage(rec) }, 200);
  });
