// Redocly's recommended rules (redocly.yaml) over the /openapi.json of the running stack: no error
// and no warning. The CLI runs from node_modules and needs no network.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.ts";
import { tempDir } from "../fixtures/media.ts";
import { startTestStack, type TestStack } from "./harness.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.dispose();
});

function redoclyLint(file: string): Promise<string> {
  const cli = join(ROOT, "node_modules", "@redocly", "cli", "bin", "cli.js");
  const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [cli, "lint", "--config", join(ROOT, "redocly.yaml"), "--format=json", file],
      { cwd: ROOT, env },
      (err, stdout, stderr) =>
        // A lint with errors exits 1 and still prints its report.
        stdout.trim().startsWith("{") ? resolve(stdout) : reject(new Error(`redocly lint: ${err?.message}\n${stderr}`)),
    ),
  );
}

it("redocly lint reports no error and no warning on /openapi.json", async () => {
  const res = await stack.api("GET", "/openapi.json");
  expect(res.status).toBe(200);
  const file = join(await tempDir(), "openapi.json");
  await writeFile(file, res.text);
  const report = JSON.parse(await redoclyLint(file));
  const problems = report.problems.map((p: any) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`);
  expect(problems).toEqual([]);
  expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
});
