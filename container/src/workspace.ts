// The renderer process's scratch space on the instance's disk.
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * This process's scratch dir, `<root>/renderer-<pid>`. A killed renderer cannot clean up after
 * itself, so dirs of renderers that no longer run (and any leftovers under our own pid, which a
 * restarted container may reuse) are removed here, before any job starts.
 */
export async function workspace(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const name of await readdir(root)) {
    const pid = Number(/^renderer-(\d+)$/.exec(name)?.[1]);
    if (pid && (pid === process.pid || !alive(pid))) await rm(join(root, name), { recursive: true, force: true });
  }
  const mine = join(root, `renderer-${process.pid}`);
  await mkdir(mine, { recursive: true });
  return mine;
}
