import { beforeAll, describe, expect, it } from "vitest";
import { call } from "./helpers";

// The seed's base path written out (not API_BASE_PATH): this test holds the documented paths to the seed.
const BASE = "/auvious.video/composition/api";
let doc: any;

beforeAll(async () => {
  const res = await call("GET", "/openapi.json");
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  doc = res.json;
});

/** Follows a `$ref` inside the document. */
const deref = (schema: any): any => (schema?.$ref ? doc.components.schemas[schema.$ref.split("/").pop()] : schema);
const props = (name: string) => Object.keys(doc.components.schemas[name].properties).sort();

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1 JSON about this API, served from the request's origin", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: "Auvious Composition API", version: "1.0" });
    expect(doc.servers).toEqual([{ url: "http://example.com" }]);
    // Every path, resolved against the server, is a URL this Worker answers.
    expect(Object.keys(doc.paths).every((p) => p.startsWith(`${BASE}/`))).toBe(true);
  });

  it("lists the ten seed paths with their methods", () => {
    const seed: Record<string, string> = {
      [`${BASE}/reexecute`]: "post",
      [`${BASE}/request`]: "post",
      [`${BASE}/{conversationId}/{compositionId}/cancel`]: "post",
      [`${BASE}/{conversationId}/{compositionId}/delete`]: "delete",
      [`${BASE}/player/attachment/{conversationId}/{compositionId}/{fileName}`]: "get",
      [`${BASE}/player/inline/{conversationId}/{compositionId}/{fileName}`]: "get",
      [`${BASE}/player/{conversationId}/{compositionId}/url/attachment`]: "get",
      [`${BASE}/player/{conversationId}/{compositionId}/url/inline`]: "get",
      [`${BASE}/query/composition`]: "get",
      [`${BASE}/query/conversation/{conversationId}`]: "get",
    };
    for (const [path, method] of Object.entries(seed)) {
      expect(doc.paths[path], path).toBeDefined();
      expect(Object.keys(doc.paths[path]), path).toEqual([method]);
    }
  });

  it("documents the recordings ingestion paths, and nothing internal", () => {
    expect(Object.keys(doc.paths[`${BASE}/recordings/{conversationId}`]).sort()).toEqual(["get", "put"]);
    expect(Object.keys(doc.paths[`${BASE}/recordings/{conversationId}/tracks/{trackId}`])).toEqual(["put"]);
    expect(Object.keys(doc.paths).some((p) => p.includes("/internal/"))).toBe(false);
  });

  it("the seed's parameters: path ids, the player's Date/Expires/Signature, Referer and the query values", () => {
    const names = (op: any) => op.parameters.map((p: any) => `${p.in}:${p.name}`).sort();
    expect(names(doc.paths[`${BASE}/{conversationId}/{compositionId}/cancel`].post)).toEqual(["path:compositionId", "path:conversationId"]);
    expect(names(doc.paths[`${BASE}/player/inline/{conversationId}/{compositionId}/{fileName}`].get)).toEqual(
      expect.arrayContaining([
        "path:compositionId",
        "path:conversationId",
        "path:fileName",
        "query:Date",
        "query:Expires",
        "query:Signature",
      ]),
    );
    const link = doc.paths[`${BASE}/player/{conversationId}/{compositionId}/url/inline`].get;
    expect(names(link)).toEqual(expect.arrayContaining(["header:Referer", "query:conversationId", "query:id"]));
    expect(link.parameters.find((p: any) => p.name === "Referer").required).toBe(true);
    const paging = names(doc.paths[`${BASE}/query/composition`].get);
    expect(paging).toEqual(
      expect.arrayContaining([
        "query:offset",
        "query:paged",
        "query:pageNumber",
        "query:pageSize",
        "query:sort.sorted",
        "query:sort.unsorted",
        "query:unpaged",
      ]),
    );
  });

  it("each operation's request and response schemas are the seed's", () => {
    const body = (op: any) => deref(op.requestBody.content["application/json"].schema);
    const ok = (op: any, status = "200") => deref(op.responses[status].content["application/json"].schema);
    const s = doc.components.schemas;
    expect(body(doc.paths[`${BASE}/request`].post)).toBe(s.CreateCompositionWebCommand);
    expect(ok(doc.paths[`${BASE}/request`].post)).toBe(s.CompositionIdentifier);
    expect(body(doc.paths[`${BASE}/reexecute`].post)).toBe(s.ReExecuteCompositionWebCommand);
    expect(ok(doc.paths[`${BASE}/reexecute`].post)).toBe(s.CompositionIdentifier);
    expect(ok(doc.paths[`${BASE}/query/composition`].get)).toBe(s.PageCompositionView);
    expect(ok(doc.paths[`${BASE}/query/conversation/{conversationId}`].get)).toBe(s.CompositionMessage);
    expect(ok(doc.paths[`${BASE}/player/{conversationId}/{compositionId}/url/inline`].get)).toBe(s.CompositionResourceMessage);
    expect(ok(doc.paths[`${BASE}/recordings/{conversationId}`].get)).toBe(s.ComposedRecordingDataMessage);
    expect(Object.keys(doc.paths[`${BASE}/{conversationId}/{compositionId}/delete`].delete.responses)).toContain("204");
    // Every operation declares its security: the bearer token, or (the two signed-link reads) the signature.
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const op of Object.values<any>(item)) {
        const signed = op.operationId === "getInline" || op.operationId === "getAttachment";
        expect(op.security, path).toEqual(signed ? [{ signature: [] }] : [{ apiKey: [] }]);
      }
    }
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "apiKey", name: "Authorization", in: "header" });
    expect(doc.components.securitySchemes.signature).toMatchObject({ type: "apiKey", name: "Signature", in: "query" });
  });

  it("CreateCompositionWebCommand: the seed's properties, required fields, enums and defaults", () => {
    const s = doc.components.schemas.CreateCompositionWebCommand;
    // Additive properties beyond the seed are allowed; every seed property is there.
    expect(props("CreateCompositionWebCommand")).toEqual(
      expect.arrayContaining(["audioFormat", "conversationId", "layout", "name", "priority", "resolution", "type", "videoFormat"]),
    );
    expect([...s.required].sort()).toEqual(["conversationId", "layout", "name", "resolution", "type"]);
    expect(s.properties.audioFormat).toMatchObject({ enum: ["MP3"], default: "MP3" });
    expect(s.properties.videoFormat).toMatchObject({ enum: ["MP4"], default: "MP4" });
    expect(s.properties.layout.enum).toEqual(["GRID"]);
    expect(s.properties.type.enum).toEqual(["AUDIO", "VIDEO"]);
    expect(s.properties.resolution.enum).toContain("320x240");
    expect(s.properties.resolution.enum).toEqual(["320x240", "640x360", "640x480", "854x480", "1280x720", "1920x1080"]);
    expect(s.properties.priority).toMatchObject({ type: "integer", default: 1, minimum: 0, maximum: 10 });
  });

  it("ReExecuteCompositionWebCommand and CompositionIdentifier", () => {
    const re = doc.components.schemas.ReExecuteCompositionWebCommand;
    expect(props("ReExecuteCompositionWebCommand")).toEqual(expect.arrayContaining(["conversationId", "id", "priority"]));
    expect([...re.required].sort()).toEqual(["conversationId", "id"]);
    expect(re.properties.priority).toMatchObject({ type: "integer", default: 1 });
    const ci = doc.components.schemas.CompositionIdentifier;
    expect(props("CompositionIdentifier")).toEqual(["conversationId", "id"]);
    expect([...ci.required].sort()).toEqual(["conversationId", "id"]);
  });

  it("CompositionView has every seed property (layout GRID) and PageCompositionView the Spring page shape", () => {
    const seedView = ["completed", "conversationId", "created", "duration", "format", "id", "layout", "name", "state", "type", "userId"];
    expect(props("CompositionView")).toEqual(expect.arrayContaining(seedView));
    expect(doc.components.schemas.CompositionView.properties.layout.enum).toEqual(["GRID"]);
    expect(props("PageCompositionView")).toEqual([
      "content",
      "empty",
      "first",
      "last",
      "number",
      "numberOfElements",
      "pageable",
      "size",
      "sort",
      "totalElements",
      "totalPages",
    ]);
    const page = doc.components.schemas.PageCompositionView.properties;
    expect(deref(page.content.items)).toBe(doc.components.schemas.CompositionView);
    const pageable = deref(page.pageable);
    expect(Object.keys(pageable.properties).sort()).toEqual(["offset", "pageNumber", "pageSize", "paged", "sort", "unpaged"]);
    const sort = deref(page.sort);
    expect(Object.keys(sort.properties).sort()).toEqual(["empty", "sorted", "unsorted"]);
    expect(deref(pageable.properties.sort)).toBe(sort);
  });

  it("CompositionMessage, ComposedRecordingDataMessage and CompositionResourceMessage", () => {
    expect(props("CompositionMessage")).toEqual(["compositions", "recordingMetadata"]);
    const msg = doc.components.schemas.CompositionMessage.properties;
    expect(deref(msg.compositions.items)).toBe(doc.components.schemas.CompositionView);
    expect(deref(msg.recordingMetadata)).toBe(doc.components.schemas.ComposedRecordingDataMessage);
    expect(props("ComposedRecordingDataMessage")).toEqual([
      "agentId",
      "audio",
      "canExportAudio",
      "canExportVideo",
      "conversationId",
      "duration",
      "organizationId",
      "started",
      "stopped",
      "totalParticipants",
      "video",
    ]);
    expect(doc.components.schemas.ComposedRecordingDataMessage.properties.totalParticipants.type).toBe("integer");
    expect(props("CompositionResourceMessage")).toEqual(["url", "validUntil"]);
  });

  const operations = () =>
    Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).map(([method, op]) => ({ path, method, op })));

  it("every operation has a unique operationId; the seed's player reads keep the seed's names", () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(
      ids.every((id) => typeof id === "string" && /^[A-Za-z][A-Za-z0-9]*$/.test(id)),
      JSON.stringify(ids),
    ).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const idOf = (path: string, method: string) => doc.paths[`${BASE}${path}`][method].operationId;
    expect(idOf("/player/inline/{conversationId}/{compositionId}/{fileName}", "get")).toBe("getInline");
    expect(idOf("/player/attachment/{conversationId}/{compositionId}/{fileName}", "get")).toBe("getAttachment");
    // Stable: clients generated from the document name their methods after these.
    expect(idOf("/request", "post")).toBe("requestComposition");
    expect(idOf("/reexecute", "post")).toBe("reexecuteComposition");
    expect(idOf("/{conversationId}/{compositionId}/cancel", "post")).toBe("cancelComposition");
    expect(idOf("/{conversationId}/{compositionId}/delete", "delete")).toBe("deleteComposition");
    expect(idOf("/query/composition", "get")).toBe("queryCompositions");
    expect(idOf("/query/conversation/{conversationId}", "get")).toBe("queryConversation");
    expect(idOf("/player/{conversationId}/{compositionId}/url/inline", "get")).toBe("getInlineUrl");
    expect(idOf("/player/{conversationId}/{compositionId}/url/attachment", "get")).toBe("getAttachmentUrl");
    expect(idOf("/{conversationId}/{compositionId}/links/revoke", "post")).toBe("revokeLinks");
  });

  it("every security scheme and every component schema is used (what redocly's recommended rules check)", () => {
    const used = new Set(operations().flatMap(({ op }) => op.security.flatMap((s: object) => Object.keys(s))));
    expect([...used].sort()).toEqual(Object.keys(doc.components.securitySchemes).sort());
    const refs = new Set([...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]));
    expect(Object.keys(doc.components.schemas).filter((name) => !refs.has(name))).toEqual([]);
    for (const { path, op } of operations()) {
      // Each path parameter is declared, and each declared one is in the path.
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? [])
        .filter((p: any) => p.in === "path")
        .map((p: any) => p.name)
        .sort();
      expect(declared, path).toEqual(inPath);
      expect(
        Object.keys(op.responses).some((s) => s.startsWith("2")),
        path,
      ).toBe(true);
      expect(
        Object.keys(op.responses).some((s) => s.startsWith("4")),
        path,
      ).toBe(true);
    }
  });

  it("validation refusals are documented as problem+json", () => {
    const op = doc.paths[`${BASE}/request`].post;
    for (const status of ["400", "401", "403", "404", "409"]) {
      expect(op.responses[status].content["application/problem+json"], status).toBeDefined();
    }
    expect(props("Problem")).toEqual(expect.arrayContaining(["type", "title", "status", "detail", "errors"]));
  });
});

describe("GET /docs and GET /health", () => {
  it("/docs is an HTML page pointing at the OpenAPI document", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<html/i);
    expect(res.text).toContain(`${BASE}/openapi.json`);
  });

  it("/health → 200 without credentials", async () => {
    const res = await call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "UP" });
  });
});
