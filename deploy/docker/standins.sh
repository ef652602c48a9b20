#!/usr/bin/env bash
# Usage: deploy/docker/standins.sh [--cache DIR]
#
# Makes sure the official images docker-compose.yml names are present:
# debian:bookworm-slim (the base of deploy/Dockerfile), redis:7, haproxy:2.6.
# Each one already present is kept; otherwise it is pulled; if the pull fails
# (a machine that reaches Debian's archive but no image registry), a
# stand-in is built under the official name:
#   debian:bookworm-slim  debootstrap --variant=minbase bookworm, imported
#                         (the root tarball is cached in DIR, default
#                         build/docker-cache, so reruns skip debootstrap)
#   redis:7, haproxy:2.6  deploy/docker/{redis,haproxy}/Dockerfile, FROM the
#                         above, with Debian's packages, behaving like the
#                         official images where compose relies on them.
# The compose file stays exactly what a user with Docker Hub runs.
#
# Environment: DOCKER (default "docker"; e.g. "docker -H unix:///x.sock"),
# SIO_PULL_TIMEOUT seconds per pull attempt (default 60).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="$REPO/build/docker-cache"
while (($#)); do
  case "$1" in
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "standins.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
read -r -a DOCKER <<< "${DOCKER:-docker}"
PULL_TIMEOUT=${SIO_PULL_TIMEOUT:-60}

log() { echo "[standins] $*" >&2; }

have() { "${DOCKER[@]}" image inspect "$1" >/dev/null 2>&1; }

pull() {
  log "pulling $1"
  timeout -k 5 "$PULL_TIMEOUT" "${DOCKER[@]}" pull -q "$1" >/dev/null 2>&1
}

debian_rootfs() {
  local tar="$CACHE/bookworm-minbase.tar"
  if [[ ! -s "$tar" ]]; then
    command -v debootstrap >/dev/null ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2
    mkdir -p "$CACHE"
    local dir
    dir="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    log "debootstrap --variant=minbase bookworm (cached as $tar)"
    if ! debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian > "$CACHE/debootstrap.log" 2>&1; then
      tail -n 20 "$CACHE/debootstrap.log" >&2
      rm -rf "$dir"
      return 1
    fi
    # What the official slim image leaves out: package lists, caches, docs.
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
           "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/*
    # The archive's sources as the official image has them (deb822 form).
    rm -f "$dir/etc/apt/sources.list"
    cat > "$dir/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    tar --numeric-owner -C "$dir" -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  log "importing debian:bookworm-slim from $tar"
  "${DOCKER[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tar" debian:bookworm-slim >/dev/null
}

ensure() {
  local image=$1 how=$2
  if have "$image"; then log "$image: present"; return 0; fi
  if pull "$image"; then log "$image: pulled"; return 0; fi
  log "$image: no registry reachable; building a stand-in"
  case "$how" in
    debian) debian_rootfs ;;
    *) "${DOCKER[@]}" build -q -t "$image" "$HERE/$how" >/dev/null ;;
  esac
  log "$image: stand-in built"
}

ensure debian:bookworm-slim debian
ensure redis:7 redis
ensure haproxy:2.6 haproxy
