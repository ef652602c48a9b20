#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build and test sio-broker.
#
# Idempotent: every step checks whether it is already done, so tests/run.sh and
# deploy/up.sh call it unconditionally and a warm machine pays almost nothing.
#
#   deploy/setup.sh            system packages + libwebsockets + npm packages
#   deploy/setup.sh --no-npm   skip npm (container images that only run the broker)
#
# Only Debian's archive and the npm registry are contacted.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$REPO/build/deps"

WITH_NPM=1
for arg in "$@"; do
  case "$arg" in
    --no-npm) WITH_NPM=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[setup] $*" >&2; }

# Temp dirs to remove however the script ends (set -e exits skip RETURN traps).
TMP_DIRS=()
cleanup() { ((${#TMP_DIRS[@]})) && rm -rf "${TMP_DIRS[@]}"; return 0; }
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------
# libcap-dev is listed on purpose: lws's cmake enables libcap support whenever
# it finds the header, so we make that always true rather than machine-dependent
# (the broker links -lcap to match).
PKGS=(build-essential meson ninja-build pkg-config cmake
      libevent-dev libssl-dev zlib1g-dev libcap-dev
      libhiredis-dev libmsgpack-dev libjansson-dev libjwt-dev uthash-dev
      libcmocka-dev redis-server haproxy dpkg-dev)
# Node 20 + npm may come from elsewhere (e.g. preinstalled); only fall back to
# Debian's if there is no node at all. clang builds the libFuzzer targets;
# libFuzzer itself is in libclang-rt-dev, which clang only *recommends*, and we
# install without recommends.
if ((WITH_NPM)) && ! command -v node >/dev/null 2>&1; then PKGS+=(nodejs npm); fi
# Test machines (with npm) also get the browser the demo page is tested in
# (driven by playwright-core) and promtool, which checks /metrics.
if ((WITH_NPM)); then PKGS+=(chromium prometheus); fi
if ! command -v clang >/dev/null 2>&1; then PKGS+=(clang); fi
PKGS+=(libclang-rt-dev)

missing=()
for p in "${PKGS[@]}"; do
  st="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$st" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] || { log "missing packages (${missing[*]}); run as root"; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

# ---------------------------------------------------------------------------
# 2. libwebsockets 4.1.6 with libevent, static, into build/deps/lws
# ---------------------------------------------------------------------------
# Debian's binary libwebsockets lacks libevent support, so we rebuild it from
# Debian's own source package. The stamp records everything that changes the
# result; a matching stamp plus the installed .a means nothing to do.
LWS_UPSTREAM=4.1.6
LWS_DEBVER=4.1.6-3                      # bookworm's version; fallback below
LWS_PREFIX="$DEPS/lws"
LWS_SRCROOT="$DEPS/src"
LWS_SRC="$LWS_SRCROOT/libwebsockets-$LWS_UPSTREAM"
LWS_BUILD="$DEPS/lws-build"
LWS_STAMP="$DEPS/lws.stamp"
LWS_CMAKE_FLAGS=(
  -DLWS_WITH_LIBEVENT=ON
  -DLWS_WITH_EVLIB_PLUGINS=OFF          # link the libevent glue in, no dlopen
  -DLWS_WITH_STATIC=ON
  -DLWS_WITH_SHARED=OFF
  -DDISABLE_WERROR=ON                   # 4.1.6 predates gcc 12's warnings
  -DLWS_WITHOUT_TESTAPPS=ON
  -DLWS_WITH_MINIMAL_EXAMPLES=OFF
  -DLWS_WITH_HTTP2=OFF
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
)
# Our patches to lws (deploy/lws-patches/, each one explained in its file),
# applied to Debian's source before building; their digest is in the stamp.
LWS_PATCHES=("$REPO/deploy/lws-patches/"*.patch)
LWS_PATCH_DIGEST="$(cat "${LWS_PATCHES[@]}" | sha256sum | cut -c1-16)"
# The prefix is part of the stamp via the flags, so moving the repo rebuilds.
LWS_STAMP_TEXT="libwebsockets $LWS_UPSTREAM ${LWS_CMAKE_FLAGS[*]} -DCMAKE_INSTALL_PREFIX=$LWS_PREFIX patches:$LWS_PATCH_DIGEST"

# Applies each patch unless the source has it already (an earlier run).
lws_apply_patches() {
  local p
  for p in "${LWS_PATCHES[@]}"; do
    if patch -d "$LWS_SRC" -p1 -R --dry-run -s -f < "$p" > /dev/null 2>&1; then continue; fi
    log "patching libwebsockets: $(basename "$p")"
    patch -d "$LWS_SRC" -p1 -s -f --no-backup-if-mismatch < "$p" ||
      { log "FATAL: $(basename "$p") does not apply"; return 1; }
  done
}

# Prints the downloaded .dsc (any Debian revision of LWS_UPSTREAM), or nothing.
lws_find_dsc() {
  local f=("$LWS_SRCROOT"/libwebsockets_"$LWS_UPSTREAM"-*.dsc)
  if [[ -e "${f[-1]}" ]]; then echo "${f[-1]}"; fi
}

lws_fetch_source() {
  # Already downloaded earlier? Then stay offline.
  local dsc
  dsc="$(lws_find_dsc)"
  if [[ -z "$dsc" ]]; then
    # A private apt configuration with only a deb-src line, so the machine's own
    # sources and package lists are neither read for this nor modified.
    local apt_tmp
    apt_tmp="$(mktemp -d)"
    TMP_DIRS+=("$apt_tmp")
    mkdir -p "$apt_tmp/lists/partial" "$apt_tmp/cache/archives/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
      > "$apt_tmp/sources.list"
    local apt=(apt-get -q
      -o Dir::Etc::SourceList="$apt_tmp/sources.list"
      -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$apt_tmp/lists"
      -o Dir::Cache="$apt_tmp/cache"
      -o APT::Sandbox::User=root)       # the _apt user cannot write our dirs
    log "fetching libwebsockets source package from Debian"
    "${apt[@]}" update
    mkdir -p "$LWS_SRCROOT"
    # A bookworm point release could replace -3 by -3+deb12uN; accept any
    # Debian revision of the same upstream version.
    (cd "$LWS_SRCROOT" &&
      { "${apt[@]}" source --download-only "libwebsockets=$LWS_DEBVER" ||
        "${apt[@]}" source --download-only libwebsockets; })
    dsc="$(lws_find_dsc)"
    [[ -n "$dsc" ]] || { log "no libwebsockets $LWS_UPSTREAM source package found"; return 1; }
  fi
  if [[ ! -f "$LWS_SRC/CMakeLists.txt" ]]; then
    log "extracting $(basename "$dsc")"
    rm -rf "$LWS_SRC" "$LWS_SRC.tmp"
    # Extract to a temp name first so an interrupted run never leaves a
    # half-populated source tree that would later look complete. dpkg-source
    # checks the tarballs against the .dsc's checksums; it warns that it cannot
    # verify the uploader's signature (debian-keyring is not installed), which
    # is expected: apt already verified the .dsc via the archive's signed index.
    (cd "$LWS_SRCROOT" && dpkg-source -x "$(basename "$dsc")" "$(basename "$LWS_SRC").tmp")
    mv "$LWS_SRC.tmp" "$LWS_SRC"
  fi
}

# Links and runs a minimal lws-on-libevent program against the installed
# library, with the same link line meson uses; catches missing -lcap and the like.
lws_smoke_check() {
  local d="$LWS_BUILD/smoke"
  mkdir -p "$d"
  cat > "$d/smoke.c" <<'EOF'
#include <libwebsockets.h>
#include <event2/event.h>
#include <string.h>
int main(void) {
  struct event_base *base = event_base_new();
  void *loops[] = { base };
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.options = LWS_SERVER_OPTION_LIBEVENT;
  info.foreign_loops = loops;
  lws_set_log_level(LLL_ERR, NULL);
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) return 1;
  lws_context_destroy(ctx);
  event_base_free(base);
  return 0;
}
EOF
  cc -o "$d/smoke" "$d/smoke.c" -I"$LWS_PREFIX/include" \
     "$LWS_PREFIX/lib/libwebsockets.a" -levent -lssl -lcrypto -lz -lcap -lpthread &&
    "$d/smoke"
}

lws_build() {
  if [[ -f "$LWS_PREFIX/lib/libwebsockets.a" && -f "$LWS_STAMP" &&
        "$(cat "$LWS_STAMP")" == "$LWS_STAMP_TEXT" ]]; then
    log "libwebsockets $LWS_UPSTREAM: up to date ($LWS_PREFIX)"
    return 0
  fi
  lws_fetch_source
  lws_apply_patches || return 1
  log "building libwebsockets $LWS_UPSTREAM (libevent, static)"
  local t0=$SECONDS
  rm -rf "$LWS_BUILD" "$LWS_PREFIX" "$LWS_STAMP"
  mkdir -p "$LWS_BUILD"
  cmake -S "$LWS_SRC" -B "$LWS_BUILD" "${LWS_CMAKE_FLAGS[@]}" \
        -DCMAKE_INSTALL_PREFIX="$LWS_PREFIX" > "$LWS_BUILD/cmake.log" 2>&1 ||
    { tail -n 50 "$LWS_BUILD/cmake.log" >&2; return 1; }
  make -C "$LWS_BUILD" -j"$(nproc)" > "$LWS_BUILD/make.log" 2>&1 ||
    { tail -n 50 "$LWS_BUILD/make.log" >&2; return 1; }
  make -C "$LWS_BUILD" install > "$LWS_BUILD/install.log" 2>&1 ||
    { tail -n 50 "$LWS_BUILD/install.log" >&2; return 1; }

  local cfg="$LWS_PREFIX/include/lws_config.h"
  grep -q '^#define LWS_WITH_LIBEVENT' "$cfg" ||
    { log "FATAL: $cfg lacks LWS_WITH_LIBEVENT"; return 1; }
  grep -q '^#define LWS_HAVE_LIBCAP' "$cfg" ||
    { log "FATAL: lws did not pick up libcap although libcap-dev is installed"; return 1; }
  lws_smoke_check || { log "FATAL: lws link/run smoke check failed"; return 1; }

  echo "$LWS_STAMP_TEXT" > "$LWS_STAMP"
  log "libwebsockets built in $((SECONDS - t0)) s"
}
lws_build

# ---------------------------------------------------------------------------
# 3. npm packages for the integration tests (real socket.io peers)
# ---------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install; if it is older
# than the committed lock file, the lock changed since the last install.
if ((WITH_NPM)); then
  if [[ ! -f "$REPO/node_modules/.package-lock.json" ||
        "$REPO/package-lock.json" -nt "$REPO/node_modules/.package-lock.json" ]]; then
    log "npm ci"
    (cd "$REPO" && npm ci --no-audit --no-fund)
    touch "$REPO/node_modules/.package-lock.json"
  else
    log "node_modules: up to date"
  fi
fi

log "done"
