import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRule, deleteRule, getRule, listRules, updateRule } from "../hooks/rules";
import { createRouter } from "../http/router";
import { bearerSecurity, conflictResponse, problemResponses } from "../schemas/common";
import { HookIdPath, HookRule, HookRuleInput, HookRulePatch } from "../schemas/hooks";

// Beyond the seed: compositions made automatically when a recording's media is complete.
const tags = ["Composition Hooks"];
const json = <T>(schema: T) => ({ content: { "application/json": { schema } }, required: true });
const ok = <T>(schema: T, description = "OK") => ({ description, content: { "application/json": { schema } } });

const create = createRoute({
  method: "post",
  path: "/hooks",
  operationId: "createHook",
  tags,
  summary: "Add a composition hook: compose every recording (optionally of some agents) once its media is complete",
  description: "Supported roles (SUPERVISOR). nameTemplate placeholders: {conversationId}, {agentId}, {started}.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { body: json(HookRuleInput) },
  responses: { 201: ok(HookRule, "Created"), ...problemResponses, ...conflictResponse },
});

const list = createRoute({
  method: "get",
  path: "/hooks",
  operationId: "listHooks",
  tags,
  summary: "List the organization's composition hooks",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  responses: { 200: ok(z.array(HookRule)), ...problemResponses },
});

const read = createRoute({
  method: "get",
  path: "/hooks/{id}",
  operationId: "getHook",
  tags,
  summary: "Get a composition hook",
  description: "Supported roles (SUPERVISOR)",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: HookIdPath },
  responses: { 200: ok(HookRule), ...problemResponses },
});

const patch = createRoute({
  method: "patch",
  path: "/hooks/{id}",
  operationId: "updateHook",
  tags,
  summary: "Change a composition hook (enable, disable, settings, agent filter)",
  description: "Supported roles (SUPERVISOR). Applies to recordings completed from now on.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: HookIdPath, body: json(HookRulePatch) },
  responses: { 200: ok(HookRule), ...problemResponses },
});

const remove = createRoute({
  method: "delete",
  path: "/hooks/{id}",
  operationId: "deleteHook",
  tags,
  summary: "Delete a composition hook",
  description: "Supported roles (SUPERVISOR). Compositions it made stay.",
  security: bearerSecurity,
  middleware: [requireRoles("SUPERVISOR")] as const,
  request: { params: HookIdPath },
  responses: { 204: { description: "No Content" }, ...problemResponses },
});

export const hooks = createRouter()
  .openapi(create, async (c) => c.json(await createRule(c.env, c.get("principal").organizationId, c.req.valid("json")), 201))
  .openapi(list, async (c) => c.json(await listRules(c.env.DB, c.get("principal").organizationId), 200))
  .openapi(read, async (c) => c.json(await getRule(c.env.DB, c.get("principal").organizationId, c.req.valid("param").id), 200))
  .openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await updateRule(c.env, c.get("principal").organizationId, id, c.req.valid("json")), 200);
  })
  .openapi(remove, async (c) => {
    await deleteRule(c.env.DB, c.get("principal").organizationId, c.req.valid("param").id);
    return c.body(null, 204);
  });
