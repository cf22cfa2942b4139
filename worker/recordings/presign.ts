import { AwsV4Signer } from "aws4fetch";

// Presigned part URLs: with R2's S3 API credentials configured, a client may PUT each part straight
// to R2 (a multipart upload made through the binding is the same upload in the S3 API), so the
// bytes never pass through the Worker. Each URL is signed for one part number and its exact
// Content-Length: SigV4 recomputes the signature from the request's own headers, so R2 refuses a
// part of any other size.

/** How long a presigned part URL stays valid; the Worker's part route serves any time after. */
export const PRESIGN_SECONDS = 24 * 3600;

/** R2's S3 API credentials (R2_ACCOUNT_ID, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY, R2_BUCKET; worker/config.ts). */
export interface S3Config {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

/** The S3 API URL of an object: every key segment URI-encoded (keys hold `%` from their ids). */
function objectUrl(config: S3Config, key: string): URL {
  const path = key.split("/").map(encodeURIComponent).join("/");
  return new URL(`https://${config.accountId}.r2.cloudflarestorage.com/${encodeURIComponent(config.bucket)}/${path}`);
}

export interface PartUpload {
  mediaKey: string;
  r2UploadId: string;
  partCount: number;
  /** The size part `n` must have. */
  sizeOf: (n: number) => number;
}

/** One presigned UploadPart URL per part, each bound to its part's size. */
export async function presignParts(config: S3Config, upload: PartUpload, now = new Date()): Promise<{ partNumber: number; url: string }[]> {
  const datetime = now.toISOString().replace(/[:-]|\.\d{3}/g, "");
  // The signing key depends only on the date and credentials: derived once for every part.
  const cache = new Map<string, ArrayBuffer>();
  const parts = [];
  for (let n = 1; n <= upload.partCount; n++) {
    const url = objectUrl(config, upload.mediaKey);
    url.searchParams.set("partNumber", String(n));
    url.searchParams.set("uploadId", upload.r2UploadId);
    url.searchParams.set("X-Amz-Expires", String(PRESIGN_SECONDS));
    const signer = new AwsV4Signer({
      method: "PUT",
      url: url.toString(),
      headers: { "content-length": String(upload.sizeOf(n)) },
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      service: "s3",
      region: "auto",
      signQuery: true,
      // content-length is left out of signatures by default; here it is the point.
      allHeaders: true,
      datetime,
      cache,
    });
    parts.push({ partNumber: n, url: (await signer.sign()).url.toString() });
  }
  return parts;
}
