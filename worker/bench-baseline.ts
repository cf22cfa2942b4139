import { Hono } from "hono";

/**
 * The benchmarks' baseline (bench/api.ts): a bare Hono handler on the same `wrangler dev`, so the
 * API's figures can be read against what the runtime and the router cost alone. Served only when
 * the BENCH_BASELINE var is "true"; never part of the API.
 */
export const BENCH_BASELINE_PATH = "/__bench/hello";

export const benchBaseline = new Hono().get(BENCH_BASELINE_PATH, (c) => c.text("hello"));

export function benchBaselineEnabled(env: object, request: Request): boolean {
  return (env as { BENCH_BASELINE?: string }).BENCH_BASELINE === "true" && new URL(request.url).pathname === BENCH_BASELINE_PATH;
}
