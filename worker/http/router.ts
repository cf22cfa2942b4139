import { OpenAPIHono } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { AppEnv } from "../env";
import { problem, type FieldError } from "./problem";

const TARGET_PREFIX: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/** Turns a zod failure into field paths a caller can act on: `body.priority`, `query.size`. */
export function fieldErrors(target: string, error: ZodError): FieldError[] {
  const prefix = TARGET_PREFIX[target] ?? target;
  return error.issues.flatMap((issue) => {
    // Unknown keys are reported once per key so each offending field is named.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({ field: [prefix, ...issue.path, k].join("."), message: "is not a known field" }));
    }
    return [{ field: [prefix, ...issue.path.map(String)].join("."), message: issue.message }];
  });
}

/** Every router shares one validation hook, so every bad input is the same problem+json shape. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = fieldErrors(result.target, result.error as unknown as ZodError);
        throw problem.badRequest(`Invalid ${errors.map((e) => e.field).join(", ")}.`, errors);
      }
    },
  });
}
