import { z } from "@hono/zod-openapi";
import { NAME_PLACEHOLDERS } from "../hooks/rules";
import { COMPOSITION_TYPES, Id, Priority, RESOLUTIONS } from "./common";
import { CallbackUrl } from "./webhooks";

const NameTemplate = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => [...s.matchAll(/\{([^{}]*)\}/g)].every((m) => (NAME_PLACEHOLDERS as readonly string[]).includes(m[1]!)), {
    message: `placeholders may be only ${NAME_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
  })
  .openapi({ example: "Call {conversationId} ({agentId}, {started})" });

const AgentIds = z
  .array(z.string().min(1).max(128))
  .min(1)
  .max(500)
  .openapi({ description: "Only recordings of these agents; omitted or null = every agent" });

export const HookRuleInput = z
  .strictObject({
    type: z.enum(COMPOSITION_TYPES),
    resolution: z.enum(RESOLUTIONS),
    priority: Priority.default(1),
    nameTemplate: NameTemplate,
    callbackUrl: CallbackUrl.optional(),
    agentIds: AgentIds.optional(),
    enabled: z.boolean().default(true).openapi({ description: "Default value: true" }),
  })
  .openapi("HookRuleInput");

export const HookRulePatch = z
  .strictObject({
    type: z.enum(COMPOSITION_TYPES).optional(),
    resolution: z.enum(RESOLUTIONS).optional(),
    priority: Priority.optional(),
    nameTemplate: NameTemplate.optional(),
    callbackUrl: CallbackUrl.nullable().optional(),
    agentIds: AgentIds.nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("HookRulePatch");

export const HookRule = z
  .object({
    id: z.string(),
    type: z.enum(COMPOSITION_TYPES),
    resolution: z.string(),
    priority: z.number().int(),
    nameTemplate: z.string(),
    callbackUrl: z.string().nullable(),
    agentIds: z.array(z.string()).nullable(),
    enabled: z.boolean(),
    created: z.string(),
    updated: z.string(),
  })
  .openapi("HookRule");

export const HookIdPath = z.object({ id: Id.openapi({ param: { name: "id", in: "path" } }) });
