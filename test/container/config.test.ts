// The renderer's configuration: parsed once at start, and a bad value (or a port already in use)
// stops the start with one line naming the variable, not a stack trace or a silent fallback.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { cpus, tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_DRAIN_SECONDS, parseRendererConfig, StartupError } from "../../container/src/config.ts";
import { WASM_MAX_INPUT_BYTES } from "../../container/src/engines/choose.ts";

const SERVER = fileURLToPath(new URL("../../container/src/server.ts", import.meta.url));
const FFMPEG_ABSENT = "/nonexistent/ffmpeg";

describe("parsing the renderer's environment", () => {
  it("takes the defaults for unset or empty variables", () => {
    const config = parseRendererConfig({ PATH: "/usr/bin:/bin", SLOTS: "", RENDERER_DISABLE_NATIVE: "" });
    expect(config).toEqual({
      slots: cpus().length || 1,
      port: 8080,
      host: undefined,
      tmpRoot: tmpdir(),
      drainSeconds: DEFAULT_DRAIN_SECONDS,
      wasmMaxBytes: WASM_MAX_INPUT_BYTES,
      watchdogMs: undefined,
      parallelAudioMinSeconds: undefined,
      chunkMinSeconds: undefined,
      engines: { disableNative: false, ffmpegPath: undefined, ffprobePath: undefined, searchPath: "/usr/bin:/bin" },
    });
  });

  it("reads every variable", () => {
    const config = parseRendererConfig({
      SLOTS: "3",
      PORT: "0",
      HOST: "127.0.0.1",
      RENDERER_TMPDIR: "/var/tmp/renders",
      RENDERER_DRAIN_SECONDS: "60",
      RENDERER_WASM_MAX_BYTES: "1024",
      RENDERER_WATCHDOG_MS: "5000",
      RENDERER_PARALLEL_AUDIO_MIN_SECONDS: "0",
      RENDERER_CHUNK_MIN_SECONDS: "Infinity",
      RENDERER_DISABLE_NATIVE: "1",
      FFMPEG_PATH: process.execPath,
    });
    expect(config).toMatchObject({
      slots: 3,
      port: 0,
      host: "127.0.0.1",
      tmpRoot: "/var/tmp/renders",
      drainSeconds: 60,
      wasmMaxBytes: 1024,
      watchdogMs: 5000,
      parallelAudioMinSeconds: 0,
      chunkMinSeconds: Infinity,
      engines: { disableNative: true, ffmpegPath: process.execPath },
    });
    expect(parseRendererConfig({ RENDERER_DISABLE_NATIVE: "false", RENDERER_CHUNK_MIN_SECONDS: "7.5" })).toMatchObject({
      chunkMinSeconds: 7.5,
      engines: { disableNative: false },
    });
  });

  it.each([
    ["SLOTS", "abc", /SLOTS must be a whole number \(at least 1\), not "abc"/],
    ["SLOTS", "0", /SLOTS must be a whole number \(at least 1\), not "0"/],
    ["PORT", "http", /PORT must be a whole number \(from 0 to 65535\), not "http"/],
    ["PORT", "70000", /PORT must be a whole number \(from 0 to 65535\), not "70000"/],
    ["RENDERER_DRAIN_SECONDS", "-1", /RENDERER_DRAIN_SECONDS must be a whole number of seconds \(at least 0\), not "-1"/],
    ["RENDERER_WATCHDOG_MS", "0", /RENDERER_WATCHDOG_MS must be a whole number of milliseconds \(at least 1\), not "0"/],
    ["RENDERER_WASM_MAX_BYTES", "nope", /RENDERER_WASM_MAX_BYTES must be a whole number of bytes \(at least 0\), not "nope"/],
    [
      "RENDERER_PARALLEL_AUDIO_MIN_SECONDS",
      "2m",
      /RENDERER_PARALLEL_AUDIO_MIN_SECONDS must be a number of seconds \(0 or more\) or Infinity/,
    ],
    ["RENDERER_CHUNK_MIN_SECONDS", "0", /RENDERER_CHUNK_MIN_SECONDS must be a number of seconds above 0 or Infinity/],
    ["RENDERER_DISABLE_NATIVE", "yes", /RENDERER_DISABLE_NATIVE must be 1, true, 0 or false, not "yes"/],
    ["FFMPEG_PATH", FFMPEG_ABSENT, /FFMPEG_PATH must be the path of an executable file; "\/nonexistent\/ffmpeg" is not one/],
    ["FFPROBE_PATH", tmpdir(), /FFPROBE_PATH must be the path of an executable file; ".*" is not one/],
  ])("%s=%s fails naming the variable and what is wrong", (name, value, message) => {
    expect(() => parseRendererConfig({ [name]: value })).toThrow(StartupError);
    expect(() => parseRendererConfig({ [name]: value })).toThrow(message);
  });

  it("names every bad variable at once", () => {
    expect(() => parseRendererConfig({ SLOTS: "abc", PORT: "x" })).toThrow(/^invalid configuration: SLOTS must .*; PORT must /);
  });
});

/** Runs the renderer's entry point as `npm run renderer` does; resolves with its exit code and output. */
function startRenderer(env: Record<string, string>): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", SERVER], {
    env: { ...process.env, HOST: "127.0.0.1", SLOTS: "1", RENDERER_DISABLE_NATIVE: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    }),
  );
}

describe("starting the renderer", () => {
  let occupied: Server | undefined;
  afterEach(() => new Promise<void>((r) => (occupied ? occupied.close(() => r()) : r())));

  it("with SLOTS=abc it exits 1 at once, in one line naming SLOTS", async () => {
    const { code, output } = await startRenderer({ PORT: "0", SLOTS: "abc" });
    expect(code).toBe(1);
    expect(output.trim()).toBe('renderer cannot start: invalid configuration: SLOTS must be a whole number (at least 1), not "abc"');
  });

  it("on a port already in use it exits 1 naming the port and PORT, with a free one to try, and no stack trace", async () => {
    occupied = createServer();
    const port = await new Promise<number>((r) =>
      occupied!.listen(0, "127.0.0.1", () => r((occupied!.address() as { port: number }).port)),
    );
    const { code, output } = await startRenderer({ PORT: String(port) });
    expect(code).toBe(1);
    const m = new RegExp(
      `^renderer cannot start: port ${port} on 127\\.0\\.0\\.1 is already in use: stop what listens there, or set PORT to a free port \\(e\\.g\\. PORT=(\\d+)\\)$`,
      "m",
    ).exec(output);
    expect(m, output).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(port);
    expect(output).not.toMatch(/EADDRINUSE|^\s+at /m);
    expect(output).not.toMatch(/listening on port/);
  });
});
