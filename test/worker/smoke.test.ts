import { describe, expect, it } from "vitest";
import { call, createComposition, ingest, supervisor } from "./helpers";

describe("smoke", () => {
  it("health and a composition round trip", async () => {
    expect((await call("GET", "/health")).status).toBe(200);
    await ingest("conv-1", { agentId: "alice" });
    const created = await createComposition("conv-1", supervisor());
    expect(created.status, created.text).toBe(200);
    const q = await call("GET", "/query/conversation/conv-1", { as: supervisor() });
    expect(q.status, q.text).toBe(200);
    console.log(JSON.stringify(q.json, null, 1));
  });
});
