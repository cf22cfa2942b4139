#!/usr/bin/env bash
# The end-to-end composition tests against the renderer IN the image: runs composition-renderer:local
# (scripts/image/build.sh) on the host network, points the test stack at it (E2E_RENDERER_URL), runs
# test/e2e/compose.test.ts and selection.test.ts (the files that neither configure nor restart the
# renderer), then one 1080p 4-person VIDEO job (scripts/image/render-1080p.ts), printing the
# container's peak memory and scratch bytes for each. The container is stopped however this ends.
# Set E2E_SKIP_1080P=1 to leave out the 1080p job.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-composition-renderer:local}
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "image-e2e: no $IMAGE: run scripts/image/build.sh first" >&2; exit 1; }
NODE_TSX=(node --import tsx)

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
cid=$(docker run -d --rm --network host -e PORT="$port" -e SLOTS=2 "$IMAGE")
sampler=""
logs=$(mktemp)
cleanup() {
  local rc=$?
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  docker logs "$cid" >"$logs" 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    echo "image-e2e: FAILED ($rc); the renderer's last log lines:" >&2
    tail -40 "$logs" >&2
  fi
  docker stop -t 30 "$cid" >/dev/null 2>&1 || true
  rm -f "$logs"
  exit "$rc"
}
trap cleanup EXIT

export E2E_RENDERER_URL="http://127.0.0.1:$port" RENDERER_CONTAINER="$cid"
health() {
  node -e 'fetch(process.env.E2E_RENDERER_URL + "/health").then(async (r) => { console.log(await r.text()); process.exit(r.ok ? 0 : 1); }, () => process.exit(1))'
}
for _ in $(seq 1 60); do
  health >/dev/null && break
  sleep 0.5
done
echo "image-e2e: renderer ${cid:0:12} at $E2E_RENDERER_URL: $(health || echo "no answer from /health")"
health >/dev/null

# Runs one command while sampling the container; prints its peaks.
measured() {
  local label=$1 out
  shift
  out=$(mktemp)
  "${NODE_TSX[@]}" scripts/image/sample-usage.ts "$cid" >"$out" &
  sampler=$!
  local t0=$SECONDS
  "$@"
  kill -TERM "$sampler"
  wait "$sampler"
  sampler=""
  echo "image-e2e: $label: $(( SECONDS - t0 )) s; $(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).summary' "$out")"
  rm -f "$out"
}

for file in test/e2e/compose.test.ts test/e2e/selection.test.ts; do
  measured "$file" npx vitest run --config vitest.node.config.mts "$file"
done
if [ -z "${E2E_SKIP_1080P:-}" ]; then
  t0=$SECONDS
  "${NODE_TSX[@]}" scripts/image/render-1080p.ts # samples the container itself, around the job only
  echo "image-e2e: 1080p job, media generation and stack included: $(( SECONDS - t0 )) s"
fi
