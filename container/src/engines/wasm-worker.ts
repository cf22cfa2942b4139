// Source of the worker thread that hosts one @ffmpeg/core instance. It is a plain-JS string run
// with `eval: true` so it works the same under tsx, vitest and the esbuild bundle (no extra file
// to ship or transpile). exec() is synchronous and can run for seconds: in a worker it neither
// blocks the HTTP server nor the heartbeats, and terminate() is a hard cancel.
export const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
// The Emscripten build looks for a browser-ish global before anything else.
globalThis.self = { location: { href: workerData.coreUrl } };
const CHUNK = 1 << 20;
let core;

function copyIn(host, mem) {
  const fd = fs.openSync(host, "r");
  const out = core.FS.open(mem, "w");
  // A plain Uint8Array, not a Buffer: MEMFS keeps buf.slice() of the first write to an empty
  // file, which copies a Uint8Array but is only a view of a Buffer (the next read overwrote it).
  const buf = new Uint8Array(CHUNK);
  try {
    let n;
    while ((n = fs.readSync(fd, buf, 0, CHUNK, null)) > 0) core.FS.write(out, buf, 0, n);
  } finally {
    fs.closeSync(fd);
    core.FS.close(out);
  }
}

function copyOut(mem, host) {
  const size = core.FS.stat(mem).size;
  const src = core.FS.open(mem, "r");
  const fd = fs.openSync(host, "w");
  const buf = new Uint8Array(CHUNK);
  try {
    let pos = 0;
    while (pos < size) {
      const n = core.FS.read(src, buf, 0, Math.min(CHUNK, size - pos), pos);
      if (n <= 0) break;
      fs.writeSync(fd, buf, 0, n);
      pos += n;
    }
  } finally {
    core.FS.close(src);
    fs.closeSync(fd);
  }
}

function unlink(mem) {
  try { core.FS.unlink(mem); } catch {}
}

function run(msg) {
  const stdout = [];
  const tail = [];
  let lastProgress = 0;
  core.setLogger(({ type, message }) => {
    if (type === "stdout") { if (msg.keepStdout) stdout.push(message); return; }
    tail.push(message);
    if (tail.length > 60) tail.shift();
  });
  core.setProgress(({ time }) => {
    const now = Date.now();
    if (now - lastProgress < 250 || !(time > 0)) return;
    lastProgress = now;
    parentPort.postMessage({ type: "progress", id: msg.id, seconds: time / 1e6 });
  });
  const mems = [];
  try {
    for (const [host, mem] of msg.inputs) { copyIn(host, mem); mems.push(mem); }
    if (msg.output) mems.push(msg.output[0]);
    const ret = msg.probe ? core.ffprobe(...msg.args) : core.exec(...msg.args);
    core.reset();
    if (msg.output && ret === 0) copyOut(msg.output[0], msg.output[1]);
    parentPort.postMessage({ type: "done", id: msg.id, ret, stdout: stdout.join("\n"), log: tail.join("\n") });
  } catch (e) {
    parentPort.postMessage({ type: "done", id: msg.id, ret: -1, crashed: String(e && e.message || e), stdout: "", log: tail.join("\n") });
  } finally {
    for (const m of mems) unlink(m);
    core.setLogger(() => {});
    core.setProgress(() => {});
  }
}

(async () => {
  const { default: createCore } = await import(workerData.coreUrl);
  core = await createCore({
    // Instantiate from the module compiled once in the main thread (no 32 MB recompile per instance).
    instantiateWasm(imports, done) {
      WebAssembly.instantiate(workerData.module, imports).then((inst) => done(inst, workerData.module));
      return {};
    },
  });
  parentPort.on("message", run);
  parentPort.postMessage({ type: "ready" });
})().catch((e) => parentPort.postMessage({ type: "failed", error: String(e && e.stack || e) }));
`;
