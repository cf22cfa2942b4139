// Multipart track uploads with R2's S3 API credentials configured: presigned part URLs (checked
// against SigV4 computed here from AWS's specification) and completing parts that went straight to R2.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { trackKey } from "../../worker/media/keys";
import { call, fields, uid } from "./helpers";
import {
  as,
  complete,
  org,
  PART,
  randomBytes,
  readTrack,
  recording,
  sendParts,
  sha256,
  SIZE,
  slice,
  start,
  started,
  status,
  TAIL,
  uploadsOf,
  useFreshOrganization,
} from "./upload-helpers";

useFreshOrganization();

describe("presigned part URLs (R2's S3 API credentials configured)", () => {
  const S3 = {
    R2_ACCOUNT_ID: "0123456789abcdef",
    R2_ACCESS_KEY_ID: "AKIDEXAMPLE",
    R2_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    R2_BUCKET: "composition-media",
  };
  const vars = env as unknown as Record<string, string | undefined>;
  beforeEach(() => void Object.assign(vars, S3));
  afterEach(() => {
    for (const k of Object.keys(S3)) delete vars[k];
  });

  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
  const rfc3986 = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  async function hmac(key: ArrayBuffer | Uint8Array, data: string): Promise<ArrayBuffer> {
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", k, new TextEncoder().encode(data));
  }

  /** SigV4 of a presigned S3 PUT, computed from AWS's specification, independently of aws4fetch. */
  async function expectedSignature(url: URL, objectKey: string, contentLength: number): Promise<string> {
    const q = url.searchParams;
    const amzDate = q.get("X-Amz-Date")!;
    const scope = `${amzDate.slice(0, 8)}/auto/s3/aws4_request`;
    const query = [...q]
      .filter(([k]) => k !== "X-Amz-Signature")
      .map(([k, v]) => [rfc3986(k), rfc3986(v)])
      .sort(([a], [b]) => (a! < b! ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const path = "/" + [S3.R2_BUCKET, ...objectKey.split("/")].map(rfc3986).join("/");
    const canonical = [
      "PUT",
      path,
      query,
      `content-length:${contentLength}\nhost:${url.host}\n`,
      "content-length;host",
      "UNSIGNED-PAYLOAD",
    ].join("\n");
    const toSign = [
      "AWS4-HMAC-SHA256",
      amzDate,
      scope,
      hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical))),
    ].join("\n");
    let key: ArrayBuffer = new TextEncoder().encode(`AWS4${S3.R2_SECRET_ACCESS_KEY}`).buffer as ArrayBuffer;
    for (const part of [amzDate.slice(0, 8), "auto", "s3", "aws4_request"]) key = await hmac(key, part);
    return hex(await hmac(key, toSign));
  }

  it("the create answer carries one URL per part, signed for the part's number, upload and exact size", async () => {
    // ':' in an id is kept in the storage key percent-encoded, so the URL path must encode that '%'.
    const conv = uid("conv:1");
    await recording(conv);
    const res = await start(conv);
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ partSize: PART, partCount: 3, expiresInSeconds: 86400 });
    const row = (await env.DB.prepare(`SELECT r2_upload_id, media_key FROM track_uploads WHERE id = ?1`)
      .bind(res.json.uploadId)
      .first<Record<string, string>>())!;
    expect(row.media_key).toBe(trackKey(org, conv, "t1"));
    expect(res.json.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2, 3]);
    for (const { partNumber, url: raw } of res.json.parts as { partNumber: number; url: string }[]) {
      const url = new URL(raw);
      expect(url.origin).toBe(`https://${S3.R2_ACCOUNT_ID}.r2.cloudflarestorage.com`);
      expect(url.pathname).toBe(`/${S3.R2_BUCKET}/orgs/${org}/conversations/${conv.replace(":", "%253A")}/tracks/t1`);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        partNumber: String(partNumber),
        uploadId: row.r2_upload_id,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": `${S3.R2_ACCESS_KEY_ID}/${url.searchParams.get("X-Amz-Date")!.slice(0, 8)}/auto/s3/aws4_request`,
        "X-Amz-Date": expect.stringMatching(/^\d{8}T\d{6}Z$/),
        "X-Amz-Expires": "86400",
        "X-Amz-SignedHeaders": "content-length;host",
        "X-Amz-Signature": expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      const size = partNumber === 3 ? TAIL : PART;
      expect(url.searchParams.get("X-Amz-Signature")).toBe(await expectedSignature(url, row.media_key!, size));
      // Bound to its size: the same URL is no signature for a body of another length.
      expect(url.searchParams.get("X-Amz-Signature")).not.toBe(await expectedSignature(url, row.media_key!, size + 1));
    }
  });

  it("parts sent straight to R2 are completed from the ETags the client lists (quoted or bare)", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1]);
    // What a presigned PUT does: the part lands in the same R2 multipart upload, unseen by the Worker.
    const row = (await env.DB.prepare(`SELECT r2_upload_id, media_key FROM track_uploads WHERE id = ?1`)
      .bind(id)
      .first<Record<string, string>>())!;
    const r2 = env.MEDIA.resumeMultipartUpload(row.media_key!, row.r2_upload_id!);
    const two = await r2.uploadPart(2, slice(bytes, 2));
    const three = await r2.uploadPart(3, slice(bytes, 3));
    expect((await status(conv, id)).json.parts).toEqual([{ partNumber: 1, size: PART }]);

    const withoutList = await complete(conv, id);
    expect(withoutList.status).toBe(409);
    const body = (parts: unknown[]) => call("POST", `${uploadsOf(conv)}/${id}/complete`, { as, body: { parts } });
    const beyond = await body([{ partNumber: 4, etag: "x" }]);
    expect(beyond.status, beyond.text).toBe(400);
    expect(fields(beyond)).toEqual(["body.parts.0.partNumber"]);
    const twice = await body([
      { partNumber: 2, etag: two.etag },
      { partNumber: 2, etag: two.etag },
    ]);
    expect(fields(twice)).toEqual(["body.parts.1.partNumber"]);
    const wrong = await body([
      { partNumber: 2, etag: "not-the-etag" },
      { partNumber: 3, etag: three.etag },
    ]);
    expect(wrong.status, wrong.text).toBe(409);
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(false);

    const done = await body([
      { partNumber: 2, etag: `"${two.etag}"` },
      { partNumber: 3, etag: three.etag },
    ]);
    expect(done.status, done.text).toBe(200);
    expect(done.json.canExportAudio).toBe(true);
    expect(await sha256((await readTrack(conv)).bytes)).toBe(await sha256(bytes));
  }, 60_000);
});
