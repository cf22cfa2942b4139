import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { findVisibleComposition } from "../db/compositions";
import { revokeLinks } from "../db/link-revocations";
import { isoInstant } from "../http/format";
import { problem } from "../http/problem";
import { createRouter } from "../http/router";
import { bearerSecurity, problemResponses } from "../schemas/common";
import { CompositionPath } from "../schemas/composition";

// Beyond the seed: revoke every signed link given so far for one composition.
const tags = ["Composition Media Controller"];

const LinkRevocation = z
  .object({
    conversationId: z.string(),
    id: z.string(),
    linksRevokedAt: z.string().openapi({ description: "Links whose Date is at or before this instant answer 403 from now on" }),
  })
  .openapi("LinkRevocation");

const revoke = createRoute({
  method: "post",
  path: "/{conversationId}/{compositionId}/links/revoke",
  tags,
  operationId: "revokeLinks",
  summary: "Revoke every signed link to a composition given so far",
  description:
    "Supported roles (SUPERVISOR). Every media and asset link signed before now answers 403 from then on; links signed afterwards work.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: CompositionPath },
  responses: {
    200: { description: "OK", content: { "application/json": { schema: LinkRevocation } } },
    ...problemResponses,
  },
});

export const links = createRouter().openapi(revoke, async (c) => {
  const { conversationId, compositionId } = c.req.valid("param");
  const p = c.get("principal");
  const row = await findVisibleComposition(c.env.DB, p, conversationId, compositionId);
  if (!row) throw problem.notFound(`No composition "${compositionId}" in conversation "${conversationId}".`);
  const revokedAt = await revokeLinks(c.env.DB, p.organizationId, row.id, Date.now());
  return c.json({ conversationId, id: row.id, linksRevokedAt: isoInstant(revokedAt) }, 200);
});
