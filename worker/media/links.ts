import { FORMATS, type Format } from "../../contract/formats";
import type { Principal } from "../auth/principal";
import { workerConfig } from "../config";
import { findOutput, findVisibleComposition } from "../db/compositions";
import { linksRevokedAt } from "../db/link-revocations";
import type { CompositionRow } from "../db/schema";
import type { Env } from "../env";
import { problem } from "../http/problem";
import { isReviewAsset, reviewAssetAllowed, reviewAssetKey, type ReviewAssetName } from "../jobs/review-assets";
import { serveReviewAsset } from "./review-asset-serve";
import { isRevoked, MAX_BROWSER_CACHE_SECONDS, signingInstant } from "./revocation";
import { serveMediaObject } from "./serve";
import { mediaLinkPath, mediaLinkQuery, parseIsoBasic, secondsRemaining, signedMediaUrl, signMediaLink, verifyMediaLink } from "./signing";

type Disposition = "inline" | "attachment";

const signingKeys = (env: Env) => workerConfig(env).signingKeys();

/** The file a link names: the composition id with the format's extension, as the seed's example. */
export function mediaFileName(row: Pick<CompositionRow, "id" | "format">): string {
  return `${row.id}.${FORMATS[row.format].extension}`;
}

/** People see the composition's name when they download it. */
function displayFileName(row: { name: string; format: Format }): string {
  const ext = `.${FORMATS[row.format].extension}`;
  return row.name.toLowerCase().endsWith(ext) ? row.name : row.name + ext;
}

export async function mediaLink(
  env: Env,
  p: Principal,
  req: {
    conversationId: string;
    compositionId: string;
    disposition: Disposition;
    ttlSeconds: number;
    requestUrl: string;
    asset?: ReviewAssetName;
  },
) {
  const row = await findVisibleComposition(env.DB, p, req.conversationId, req.compositionId);
  if (!row) throw problem.notFound(`No composition "${req.compositionId}" in conversation "${req.conversationId}".`);
  if (row.state !== "COMPLETED" || !row.outputKey) {
    throw problem.conflict(`The composition is ${row.state}; links are given for COMPLETED compositions only.`);
  }
  // An older composition, or one whose assets could not be made, has none: say so rather than sign a dead link.
  if (req.asset && (!reviewAssetAllowed(req.asset, row.type) || !(await env.MEDIA.head(reviewAssetKey(row.outputKey, req.asset))))) {
    throw problem.notFound(`This composition has no ${req.asset}.`);
  }
  const origin = workerConfig(env).publicBaseUrl ?? new URL(req.requestUrl).origin;
  return signLink(env, row, req.disposition, req.ttlSeconds, origin, req.asset ?? mediaFileName(row));
}

export async function signLink(
  env: Env,
  row: CompositionRow,
  disposition: Disposition,
  ttlSeconds: number,
  origin: string,
  fileName = mediaFileName(row),
) {
  const path = mediaLinkPath(disposition, row.conversationId, row.id, fileName);
  const signedAt = signingInstant(new Date(), await linksRevokedAt(env.DB, row.id));
  const signed = await signMediaLink(signingKeys(env), path, signedAt, ttlSeconds);
  return { url: signedMediaUrl(origin, path, signed), validUntil: signed.validUntil.toISOString() };
}

const refused = () => problem.forbidden("This link is invalid or has expired.");

/**
 * Serves a signed link: the signature is the whole credential. Every way a link can be wrong gives
 * the same 403; only a valid link to a composition that no longer exists learns 404.
 */
export async function openSignedMedia(
  env: Env,
  request: Request,
  target: { conversationId: string; compositionId: string; fileName: string; disposition: Disposition },
): Promise<Response> {
  const url = new URL(request.url);
  const now = new Date();
  const verdict = await verifyMediaLink(signingKeys(env), url.pathname, mediaLinkQuery(url), now);
  if (!verdict.ok) throw refused();
  const [row, revokedAt] = await Promise.all([
    findOutput(env.DB, target.conversationId, target.compositionId),
    linksRevokedAt(env.DB, target.compositionId),
  ]);
  // A verified link has a well-formed Date and Expires.
  const query = mediaLinkQuery(url);
  const signedAt = parseIsoBasic(query.Date!)!;
  if (isRevoked(signedAt, revokedAt)) throw refused();
  if (!row?.outputKey) throw problem.notFound("This composition no longer exists.");
  const maxAgeSeconds = Math.min(secondsRemaining(verdict.validUntil, now), MAX_BROWSER_CACHE_SECONDS);
  if (target.fileName !== mediaFileName(row)) {
    if (!isReviewAsset(target.fileName)) throw refused();
    const origin = workerConfig(env).publicBaseUrl ?? url.origin;
    const { conversationId, compositionId, disposition } = target;
    const read = { conversationId, compositionId, disposition, outputKey: row.outputKey, name: target.fileName, maxAgeSeconds };
    return serveReviewAsset(request, env.MEDIA, {
      ...read,
      signedAt,
      expiresSeconds: Number(query.Expires),
      origin,
      keys: signingKeys(env),
    });
  }
  const res = await serveMediaObject(request, env.MEDIA, row.outputKey, {
    contentType: FORMATS[row.format].contentType,
    disposition: target.disposition,
    fileName: displayFileName(row),
    maxAgeSeconds,
  });
  if (!res) throw problem.notFound("This composition's media no longer exists.");
  return res;
}
