import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  agent,
  at,
  call,
  captureQueue,
  createComposition,
  fields,
  ingest,
  ingestTracks,
  insertRaw,
  service,
  supervisor,
  uploadTrack,
  type RawComposition,
  type RowState,
} from "./helpers";

// 55 compositions of "sue" (SUPERVISOR, acme) with distinct creation times, names in another order
// than creation, and a mix of states; plus rows of colleagues and of "sue" in another organization,
// which her default query must never show.

const BASE = Date.parse("2026-03-01T08:00:00.000Z");
const STATES: RowState[] = ["COMPLETED", "FAILED", "CANCELLED", "COMPLETED", "QUEUED"];
const pad = (n: number) => String(n).padStart(2, "0");

const sue: (RawComposition & { id: string })[] = Array.from({ length: 55 }, (_, i) => {
  const state = STATES[i % STATES.length]!;
  return {
    id: `00000000-0000-4000-8000-0000000000${pad(i)}`,
    organizationId: "acme",
    conversationId: `conv-q${i % 4}`,
    userId: "sue",
    name: `comp-${pad((i * 17) % 55)}`,
    type: i % 2 ? "VIDEO" : "AUDIO",
    state,
    createdAt: BASE + i * 60_000,
    completedAt: state === "COMPLETED" ? BASE + i * 60_000 + 90_000 + ((i * 7) % 11) * 1000 : null,
    durationMs: state === "COMPLETED" ? 62_500 : null,
  };
});

const byCreatedDesc = [...sue].sort((a, b) => b.createdAt - a.createdAt).map((r) => r.id);
const ids = (res: { json: any }) => res.json.content.map((c: { id: string }) => c.id);
const q = (query: string, as = supervisor()) => call("GET", `/query/composition${query ? `?${query}` : ""}`, { as });

const SORTED = { empty: false, sorted: true, unsorted: false };
const UNSORTED = { empty: true, sorted: false, unsorted: true };

beforeAll(async () => {
  captureQueue();
  await insertRaw(sue);
  await insertRaw([
    { organizationId: "acme", conversationId: "conv-q0", userId: "sam", name: "sam-1", createdAt: BASE + 10_000 },
    { organizationId: "acme", conversationId: "conv-q1", userId: "sam", name: "sam-2", createdAt: BASE + 20_000 },
    { organizationId: "acme", conversationId: "conv-q2", userId: "sam", name: "sam-3", createdAt: BASE + 30_000 },
    { organizationId: "acme", conversationId: "conv-q0", userId: "alice", name: "alice-1", createdAt: BASE + 40_000 },
    ...Array.from({ length: 4 }, (_, i) => ({
      organizationId: "globex",
      conversationId: "conv-q0",
      userId: "sue",
      name: `globex-${i}`,
      createdAt: BASE + i,
    })),
  ]);
});
afterAll(() => {
  vi.restoreAllMocks();
});

describe("GET /query/composition: Page«CompositionView»", () => {
  it("defaults: page 0, size 20, created desc, every envelope field", async () => {
    const res = await q("");
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    const { content, ...envelope } = res.json;
    expect(envelope).toEqual({
      empty: false,
      first: true,
      last: false,
      number: 0,
      numberOfElements: 20,
      pageable: { offset: 0, pageNumber: 0, pageSize: 20, paged: true, sort: SORTED, unpaged: false },
      size: 20,
      sort: SORTED,
      totalElements: 55,
      totalPages: 3,
    });
    expect(content.map((c: { id: string }) => c.id)).toEqual(byCreatedDesc.slice(0, 20));
  });

  it("every CompositionView field has the stored value in the seed's format", async () => {
    const res = await q("size=55");
    const row = sue[3]!; // COMPLETED VIDEO
    const view = res.json.content.find((c: { id: string }) => c.id === row.id);
    // Internals never leak into the view (additive public fields beyond the seed are fine).
    for (const internal of ["organizationId", "leaseToken", "outputKey", "attempts", "rendererInstance", "lease_token", "output_key"]) {
      expect(view, internal).not.toHaveProperty(internal);
    }
    expect(view).toMatchObject({
      completed: new Date(row.completedAt!).toISOString(),
      conversationId: "conv-q3",
      created: "2026-03-01T08:03:00.000Z",
      duration: "PT1M2.5S",
      format: "MP4",
      id: row.id,
      layout: "GRID",
      name: row.name,
      state: "COMPLETED",
      type: "VIDEO",
      userId: "sue",
      // Additive fields beyond the seed.
      progress: 0,
      eta: null,
      error: null,
      priority: 1,
      resolution: "640x360",
      warnings: [],
    });
    const unfinished = res.json.content.find((c: { id: string }) => c.id === sue[4]!.id);
    expect(unfinished).toMatchObject({ state: "QUEUED", completed: null, duration: null, format: "MP3", type: "AUDIO" });
  });

  it("page/size walks all rows without overlap; the last page is short", async () => {
    const seen: string[] = [];
    for (let page = 0; page < 3; page++) {
      const res = await q(`page=${page}&size=20`);
      expect(res.json.number).toBe(page);
      expect(res.json.first).toBe(page === 0);
      expect(res.json.last).toBe(page === 2);
      expect(res.json.pageable.offset).toBe(page * 20);
      expect(res.json.numberOfElements).toBe(page === 2 ? 15 : 20);
      seen.push(...ids(res));
    }
    expect(seen).toEqual(byCreatedDesc);
  });

  it("pageNumber/pageSize are aliases of page/size", async () => {
    const a = await q("page=1&size=10");
    const b = await q("pageNumber=1&pageSize=10");
    expect(b.status).toBe(200);
    expect(b.json).toEqual(a.json);
    expect(ids(b)).toEqual(byCreatedDesc.slice(10, 20));
    expect(b.json.pageable).toMatchObject({ pageNumber: 1, pageSize: 10, offset: 10 });
    expect(b.json.totalPages).toBe(6);
  });

  it("offset starts at any row", async () => {
    const res = await q("offset=5&pageSize=10");
    expect(res.status, res.text).toBe(200);
    expect(ids(res)).toEqual(byCreatedDesc.slice(5, 15));
    expect(res.json.pageable.offset).toBe(5);
    expect(res.json.first).toBe(false);
    expect(res.json.last).toBe(false);
    const tail = await q("offset=50&pageSize=10");
    expect(ids(tail)).toEqual(byCreatedDesc.slice(50));
    expect(tail.json.last).toBe(true);
  });

  it("sort=name,asc / name,desc / name (Spring's default direction is ascending)", async () => {
    const names = sue.map((r) => r.name).sort();
    const asc = await q("sort=name,asc&size=55");
    expect(asc.json.content.map((c: { name: string }) => c.name)).toEqual(names);
    expect(asc.json.sort).toEqual(SORTED);
    const desc = await q("sort=name,DESC&size=55");
    expect(desc.json.content.map((c: { name: string }) => c.name)).toEqual([...names].reverse());
    const bare = await q("sort=name&size=55");
    expect(bare.json.content.map((c: { name: string }) => c.name)).toEqual(names);
    // Paging keeps the order across pages.
    const page2 = await q("sort=name,asc&page=2&size=10");
    expect(page2.json.content.map((c: { name: string }) => c.name)).toEqual(names.slice(20, 30));
  });

  it("sort=created,desc is the default; created,asc reverses it", async () => {
    expect(ids(await q("sort=created,desc&size=55"))).toEqual(byCreatedDesc);
    expect(ids(await q("sort=created,asc&size=55"))).toEqual([...byCreatedDesc].reverse());
  });

  it("sort=completed,desc: most recently completed first, unfinished after", async () => {
    const res = await q("sort=completed,desc&size=55");
    const completed = res.json.content.map((c: { completed: string | null }) => c.completed);
    const done = sue
      .filter((r) => r.completedAt !== null)
      .map((r) => new Date(r.completedAt!).toISOString())
      .sort()
      .reverse();
    expect(completed.slice(0, done.length)).toEqual(done);
    expect(completed.slice(done.length).every((c: string | null) => c === null)).toBe(true);
  });

  it("repeated sort: state ascending, then name descending within a state", async () => {
    const res = await q("sort=state,asc&sort=name,desc&size=55");
    expect(res.status, res.text).toBe(200);
    const expected = [...sue]
      .sort((a, b) => (a.state! < b.state! ? -1 : a.state! > b.state! ? 1 : a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
      .map((r) => r.id);
    expect(ids(res)).toEqual(expected);
  });

  it("unpaged=true and paged=false return every row in one page", async () => {
    for (const query of ["unpaged=true", "paged=false"]) {
      const res = await q(query);
      expect(res.status, res.text).toBe(200);
      const { content, ...envelope } = res.json;
      expect(envelope).toEqual({
        empty: false,
        first: true,
        last: true,
        number: 0,
        numberOfElements: 55,
        pageable: { offset: 0, pageNumber: 0, pageSize: 55, paged: false, sort: SORTED, unpaged: true },
        size: 55,
        sort: SORTED,
        totalElements: 55,
        totalPages: 1,
      });
      expect(content.map((c: { id: string }) => c.id)).toEqual(byCreatedDesc);
    }
  });

  it("sort.unsorted=true / sort.sorted=false report an unsorted page (rows still in a stable order)", async () => {
    for (const query of ["sort.unsorted=true", "sort.sorted=false"]) {
      const res = await q(`${query}&size=55`);
      expect(res.status, res.text).toBe(200);
      expect(res.json.sort).toEqual(UNSORTED);
      expect(res.json.pageable.sort).toEqual(UNSORTED);
      expect([...ids(res)].sort()).toEqual([...byCreatedDesc].sort());
    }
  });

  it("a page past the end: empty content and consistent flags", async () => {
    const res = await q("page=10&size=20");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      content: [],
      empty: true,
      first: false,
      last: true,
      number: 10,
      numberOfElements: 0,
      pageable: { offset: 200, pageNumber: 10, pageSize: 20, paged: true, sort: SORTED, unpaged: false },
      size: 20,
      sort: SORTED,
      totalElements: 55,
      totalPages: 3,
    });
  });

  it("size 2000 is allowed; size > 2000, 0, negative or not a number → 400 naming the parameter", async () => {
    const max = await q("size=2000");
    expect(max.status).toBe(200);
    expect(max.json).toMatchObject({ size: 2000, numberOfElements: 55, totalPages: 1, last: true });
    for (const [query, field] of [
      ["size=2001", "query.size"],
      ["size=0", "query.size"],
      ["size=-5", "query.size"],
      ["size=ten", "query.size"],
      ["pageSize=2001", "query.pageSize"],
      ["page=-1", "query.page"],
      ["page=1.5", "query.page"],
      ["offset=x", "query.offset"],
      ["paged=maybe", "query.paged"],
      ["unpaged=1", "query.unpaged"],
      ["sort.unsorted=yes", "query.sort.unsorted"],
    ] as const) {
      const res = await q(query);
      expect(res.status, query).toBe(400);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(fields(res), query).toContain(field);
    }
  });

  it("an unknown sort field or direction → 400 naming query.sort", async () => {
    for (const query of [
      "sort=bogus,asc",
      "sort=name,sideways",
      "sort=userId",
      "sort=name,asc&sort=password,desc",
      "sort=name;drop table compositions",
    ]) {
      const res = await q(query);
      expect(res.status, query).toBe(400);
      expect(
        fields(res).some((f) => f === "query.sort" || f.startsWith("query.sort.")),
        query,
      ).toBe(true);
    }
    expect((await q("")).json.totalElements).toBe(55);
  });

  it("only the caller's own compositions by default, never another organization's", async () => {
    const sam = await q("size=100", supervisor("acme", "sam"));
    expect(sam.json.totalElements).toBe(3);
    expect(sam.json.content.map((c: { name: string }) => c.name).sort()).toEqual(["sam-1", "sam-2", "sam-3"]);
    expect(sam.json.content.every((c: { userId: string }) => c.userId === "sam")).toBe(true);

    const sueElsewhere = await q("size=100", supervisor("globex", "sue"));
    expect(sueElsewhere.json.totalElements).toBe(4);
    expect(sueElsewhere.json.content.every((c: { name: string }) => c.name.startsWith("globex-"))).toBe(true);

    const alice = await q("", agent());
    expect(alice.json.content.map((c: { name: string }) => c.name)).toEqual(["alice-1"]);

    const nobody = await q("", supervisor("acme", "nobody"));
    expect(nobody.json).toMatchObject({ content: [], empty: true, totalElements: 0, totalPages: 0, first: true, last: true });
  });

  it("scope=visible widens a SUPERVISOR to the whole organization (and no further)", async () => {
    const res = await q("scope=visible&size=100");
    expect(res.json.totalElements).toBe(55 + 3 + 1);
    expect(res.json.content.some((c: { name: string }) => c.name.startsWith("globex-"))).toBe(false);
  });

  it("SERVICE may not query (403)", async () => {
    const res = await q("", service());
    expect(res.status).toBe(403);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

describe("GET /query/conversation/{conversationId}: CompositionMessage", () => {
  const conv = "conv-meta";

  beforeAll(async () => {
    await ingest(conv, { agentId: "alice" });
    // The same conversation id in another organization, with its own composition.
    await ingest(conv, { agentId: "gina", as: service("globex") });
  });

  it("recordingMetadata field by field, and the organization's compositions newest first", async () => {
    const first = await createComposition(conv, supervisor(), { name: "first" });
    const second = await createComposition(conv, agent(), { name: "second", type: "VIDEO", resolution: "1280x720" });
    const foreign = await createComposition(conv, supervisor("globex"), { name: "foreign" });
    expect([first.status, second.status, foreign.status]).toEqual([200, 200, 200]);

    const res = await call("GET", `/query/conversation/${conv}`, { as: supervisor() });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(["compositions", "recordingMetadata"]);
    expect(res.json.recordingMetadata).toEqual({
      agentId: "alice",
      audio: true,
      canExportAudio: true,
      canExportVideo: true,
      conversationId: conv,
      duration: "PT1M2.5S",
      organizationId: "acme",
      started: "2026-11-20T10:00:00.000Z",
      stopped: "2026-11-20T10:01:02.500Z",
      totalParticipants: 2,
      video: true,
    });
    const names = res.json.compositions.map((c: { name: string }) => c.name);
    expect(names.sort()).toEqual(["first", "second"]);
    const byId = Object.fromEntries(res.json.compositions.map((c: { id: string }) => [c.id, c]));
    expect(byId[second.json.id]).toMatchObject({
      completed: null,
      conversationId: conv,
      duration: null,
      format: "MP4",
      id: second.json.id,
      layout: "GRID",
      name: "second",
      state: "QUEUED",
      type: "VIDEO",
      userId: "alice",
      resolution: "1280x720",
    });
    expect(byId[second.json.id].created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(byId[foreign.json.id]).toBeUndefined();

    // The other organization sees its own recording and composition under the same id.
    const globex = await call("GET", `/query/conversation/${conv}`, { as: supervisor("globex") });
    expect(globex.json.recordingMetadata).toMatchObject({ agentId: "gina", organizationId: "globex" });
    expect(globex.json.compositions.map((c: { name: string }) => c.name)).toEqual(["foreign"]);
  });

  it("derives audio/video, exportability, participants and duration from the tracks", async () => {
    const id = "conv-derive";
    await ingestTracks(
      id,
      {
        started: at(0),
        stopped: at(3600.25),
        tracks: [
          { id: "cam", participantId: "p1", started: at(0), audio: false, video: true },
          { id: "mic", participantId: "p1", started: at(0), audio: true, video: false },
          { id: "guest", participantId: "p2", started: at(10), audio: true, video: false },
        ],
      },
      { upload: ["cam", "mic"] },
    );
    const res = await call("GET", `/query/conversation/${id}`, { as: supervisor() });
    expect(res.status, res.text).toBe(200);
    expect(res.json.recordingMetadata).toEqual({
      agentId: null,
      audio: true,
      canExportAudio: false, // "guest" is not stored yet
      canExportVideo: true,
      conversationId: id,
      duration: "PT1H0.25S",
      organizationId: "acme",
      started: at(0),
      stopped: at(3600.25),
      totalParticipants: 2,
      video: true,
    });
    expect(res.json.compositions).toEqual([]);
    expect((await uploadTrack(id, "guest", new Uint8Array(8))).status).toBe(200);
    const after = await call("GET", `/query/conversation/${id}`, { as: supervisor() });
    expect(after.json.recordingMetadata.canExportAudio).toBe(true);
  });

  it("a conversation without a recording → 404 problem+json", async () => {
    const res = await call("GET", "/query/conversation/conv-none", { as: supervisor() });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(res.json).toMatchObject({ status: 404, title: "Not Found" });
  });

  it("an AGENT sees the calls it took; a colleague's call is a 404", async () => {
    const mine = await call("GET", `/query/conversation/${conv}`, { as: agent() });
    expect(mine.status).toBe(200);
    expect(mine.json.recordingMetadata.agentId).toBe("alice");
    // alice sees the supervisor's composition of her call too.
    expect(mine.json.compositions.map((c: { name: string }) => c.name).sort()).toEqual(["first", "second"]);
    const colleague = await call("GET", `/query/conversation/${conv}`, { as: agent("acme", "bob") });
    expect(colleague.status).toBe(404);
  });
});
