import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIsoBasic,
  mediaLinkPath,
  mediaLinkQuery,
  parseIsoBasic,
  parseSigningKeys,
  secondsRemaining,
  signedMediaUrl,
  signMediaLink,
  verifyMediaLink,
} from "../../worker/media/signing";

const KEYS = parseSigningKeys((env as unknown as { MEDIA_SIGNING_KEYS: string }).MEDIA_SIGNING_KEYS);
const PATH = mediaLinkPath("inline", "conv-1", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8e", "Call 1.mp4");
const NOW = new Date("2021-01-14T18:43:45.569Z");
const later = (ms: number) => new Date(NOW.getTime() + ms);

describe("parseSigningKeys", () => {
  it("parses kid:secret lists, first key first", () => {
    expect(KEYS.map((k) => k.kid)).toEqual(["k2", "k1"]);
    expect(parseSigningKeys(" a : 0123456789abcdef , b:fedcba9876543210:with-colon ")).toEqual([
      { kid: "a", secret: "0123456789abcdef" },
      { kid: "b", secret: "fedcba9876543210:with-colon" },
    ]);
  });

  it.each([
    undefined,
    "",
    " , ",
    "nokey",
    "k1:",
    ":0123456789abcdef",
    "k1:short",
    "a.b:0123456789abcdef",
    "k:0123456789abcdef,k:0123456789abcdeX",
  ])("refuses %j with a clear error", (config) => {
    expect(() => parseSigningKeys(config)).toThrow(/MEDIA_SIGNING_KEYS/);
  });
});

describe("ISO basic dates", () => {
  it("formats and parses whole seconds in UTC", () => {
    expect(formatIsoBasic(NOW)).toBe("20210114T184345Z");
    expect(parseIsoBasic("20210114T184345Z")!.toISOString()).toBe("2021-01-14T18:43:45.000Z");
  });

  it.each([
    "",
    "20210114T184345",
    "20210114T184345z",
    "2021-01-14T18:43:45Z",
    "20211314T184345Z",
    "20210230T000000Z",
    "20210114T246000Z",
    " 20210114T184345Z",
  ])("refuses %j", (s) => expect(parseIsoBasic(s)).toBeNull());
});

describe("signMediaLink / verifyMediaLink", () => {
  it("round trip: a fresh link verifies, validUntil = Date + Expires", async () => {
    const s = await signMediaLink(KEYS, PATH, NOW);
    expect(s.Date).toBe("20210114T184345Z");
    expect(s.Expires).toBe("3600");
    expect(s.Signature).toMatch(/^k2\.[A-Za-z0-9_-]{43}$/);
    expect(s.validUntil.toISOString()).toBe("2021-01-14T19:43:45.000Z");
    const v = await verifyMediaLink(KEYS, PATH, s, later(1000));
    expect(v).toEqual({ ok: true, validUntil: s.validUntil });
    // NOW has .569 s, dropped from Date: 3598.431 s are left, and max-age rounds down.
    expect(secondsRemaining(s.validUntil, later(1000))).toBe(3598);
  });

  it("Expires is 1..604800 whole seconds", async () => {
    for (const bad of [0, -1, 1.5, 604_801, Number.NaN]) await expect(signMediaLink(KEYS, PATH, NOW, bad)).rejects.toThrow(RangeError);
    const max = await signMediaLink(KEYS, PATH, NOW, 604_800);
    expect((await verifyMediaLink(KEYS, PATH, max, later(604_000_000))).ok).toBe(true);
    const min = await signMediaLink(KEYS, PATH, NOW, 1);
    expect((await verifyMediaLink(KEYS, PATH, min, NOW)).ok).toBe(true);
  });

  it("every tampered part is refused", async () => {
    const s = await signMediaLink(KEYS, PATH, NOW);
    const at = later(1000);
    const refused = async (path: string, q: { Date?: string; Expires?: string; Signature?: string }) =>
      expect(await verifyMediaLink(KEYS, path, q, at)).toEqual({ ok: false });
    await refused(mediaLinkPath("inline", "conv-2", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8e", "Call 1.mp4"), s);
    await refused(mediaLinkPath("inline", "conv-1", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8f", "Call 1.mp4"), s);
    await refused(mediaLinkPath("inline", "conv-1", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8e", "Call 2.mp4"), s);
    await refused(mediaLinkPath("attachment", "conv-1", "0b7f6a2e-8d7c-4c1e-9d5e-3f2a1b0c9d8e", "Call 1.mp4"), s);
    await refused(PATH, { ...s, Date: "20210114T184346Z" });
    await refused(PATH, { ...s, Expires: "3601" });
    await refused(PATH, { ...s, Expires: "03600" });
    const mac = s.Signature.slice(3);
    const flipped = (mac[5] === "A" ? "B" : "A") + "";
    await refused(PATH, { ...s, Signature: `k2.${mac.slice(0, 5)}${flipped}${mac.slice(6)}` });
    await refused(PATH, { ...s, Signature: `k1.${mac}` });
    await refused(PATH, { ...s, Signature: `k9.${mac}` });
    await refused(PATH, { ...s, Signature: mac });
    await refused(PATH, { ...s, Signature: `${s.Signature}=` });
    await refused(PATH, { Date: s.Date, Expires: s.Expires });
    await refused(PATH, { Date: s.Date, Signature: s.Signature });
    await refused(PATH, { Expires: s.Expires, Signature: s.Signature });
    await refused("relative/path", s);
  });

  it("a non-canonical spelling of the same MAC is refused", async () => {
    const s = await signMediaLink(KEYS, PATH, NOW);
    const last = s.Signature.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The last of 43 characters holds 4 bits; its 3 siblings decode to the same 32 bytes.
    const sibling = alphabet[(alphabet.indexOf(last) & ~3) + ((alphabet.indexOf(last) + 1) & 3)]!;
    const v = await verifyMediaLink(KEYS, PATH, { ...s, Signature: s.Signature.slice(0, -1) + sibling }, NOW);
    expect(v.ok).toBe(false);
  });

  it("expired links and links dated more than 5 minutes ahead are refused", async () => {
    const s = await signMediaLink(KEYS, PATH, NOW, 60);
    expect((await verifyMediaLink(KEYS, PATH, s, new Date(s.validUntil.getTime() - 1))).ok).toBe(true);
    expect((await verifyMediaLink(KEYS, PATH, s, s.validUntil)).ok).toBe(false);
    expect((await verifyMediaLink(KEYS, PATH, s, later(3_600_000))).ok).toBe(false);
    const future10 = await signMediaLink(KEYS, PATH, later(10 * 60_000));
    expect((await verifyMediaLink(KEYS, PATH, future10, NOW)).ok).toBe(false);
    const future4 = await signMediaLink(KEYS, PATH, later(4 * 60_000));
    expect((await verifyMediaLink(KEYS, PATH, future4, NOW)).ok).toBe(true);
  });

  it("key rotation: old links verify while their key is configured, and not after", async () => {
    const oldOnly = parseSigningKeys("k1:test-media-key-one-0123456789abcdef");
    const s = await signMediaLink(oldOnly, PATH, NOW);
    expect(s.Signature.startsWith("k1.")).toBe(true);
    expect((await verifyMediaLink(KEYS, PATH, s, NOW)).ok).toBe(true);
    expect((await signMediaLink(KEYS, PATH, NOW)).Signature.startsWith("k2.")).toBe(true);
    const newOnly = parseSigningKeys("k2:test-media-key-two-0123456789abcdef");
    expect((await verifyMediaLink(newOnly, PATH, s, NOW)).ok).toBe(false);
    // Same kid, different secret (a re-keyed id) is refused too.
    expect((await verifyMediaLink(parseSigningKeys("k1:another-secret-0123456789abcdef"), PATH, s, NOW)).ok).toBe(false);
  });

  it("works through a real URL: percent-encoded non-ASCII names, origin, query parsing", async () => {
    const path = mediaLinkPath("attachment", "conv:1@x", "id-1", "Κλήση πελάτη 1 (final).mp4");
    const s = await signMediaLink(KEYS, path, NOW, 120);
    const url = new URL(signedMediaUrl("https://example.test/", path, s));
    expect(url.origin).toBe("https://example.test");
    expect(url.pathname).toBe(path);
    expect(await verifyMediaLink(KEYS, url.pathname, mediaLinkQuery(url), NOW)).toEqual({ ok: true, validUntil: s.validUntil });
    // A path the signer wrote unencoded verifies against the parser's encoding of it.
    const raw = '/auvious.video/composition/api/player/inline/c/i/a b"c.mp4';
    const r = await signMediaLink(KEYS, raw, NOW);
    expect((await verifyMediaLink(KEYS, new URL(`https://h${raw}`).pathname, r, NOW)).ok).toBe(true);
  });

  it("a parameter given twice is refused", async () => {
    const s = await signMediaLink(KEYS, PATH, NOW);
    const url = new URL(signedMediaUrl("https://example.test", PATH, s));
    url.searchParams.append("Expires", "604800");
    expect((await verifyMediaLink(KEYS, url.pathname, mediaLinkQuery(url), NOW)).ok).toBe(false);
  });

  it("property: any tampering of a signed link is refused", async () => {
    const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split("");
    const canonical = (p: string) => new URL(`https://h${p}`).pathname;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.constantFrom("inline", "attachment") as fc.Arbitrary<"inline" | "attachment">,
        fc.integer({ min: 1, max: 604_800 }),
        fc.oneof(
          fc.record({ part: fc.constant("path" as const), pos: fc.nat(), ch: fc.constantFrom(..."aZ9%-._~/".split("")) }),
          fc.record({ part: fc.constant("pathDelete" as const), pos: fc.nat() }),
          fc.record({ part: fc.constant("date" as const), delta: fc.integer({ min: -86_400, max: 86_400 }).filter((d) => d !== 0) }),
          fc.record({ part: fc.constant("expires" as const), value: fc.integer({ min: 1, max: 604_800 }) }),
          fc.record({ part: fc.constant("signature" as const), pos: fc.nat(), ch: fc.constantFrom(...b64) }),
        ),
        async (fileName, disposition, expires, t) => {
          const path = mediaLinkPath(disposition, "conv-1", "comp-1", fileName);
          const s = await signMediaLink(KEYS, path, NOW, expires);
          let p = path;
          const q = { Date: s.Date, Expires: s.Expires, Signature: s.Signature };
          if (t.part === "path") {
            const i = 1 + (t.pos % p.length);
            p = p.slice(0, i) + t.ch + p.slice(i);
          } else if (t.part === "pathDelete") {
            const i = 1 + (t.pos % (p.length - 1));
            p = p.slice(0, i) + p.slice(i + 1);
          } else if (t.part === "date") {
            q.Date = formatIsoBasic(new Date(parseIsoBasic(s.Date)!.getTime() + t.delta * 1000));
          } else if (t.part === "expires") {
            q.Expires = String(t.value);
          } else {
            const i = t.pos % s.Signature.length;
            q.Signature = s.Signature.slice(0, i) + t.ch + s.Signature.slice(i + 1);
          }
          // Only real changes count: the same URL path spelled differently is not tampering.
          fc.pre(canonical(p) !== canonical(path) || q.Date !== s.Date || q.Expires !== s.Expires || q.Signature !== s.Signature);
          expect((await verifyMediaLink(KEYS, p, q, NOW)).ok).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });
});
