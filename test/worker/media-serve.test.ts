import { env } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { contentDisposition, serveMediaObject } from "../../worker/media/serve";
import type { ServeMediaOptions } from "../../worker/media/serve";

const bucket = (env as unknown as { MEDIA: R2Bucket }).MEDIA;
const SIZE = 4096;
const KEY = "test/media-serve/object.mp4";
const OPTS: ServeMediaOptions = { contentType: "video/mp4", disposition: "inline", fileName: "call.mp4", maxAgeSeconds: 600 };

let stored: Uint8Array;
let etag: string;
let lastModified: string;

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Counts R2 calls so the single-round-trip promise is checked, not assumed. */
function counting(b: R2Bucket) {
  const calls: string[] = [];
  const proxy = {
    get: (k: string, o?: R2GetOptions) => (calls.push("get"), b.get(k, o)),
    head: (k: string) => (calls.push("head"), b.head(k)),
  } as unknown as R2Bucket;
  return { proxy, calls };
}

async function serve(
  headers: Record<string, string> = {},
  init: { method?: string; key?: string; opts?: Partial<ServeMediaOptions> } = {},
) {
  const { proxy, calls } = counting(bucket);
  const req = new Request("https://media.test/x", { method: init.method ?? "GET", headers });
  const res = await serveMediaObject(req, proxy, init.key ?? KEY, { ...OPTS, ...init.opts });
  return { res, calls };
}

async function body(res: Response | null): Promise<Uint8Array> {
  return new Uint8Array(await res!.arrayBuffer());
}

beforeAll(async () => {
  stored = bytes(SIZE, 42);
  const obj = (await bucket.put(KEY, stored))!;
  etag = obj.httpEtag;
  lastModified = obj.uploaded.toUTCString();
});

describe("serveMediaObject: full reads", () => {
  it("GET without Range → 200 with the whole object in one R2 read", async () => {
    const { res, calls } = await serve();
    expect(res!.status).toBe(200);
    expect(res!.headers.get("Accept-Ranges")).toBe("bytes");
    expect(res!.headers.get("Content-Length")).toBe(String(SIZE));
    expect(res!.headers.get("Content-Type")).toBe("video/mp4");
    expect(res!.headers.get("Content-Disposition")).toBe("inline");
    expect(res!.headers.get("ETag")).toBe(etag);
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(res!.headers.get("Last-Modified")).toBe(lastModified);
    expect(res!.headers.get("Cache-Control")).toBe("private, max-age=600");
    expect(res!.headers.get("Content-Range")).toBeNull();
    expect(await body(res)).toEqual(stored);
    expect(calls).toEqual(["get"]);
  });

  it("a missing object → null, for GET and HEAD", async () => {
    expect((await serve({}, { key: "test/media-serve/missing" })).res).toBeNull();
    expect((await serve({ range: "bytes=0-1" }, { key: "test/media-serve/missing" })).res).toBeNull();
    expect((await serve({}, { key: "test/media-serve/missing", method: "HEAD" })).res).toBeNull();
  });

  it("HEAD → headers only, full length, Range ignored, one head call", async () => {
    for (const headers of [{}, { range: "bytes=0-9" }] as Record<string, string>[]) {
      const { res, calls } = await serve(headers, { method: "HEAD" });
      expect(res!.status).toBe(200);
      expect(res!.body).toBeNull();
      expect(res!.headers.get("Content-Length")).toBe(String(SIZE));
      expect(res!.headers.get("ETag")).toBe(etag);
      expect(res!.headers.get("Accept-Ranges")).toBe("bytes");
      expect(calls).toEqual(["head"]);
    }
  });

  it("Cache-Control never exceeds what the caller allows", async () => {
    expect((await serve({}, { opts: { maxAgeSeconds: 123.9 } })).res!.headers.get("Cache-Control")).toBe("private, max-age=123");
    expect((await serve({}, { opts: { maxAgeSeconds: -5 } })).res!.headers.get("Cache-Control")).toBe("private, max-age=0");
    expect((await serve({}, { opts: { maxAgeSeconds: Number.NaN } })).res!.headers.get("Cache-Control")).toBe("private, max-age=0");
  });

  it("an empty object: 200 with no bytes, int ranges → 416", async () => {
    await bucket.put("test/media-serve/empty", new Uint8Array(0));
    const full = await serve({}, { key: "test/media-serve/empty" });
    expect(full.res!.status).toBe(200);
    expect((await body(full.res)).length).toBe(0);
    const r = await serve({ range: "bytes=0-" }, { key: "test/media-serve/empty" });
    expect(r.res!.status).toBe(416);
    expect(r.res!.headers.get("Content-Range")).toBe("bytes */0");
  });
});

describe("serveMediaObject: ranges", () => {
  it.each([
    ["first bytes", "bytes=0-99", 0, 99],
    ["first byte", "bytes=0-0", 0, 0],
    ["middle", "bytes=1000-1999", 1000, 1999],
    ["last bytes", "bytes=4090-4095", 4090, 4095],
    ["suffix", "bytes=-100", 3996, 4095],
    ["suffix longer than the object", "bytes=-100000", 0, 4095],
    ["open-ended", "bytes=4000-", 4000, 4095],
    ["clamped past the end", "bytes=4000-99999", 4000, 4095],
    ["multi-range → first only", "bytes=0-9,20-29", 0, 9],
    ["multi-range → first satisfiable", "bytes=9999-,10-19", 10, 19],
  ])("%s (%s) → 206 with exactly those bytes", async (_name, range, start, end) => {
    const { res, calls } = await serve({ range });
    expect(res!.status).toBe(206);
    expect(res!.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res!.headers.get("Content-Length")).toBe(String(end - start + 1));
    expect(res!.headers.get("ETag")).toBe(etag);
    expect(await body(res)).toEqual(stored.slice(start, end + 1));
    // A single range costs one R2 read; a multi-range set needs the size before choosing.
    expect(calls.length).toBeLessThanOrEqual(range.includes(",") ? 2 : 1);
  });

  it.each(["bytes=4096-", "bytes=5000-6000", "bytes=-0", "bytes=4096-,-0"])("%s → 416 with bytes */size", async (range) => {
    const { res } = await serve({ range });
    expect(res!.status).toBe(416);
    expect(res!.headers.get("Content-Range")).toBe(`bytes */${SIZE}`);
    expect(res!.headers.get("Accept-Ranges")).toBe("bytes");
    expect((await body(res)).length).toBe(0);
  });

  it.each(["bytes=abc", "bytes=10-5", "bytes=", "pages=1-2", "bytes=1-2-3"])("invalid %s is ignored → 200 full body", async (range) => {
    const { res } = await serve({ range });
    expect(res!.status).toBe(200);
    expect(res!.headers.get("Content-Range")).toBeNull();
    expect(await body(res)).toEqual(stored);
  });

  it("property: random sizes and random valid ranges return exactly the right bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom("int", "open", "suffix"),
        fc.integer({ min: 1, max: 1_000_000 }),
        async (size, a, b, form, seed) => {
          const key = `test/media-serve/prop-${size}-${seed}`;
          const data = bytes(size, seed);
          await bucket.put(key, data);
          const first = a % size;
          const last = first + (b % (size + 10));
          const n = (b % (size + 10)) + 1;
          const range = form === "int" ? `bytes=${first}-${last}` : form === "open" ? `bytes=${first}-` : `bytes=-${n}`;
          const [start, end] =
            form === "int" ? [first, Math.min(last, size - 1)] : form === "open" ? [first, size - 1] : [Math.max(0, size - n), size - 1];
          const { res } = await serve({ range }, { key });
          expect(res!.status).toBe(206);
          expect(res!.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/${size}`);
          expect(res!.headers.get("Content-Length")).toBe(String(end - start + 1));
          expect(await body(res)).toEqual(data.slice(start, end + 1));
          await bucket.delete(key);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("serveMediaObject: conditional requests", () => {
  const expect304 = async (headers: Record<string, string>, method = "GET") => {
    const { res, calls } = await serve(headers, { method });
    expect(calls).toEqual([method === "HEAD" ? "head" : "get"]);
    expect(res!.status).toBe(304);
    expect(res!.body).toBeNull();
    expect(res!.headers.get("ETag")).toBe(etag);
    expect(res!.headers.get("Last-Modified")).toBe(lastModified);
    expect(res!.headers.get("Cache-Control")).toBe("private, max-age=600");
    expect(res!.headers.get("Content-Length")).toBeNull();
  };

  it("If-None-Match (exact, weak, list, *) → 304 with validators and no body", async () => {
    await expect304({ "if-none-match": etag });
    await expect304({ "if-none-match": `W/${etag}` });
    await expect304({ "if-none-match": `"nope", ${etag}` });
    await expect304({ "if-none-match": "*" });
    await expect304({ "if-none-match": etag, range: "bytes=0-9" });
    await expect304({ "if-none-match": etag }, "HEAD");
  });

  it("If-None-Match not matching → 200, and it overrides If-Modified-Since", async () => {
    const { res } = await serve({ "if-none-match": '"nope"', "if-modified-since": lastModified });
    expect(res!.status).toBe(200);
    expect(await body(res)).toEqual(stored);
  });

  it("If-Modified-Since → 304 when not modified since, 200 otherwise", async () => {
    await expect304({ "if-modified-since": lastModified });
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const { res } = await serve({ "if-modified-since": earlier });
    expect(res!.status).toBe(200);
    expect(await body(res)).toEqual(stored);
  });

  it("If-Match not matching → 412", async () => {
    expect((await serve({ "if-match": '"nope"' })).res!.status).toBe(412);
    expect((await serve({ "if-match": etag })).res!.status).toBe(200);
  });

  it("If-Range with the current ETag or Last-Modified → 206; stale or weak → full 200", async () => {
    for (const ifRange of [etag, lastModified]) {
      const { res } = await serve({ range: "bytes=10-19", "if-range": ifRange });
      expect(res!.status).toBe(206);
      expect(await body(res)).toEqual(stored.slice(10, 20));
    }
    for (const ifRange of ['"stale"', `W/${etag}`, "Mon, 01 Jan 2001 00:00:00 GMT"]) {
      const { res } = await serve({ range: "bytes=10-19", "if-range": ifRange });
      expect(res!.status).toBe(200);
      expect(res!.headers.get("Content-Range")).toBeNull();
      expect(res!.headers.get("Content-Length")).toBe(String(SIZE));
      expect(await body(res)).toEqual(stored);
    }
  });
});

describe("serveMediaObject: consistency", () => {
  it("an object replaced between two reads is served whole from the new version, never mixed", async () => {
    const key = "test/media-serve/replaced";
    const v1 = bytes(500, 1);
    const v2 = bytes(300, 2);
    await bucket.put(key, v1);
    let replaced = false;
    // Replaces the object right after the first R2 call returns, whatever that call was.
    const afterFirst = async <T>(r: T): Promise<T> => {
      if (!replaced) {
        replaced = true;
        await bucket.put(key, v2);
      }
      return r;
    };
    const racing = {
      get: async (k: string, o?: R2GetOptions) => afterFirst(await bucket.get(k, o)),
      head: async (k: string) => afterFirst(await bucket.head(k)),
    } as unknown as R2Bucket;
    // A multi-range set forces a second, exact read, which must notice the new version.
    const req = new Request("https://media.test/x", { headers: { range: "bytes=400-,0-9" } });
    const res = await serveMediaObject(req, racing, key, OPTS);
    const now = await bucket.head(key);
    expect(res!.headers.get("ETag")).toBe(now!.httpEtag);
    expect(res!.headers.get("Content-Range")).toBe("bytes 0-9/300");
    expect(await body(res)).toEqual(v2.slice(0, 10));
  });
});

describe("contentDisposition", () => {
  it("inline stays bare", () => {
    expect(contentDisposition("inline", "whatever.mp4")).toBe("inline");
  });

  it("ASCII names", () => {
    expect(contentDisposition("attachment", "Call 1.mp4")).toBe(`attachment; filename="Call 1.mp4"; filename*=UTF-8''Call%201.mp4`);
  });

  it("non-ASCII names get an ASCII fallback and an RFC 8187 filename*", () => {
    const v = contentDisposition("attachment", "Κλήση πελάτη 1.mp4");
    const fallback = /filename="([^"]*)"/.exec(v)![1]!;
    expect(fallback).toMatch(/^[\x20-\x7e]+\.mp4$/);
    expect(v).toContain(`filename*=UTF-8''${encodeURIComponent("Κλήση πελάτη 1.mp4")}`);
    expect(decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(v)![1]!)).toBe("Κλήση πελάτη 1.mp4");
    expect(contentDisposition("attachment", "Café résumé.mp3")).toContain('filename="Cafe resume.mp3"');
    expect(contentDisposition("attachment", "会议.mp4")).toContain('filename="download.mp4"');
  });

  it("quotes, slashes, control characters and RFC 8187-illegal characters are neutralised", () => {
    const v = contentDisposition("attachment", 'a "quoted"/../..\\name\r\n(1)*.mp4');
    const fallback = /filename="([^"]*)"/.exec(v)![1]!;
    expect(fallback).not.toMatch(/["/\\\r\n]/);
    expect(v).not.toMatch(/[\r\n]/);
    const ext = /filename\*=UTF-8''(.*)$/.exec(v)![1]!;
    expect(ext).toMatch(/^[A-Za-z0-9!#$&+\-.^_`|~%]+$/);
    expect(decodeURIComponent(ext)).not.toMatch(/[/\\]/);
    expect(contentDisposition("attachment", "../../etc/passwd")).not.toContain("/");
    expect(() => contentDisposition("attachment", "bad\ud800surrogate.mp4")).not.toThrow();
    expect(contentDisposition("attachment", "")).toContain('filename="download"');
  });
});
