import { REVIEW_ASSETS, reviewAssetKey, type ReviewAssetName } from "../jobs/review-assets";
import { problem } from "../http/problem";
import { contentDisposition, serveMediaObject } from "./serve";
import { formatIsoBasic, mediaLinkPath, signedMediaUrl, signMediaLink, type SigningKey } from "./signing";

export interface AssetRead {
  conversationId: string;
  compositionId: string;
  outputKey: string;
  name: ReviewAssetName;
  disposition: "inline" | "attachment";
  maxAgeSeconds: number;
  /** The verified link's own `Date` and `Expires`: the sprite link in a VTT inherits them. */
  signedAt: Date;
  expiresSeconds: number;
  origin: string;
  keys: readonly SigningKey[];
}

/**
 * Serves a run's review asset through its signed link, with the media's ranges and conditional
 * requests. CORS is open: the link is the credential, and players on other origins (wavesurfer.js,
 * peaks.js, video.js thumbnails) fetch these files.
 */
export async function serveReviewAsset(request: Request, bucket: R2Bucket, a: AssetRead): Promise<Response> {
  const key = reviewAssetKey(a.outputKey, a.name);
  const res =
    a.name === "thumbnails.vtt"
      ? await serveThumbnailTrack(request, bucket, key, a)
      : await serveMediaObject(request, bucket, key, {
          contentType: REVIEW_ASSETS[a.name].contentType,
          disposition: a.disposition,
          fileName: a.name,
          maxAgeSeconds: a.maxAgeSeconds,
        });
  if (!res) throw problem.notFound(`This composition has no ${a.name}.`);
  res.headers.set("Access-Control-Allow-Origin", "*");
  return res;
}

/**
 * The stored track names the sprite relatively (`thumbnails.jpg#xywh=…`); each read points it at a
 * signed link of its own with this link's Date and Expires, so the sprite expires, and is revoked,
 * together with the track. Same link → same bytes, so the ETag holds across reads of one link.
 */
async function serveThumbnailTrack(request: Request, bucket: R2Bucket, key: string, a: AssetRead): Promise<Response | null> {
  const obj = await bucket.get(key);
  if (!obj) return null;
  const spritePath = mediaLinkPath("inline", a.conversationId, a.compositionId, "thumbnails.jpg");
  const sprite = signedMediaUrl(a.origin, spritePath, await signMediaLink(a.keys, spritePath, a.signedAt, a.expiresSeconds));
  const body = (await obj.text()).replace(/^thumbnails\.jpg(?=#xywh=)/gm, sprite);
  const etag = `"${obj.etag}-${formatIsoBasic(a.signedAt)}-${a.expiresSeconds}"`;
  const headers = new Headers({
    "Content-Type": REVIEW_ASSETS["thumbnails.vtt"].contentType,
    "Content-Disposition": contentDisposition(a.disposition, "thumbnails.vtt"),
    "Cache-Control": `private, max-age=${a.maxAgeSeconds}`,
    "X-Content-Type-Options": "nosniff",
    // A few kilobytes, made per read: always sent whole.
    "Accept-Ranges": "none",
    ETag: etag,
  });
  const tags = request.headers
    .get("If-None-Match")
    ?.split(",")
    .map((t) => t.trim().replace(/^W\//, ""));
  if (tags?.includes(etag) || tags?.includes("*")) return new Response(null, { status: 304, headers });
  const bytes = new TextEncoder().encode(body);
  headers.set("Content-Length", String(bytes.byteLength));
  return new Response(request.method.toUpperCase() === "HEAD" ? null : bytes, { status: 200, headers });
}
