import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { etagMatches, evaluatePreconditions, ifRangeAllowsPartial, parseRange, parseRangeSpecs } from "../../worker/media/ranges";

const SIZE = 1000;

describe("parseRange", () => {
  it.each([
    ["bytes=0-0", { kind: "partial", start: 0, end: 0 }],
    ["bytes=0-499", { kind: "partial", start: 0, end: 499 }],
    ["bytes=500-599", { kind: "partial", start: 500, end: 599 }],
    ["bytes=999-999", { kind: "partial", start: 999, end: 999 }],
    ["bytes=900-", { kind: "partial", start: 900, end: 999 }],
    ["bytes=-100", { kind: "partial", start: 900, end: 999 }],
    ["bytes=-5000", { kind: "partial", start: 0, end: 999 }],
    ["bytes=990-5000", { kind: "partial", start: 990, end: 999 }],
    ["bytes=0-99999999999999999999999", { kind: "partial", start: 0, end: 999 }],
    ["BYTES=1-2", { kind: "partial", start: 1, end: 2 }],
    ["bytes= 1-2 ", { kind: "partial", start: 1, end: 2 }],
    ["bytes=0-1,5-9", { kind: "partial", start: 0, end: 1 }],
    ["bytes=5000-6000, 10-19", { kind: "partial", start: 10, end: 19 }],
    ["bytes=,,3-4,", { kind: "partial", start: 3, end: 4 }],
  ] as const)("%s → %o", (header, expected) => {
    expect(parseRange(header, SIZE)).toEqual(expected);
  });

  it.each(["bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=5000-,-0", "bytes=99999999999999999999999-"])(
    "%s is unsatisfiable",
    (header) => expect(parseRange(header, SIZE)).toEqual({ kind: "unsatisfiable" }),
  );

  it.each([
    null,
    "",
    "bytes",
    "bytes=",
    "bytes=,",
    "bytes=abc",
    "bytes=5-1",
    "bytes=1-2-3",
    "bytes=--1",
    "bytes=1 - 2",
    "bytes=0x10-20",
    "bytes=+1-2",
    "bytes=0-1,oops",
    "items=0-1",
    "0-1",
    "bytes=9007199254740993-9007199254740992",
  ])("%s is ignored (full body)", (header) => {
    expect(parseRange(header, SIZE)).toEqual({ kind: "full" });
  });

  it("an empty representation: int ranges are unsatisfiable, a suffix gets the (empty) whole", () => {
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-10", 0)).toEqual({ kind: "full" });
  });

  it("property: a valid single range resolves to bytes inside the object, matching the spec", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.nat(), fc.nat(), (size, a, b) => {
        const first = a % (size + 5);
        const last = first + (b % (size + 5));
        const r = parseRange(`bytes=${first}-${last}`, size);
        const expected = first >= size ? { kind: "unsatisfiable" } : { kind: "partial", start: first, end: Math.min(last, size - 1) };
        expect(r).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it("property: arbitrary Range header strings never throw and always yield a well-formed answer", () => {
    const piece = fc.oneof(
      fc.constantFrom("bytes=", "Bytes=", "-", ",", " ", "0", "1", "9", "=", ";", "\t", "x"),
      fc.nat().map(String),
      fc.string(),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 12 }).map((p) => p.join("")),
        fc.nat(100_000),
        (header, size) => {
          const r = parseRange(header, size);
          if (r.kind === "partial") {
            expect(r.start).toBeGreaterThanOrEqual(0);
            expect(r.end).toBeGreaterThanOrEqual(r.start);
            expect(r.end).toBeLessThan(size);
          }
          parseRangeSpecs(header);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("conditional helpers", () => {
  const v = { etag: '"abc"', lastModified: new Date("2024-03-01T10:00:00.750Z") };
  const h = (init: Record<string, string>) => new Headers(init);

  it("etagMatches: weak comparison for lists, *, W/; strong comparison refuses weak tags", () => {
    expect(etagMatches('"abc"', v.etag)).toBe(true);
    expect(etagMatches('W/"abc"', v.etag)).toBe(true);
    expect(etagMatches('"x", "y,z" ,W/"abc"', v.etag)).toBe(true);
    expect(etagMatches("*", v.etag)).toBe(true);
    expect(etagMatches('"abcd"', v.etag)).toBe(false);
    expect(etagMatches("abc", v.etag)).toBe(false);
    expect(etagMatches('"abc" junk', v.etag)).toBe(false);
    expect(etagMatches('W/"abc"', v.etag, "strong")).toBe(false);
    expect(etagMatches('"abc"', v.etag, "strong")).toBe(true);
  });

  it("evaluatePreconditions follows RFC 9110's order", () => {
    expect(evaluatePreconditions(h({}), v)).toBe("proceed");
    expect(evaluatePreconditions(h({ "if-none-match": '"abc"' }), v)).toBe("not-modified");
    expect(evaluatePreconditions(h({ "if-none-match": "*" }), v)).toBe("not-modified");
    expect(evaluatePreconditions(h({ "if-none-match": '"old", W/"abc"' }), v)).toBe("not-modified");
    expect(evaluatePreconditions(h({ "if-none-match": '"old"' }), v)).toBe("proceed");
    const sameSecond = v.lastModified.toUTCString();
    expect(evaluatePreconditions(h({ "if-modified-since": sameSecond }), v)).toBe("not-modified");
    expect(evaluatePreconditions(h({ "if-modified-since": "Fri, 01 Mar 2024 09:59:59 GMT" }), v)).toBe("proceed");
    // If-None-Match present → If-Modified-Since ignored.
    expect(evaluatePreconditions(h({ "if-none-match": '"old"', "if-modified-since": sameSecond }), v)).toBe("proceed");
    // Invalid or future dates are ignored.
    expect(evaluatePreconditions(h({ "if-modified-since": "yesterday-ish" }), v)).toBe("proceed");
    expect(evaluatePreconditions(h({ "if-modified-since": "Fri, 01 Mar 2024 11:00:00 GMT" }), v, v.lastModified)).toBe("proceed");
    expect(evaluatePreconditions(h({ "if-match": '"other"' }), v)).toBe("precondition-failed");
    expect(evaluatePreconditions(h({ "if-match": '"abc"' }), v)).toBe("proceed");
    expect(evaluatePreconditions(h({ "if-unmodified-since": "Fri, 01 Mar 2024 09:00:00 GMT" }), v)).toBe("precondition-failed");
  });

  it("ifRangeAllowsPartial: strong etag or exact date, anything else → full", () => {
    expect(ifRangeAllowsPartial(null, v)).toBe(true);
    expect(ifRangeAllowsPartial('"abc"', v)).toBe(true);
    expect(ifRangeAllowsPartial('W/"abc"', v)).toBe(false);
    expect(ifRangeAllowsPartial('"other"', v)).toBe(false);
    expect(ifRangeAllowsPartial(v.lastModified.toUTCString(), v)).toBe(true);
    expect(ifRangeAllowsPartial("Fri, 01 Mar 2024 09:59:59 GMT", v)).toBe(false);
    expect(ifRangeAllowsPartial("garbage", v)).toBe(false);
  });
});
