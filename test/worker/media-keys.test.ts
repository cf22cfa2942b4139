import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertSafeId, isSafeId, outputKey, outputPrefix, trackKey } from "../../worker/media/keys";

describe("isSafeId / assertSafeId", () => {
  it.each(["a", "conv-1", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8e", "user@example.com", "urn:x:1", "...", ".a", "A".repeat(128)])(
    "accepts %j",
    (id) => {
      expect(isSafeId(id)).toBe(true);
      expect(() => assertSafeId(id)).not.toThrow();
    },
  );

  it.each(["", ".", "..", "a/b", "a\\b", "../x", "%2e%2e", "a b", "é", "a\u0000", "A".repeat(129), "a?b", "a#b"])("refuses %j", (id) => {
    expect(isSafeId(id)).toBe(false);
    expect(() => assertSafeId(id, "trackId")).toThrow(/trackId/);
  });

  it("refuses non-strings", () => {
    expect(isSafeId(undefined)).toBe(false);
    expect(isSafeId(42)).toBe(false);
  });
});

describe("key builders", () => {
  it("build the documented layout, percent-encoding : and @", () => {
    expect(trackKey("org1", "conv:1", "t@1")).toBe("orgs/org1/conversations/conv%3A1/tracks/t%401");
    expect(outputPrefix("org1", "c1", "comp1")).toBe("orgs/org1/conversations/c1/compositions/comp1/");
    expect(outputKey("org1", "c1", "comp1", "run-2", "mp4")).toBe("orgs/org1/conversations/c1/compositions/comp1/run-2.mp4");
    expect(outputKey("org1", "c1", "comp1", "r", "mp3").startsWith(outputPrefix("org1", "c1", "comp1"))).toBe(true);
  });

  it("throw on any unsafe segment or extension", () => {
    expect(() => trackKey("..", "c", "t")).toThrow(/organization/);
    expect(() => trackKey("o", "c/../../x", "t")).toThrow(/conversationId/);
    expect(() => trackKey("o", "c", "")).toThrow(/trackId/);
    expect(() => outputPrefix("o", "c", ".")).toThrow(/compositionId/);
    expect(() => outputKey("o", "c", "x", "a/b", "mp4")).toThrow(/runId/);
    expect(() => outputKey("o", "c", "x", "r", "mp4/../x")).toThrow(/extension/);
    expect(() => outputKey("o", "c", "x", "r", "")).toThrow(/extension/);
  });

  it("property: any input yields a key with exactly the expected segments, or throws", () => {
    const anyId = fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/), fc.constantFrom(".", "..", "a/b"));
    fc.assert(
      fc.property(anyId, anyId, anyId, (org, conv, track) => {
        const safe = [org, conv, track].every(isSafeId);
        if (!safe) {
          expect(() => trackKey(org, conv, track)).toThrow();
          return;
        }
        const key = trackKey(org, conv, track);
        const segs = key.split("/");
        expect(segs).toHaveLength(6);
        expect(segs.map(decodeURIComponent)).toEqual(["orgs", org, "conversations", conv, "tracks", track]);
        expect(segs.every((s) => s !== "" && s !== "." && s !== "..")).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
