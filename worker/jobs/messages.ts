/** Queue messages are wake-ups: D1 decides which job runs, so arrival order never matters. */
export type RenderJobMessage = {
  kind: "dispatch";
  reason: string;
  /** Dispatch until the renderer is full, not just one job (recovery wake-ups: other messages may be lost). */
  fill?: boolean;
};

export async function wakeUp(queue: Queue<RenderJobMessage>, reason: string, delaySeconds?: number): Promise<void> {
  await queue.send({ kind: "dispatch", reason }, delaySeconds ? { delaySeconds } : undefined);
}

/**
 * A recovery wake-up (the cron's, an expired lease's): its consumer fills every free renderer slot.
 * Ordinary wake-ups (created, slot freed) dispatch one job each, so a full renderer is not probed
 * again for every message; but when messages were lost, one job per wake-up would leave slots idle.
 */
export async function wakeUpToFill(queue: Queue<RenderJobMessage>, reason: string): Promise<void> {
  await queue.send({ kind: "dispatch", reason, fill: true });
}
