import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One invalid field of a request: `field` is the dotted path (`body.priority`, `query.size`, `path.conversationId`). */
export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem; thrown anywhere in a request and rendered by the app's error handler. */
export class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
  }
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export const problem = {
  badRequest: (detail: string, errors?: FieldError[]) => new Problem(400, TITLES[400]!, detail, errors),
  unauthorized: (detail = "A valid bearer token is required.") =>
    new Problem(401, TITLES[401]!, detail, undefined, { "WWW-Authenticate": 'Bearer realm="composition"' }),
  forbidden: (detail = "Your role does not allow this operation.") => new Problem(403, TITLES[403]!, detail),
  notFound: (detail = "No such resource.") => new Problem(404, TITLES[404]!, detail),
  conflict: (detail: string) => new Problem(409, TITLES[409]!, detail),
  status: (status: ContentfulStatusCode, detail: string, headers?: Record<string, string>) =>
    new Problem(status, TITLES[status] ?? "Error", detail, undefined, headers),
};

export function problemResponse(c: Context, p: Problem): Response {
  const body = {
    type: "about:blank",
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    ...(p.errors?.length ? { errors: p.errors } : {}),
    instance: new URL(c.req.url).pathname,
    ...(c.get("requestId") ? { requestId: c.get("requestId") } : {}),
  };
  return new Response(JSON.stringify(body), {
    status: p.status,
    headers: { "Content-Type": "application/problem+json", ...p.headers },
  });
}
