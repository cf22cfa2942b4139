import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { auditStorage } from "../jobs/audit";
import { bearerSecurity, problemResponses } from "../schemas/common";

// Beyond the seed: operations. What the organization holds in storage, and what nothing refers to.
const tags = ["Operations"];

const StorageAudit = z
  .object({
    objects: z.array(
      z.object({
        key: z.string(),
        size: z.number().int().min(0),
        kind: z
          .enum(["track", "output", "asset", "other"])
          .openapi({ description: "A track's media, a composition's output, one of its review assets, or neither (always an orphan)" }),
      }),
    ),
    orphans: z.array(z.string()).openapi({
      description:
        "Keys no row refers to: an output that is neither a composition's output nor the in-flight output of a running render, " +
        "a track object that is no track's media",
    }),
  })
  .openapi("StorageAudit");

const storage = createRoute({
  method: "get",
  path: "/audit/storage",
  operationId: "auditStorage",
  tags,
  summary: "Audit the organization's stored objects and list the orphans",
  description: "Supported roles (SUPERVISOR). Only the caller's own organization is listed.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  responses: {
    200: { description: "OK", content: { "application/json": { schema: StorageAudit } } },
    ...problemResponses,
  },
});

export const audit = createRouter().openapi(storage, async (c) =>
  c.json(await auditStorage(c.env, c.get("principal").organizationId), 200),
);
