#!/usr/bin/env bash
# Builds the renderer image (composition-renderer:local) from container/Dockerfile on a machine
# that cannot pull from any registry: starts dockerd if none answers, makes a stand-in for
# node:20-bookworm-slim (debootstrap minbase from this machine's apt mirror + this machine's Node 20
# binary + the `node` user, uid 1000, as in the official image; cached by tag), bundles the renderer
# outside the image and builds with NODE_IMAGE pointing at the stand-in. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-composition-renderer:local}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

start_dockerd() {
  docker info >/dev/null 2>&1 && return
  echo "image: starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon outlives this script (the container e2e step needs it next).
  setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "image: dockerd did not answer within 60 s; last log lines:" >&2
  tail -20 "$DOCKERD_LOG" >&2
  exit 1
}

# The http Debian mirror (and security mirror, if any) apt on this machine uses.
apt_uris() {
  grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -oE 'http://[^ ]+' || true
}

build_base() {
  local tag=$1 node_bin dir mirror security
  node_bin=$(readlink -f "$(command -v node)")
  mirror=$(apt_uris | grep -v security | head -1)
  security=$(apt_uris | grep security | head -1)
  [ -n "$mirror" ] || { echo "image: no http Debian mirror in /etc/apt" >&2; exit 1; }
  dir=$(mktemp -d /var/tmp/node-base-XXXXXX)
  trap 'rm -rf "$dir"' RETURN
  echo "image: debootstrap minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || { tail -30 "$dir.log" >&2; exit 1; }
  rm -f "$dir.log"
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [ -z "$security" ] || echo "deb $security bookworm-security main"
  } >"$dir/etc/apt/sources.list"
  install -m 0755 "$node_bin" "$dir/usr/local/bin/node"
  # As the official image does (its Dockerfile: groupadd --gid 1000 node && useradd --uid 1000 ...).
  chroot "$dir" groupadd --gid 1000 node
  chroot "$dir" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$dir" /usr/local/bin/node -e 'process.stdout.write(`image: node ${process.version} runs in the base\n`)'
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$tag" >/dev/null
}

start_dockerd

NODE_VERSION=$(node -p 'process.versions.node')
BASE=${NODE_IMAGE:-composition-node-base:$NODE_VERSION-bookworm-slim}
if docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "image: base $BASE cached"
else
  t0=$(date +%s)
  build_base "$BASE"
  echo "image: base $BASE built in $(( $(date +%s) - t0 )) s"
fi
docker run --rm "$BASE" sh -c 'node -v && id node' | sed 's/^/image: base: /'

npm run --silent build:renderer
t0=$(date +%s)
log=$(mktemp)
docker build --build-arg "NODE_IMAGE=$BASE" -f container/Dockerfile -t "$IMAGE" . 2>&1 | tee "$log"
echo "image: $IMAGE built in $(( $(date +%s) - t0 )) s"
grep -E 'Sending build context|transferring context' "$log" | tail -1 | sed 's/^/image: context: /'
rm -f "$log"
docker image inspect -f 'image: {{.RepoTags}} size {{.Size}} bytes' "$IMAGE"
