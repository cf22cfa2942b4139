import { ETA_MIN_GAP_MS, etaStrayed, HEARTBEAT_SECONDS } from "../../contract/renderer";
import type { CompositionRow } from "../db/schema";

// When a progress report is worth a D1 write. The renderer reports at least every 3.5 s (its
// heartbeat, HEARTBEAT_SECONDS), and each report already reads the job's row by primary key (the
// lease token it carries is checked against it). Writing every report too made liveness cost one
// write per running job every few seconds, on a database that executes one statement at a time.
// So a report is written only when one of these is due, and otherwise costs that one read:
//  - the lease, renewed once less than half of it is left (never less than three heartbeats): at
//    the production LEASE_SECONDS of 120 a running job writes for liveness about once a minute,
//    and a dead renderer's job is reclaimed at most LEASE_SECONDS after its last renewal, plus the
//    cron's minute (a short lease, as the end-to-end tests set, renews on every report as before);
//  - progress the view shows, in the steps of PROGRESS_STEPS: 5 points at most one per 5 s, or
//    10 points at most one per 2 s (the first of a run at once): the view lags the renderer by
//    less than 5 points on a slow job, 10 on a faster one, and 2 s of progress on one moving faster
//    than 5 points a second (a 20 s render's view moved in 20-point jumps, 51 % to 72 % to 95 %,
//    and a user polling it never saw three quarters);
//  - the ETA, when the renderer's estimate strays from the stored one counted down since it was
//    written (which is what the view shows) as far as `etaStrayed` says, at most twice a second (a
//    steady render's estimate counts down with the stored one and is never rewritten);
//  - a composition.progress event, whose own throttle (5 s and 10 points) decides, as before.
// Cancel does not depend on any of this: it reaches the renderer directly (DELETE), and a renderer
// whose lease is gone learns it from the next report's read.

/** A progress write is due once it has moved `points` since the last, `afterMs` or more after it. */
const PROGRESS_STEPS = [
  { points: 5, afterMs: 5_000 },
  { points: 10, afterMs: 2_000 },
] as const;
/** The smallest step the view shows. */
export const PROGRESS_WRITE_STEP = PROGRESS_STEPS[0].points;
/** A renewal leaves room for three heartbeats lost or slow before the lease runs out. */
const RENEWAL_MARGIN_MS = 3 * HEARTBEAT_SECONDS * 1000;

type Liveness = Pick<CompositionRow, "leaseExpiresAt" | "progress" | "etaSeconds" | "updatedAt" | "startedAt">;

export interface ProgressReport {
  /** Whole percent, 0–99. */
  progress: number;
  etaSeconds: number | null;
}

export function leaseRenewalDue(row: Liveness, now: number, leaseMs: number): boolean {
  if (row.leaseExpiresAt === null) return true;
  return row.leaseExpiresAt - now < Math.max(leaseMs / 2, RENEWAL_MARGIN_MS);
}

/** The ETA the view shows: the stored estimate counted down from when it was written (every write sets updatedAt). */
export function projectedEtaSeconds(row: Pick<CompositionRow, "etaSeconds" | "updatedAt">, now: number): number | null {
  if (row.etaSeconds === null) return null;
  // Tenths of a second: a short job's ETA is a few seconds, where whole seconds would be 20 % off.
  return Math.max(0, Math.round((row.etaSeconds - Math.max(0, now - row.updatedAt) / 1000) * 10) / 10);
}

function etaRewriteDue(row: Liveness, eta: number | null, now: number): boolean {
  const shown = projectedEtaSeconds(row, now);
  if (shown === null || eta === null) return shown !== eta;
  return etaStrayed(shown, eta);
}

function visibleChangeDue(row: Liveness, report: ProgressReport, now: number): boolean {
  // The gap is between progress writes: the claim (which sets updatedAt = startedAt) is not one,
  // so the first progress of a run shows at once.
  const written = row.updatedAt !== row.startedAt;
  const since = written ? now - row.updatedAt : Infinity;
  // An ETA gone astray is put right within half a second (a steady one is never rewritten).
  if (since >= ETA_MIN_GAP_MS && etaRewriteDue(row, report.etaSeconds, now)) return true;
  const moved = report.progress - row.progress;
  return PROGRESS_STEPS.some((step) => since >= step.afterMs && moved >= step.points);
}

/** The lease needs renewing, or the view would show something different: the report is written. */
export function progressWriteDue(row: Liveness, report: ProgressReport, now: number, leaseMs: number): boolean {
  return leaseRenewalDue(row, now, leaseMs) || visibleChangeDue(row, report, now);
}
