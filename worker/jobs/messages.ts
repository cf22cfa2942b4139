/** Queue messages are wake-ups: D1 decides which job runs, so arrival order never matters. */
export type RenderJobMessage = { kind: "dispatch"; reason: string };

export async function wakeUp(queue: Queue<RenderJobMessage>, reason: string, delaySeconds?: number): Promise<void> {
  await queue.send({ kind: "dispatch", reason }, delaySeconds ? { delaySeconds } : undefined);
}
