#!/usr/bin/env bash
# Puts the socket.io-client browser bundle (dist/socket.io.min.js and its map)
# into OUT/node_modules/socket.io-client/dist, where deploy/apps/demo.json's
# second static mount expects it: the version and sha512 integrity pinned in
# package-lock.json, fetched from the npm registry and verified. For the image
# build, which has no npm: the copy `npm ci` (deploy/setup.sh) left in
# node_modules when the build context has it and its version is the locked
# one, else the registry's tarball.
#
# Usage: deploy/docker/fetch-client-bundle.sh OUT
set -euo pipefail
out=${1:?usage: $0 OUT}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lock="$repo/package-lock.json"

# the "node_modules/socket.io-client" entry: its version and integrity
entry=$(sed -n '/"node_modules\/socket.io-client": {/,/}/p' "$lock")
version=$(sed -nE 's/.*"version": "([^"]+)".*/\1/p' <<<"$entry" | head -n1)
integrity=$(sed -nE 's/.*"integrity": "sha512-([^"]+)".*/\1/p' <<<"$entry" | head -n1)
[[ -n "$version" && -n "$integrity" ]] || { echo "fetch-client-bundle: no socket.io-client in $lock" >&2; exit 1; }

dest="$out/node_modules/socket.io-client/dist"
local_pkg="$repo/node_modules/socket.io-client"
if [[ -f "$local_pkg/dist/socket.io.min.js" ]] &&
   grep -q "\"version\": \"$version\"" "$local_pkg/package.json" 2>/dev/null; then
  # `npm ci` already fetched and verified this very version (the build
  # context lets these two files through .dockerignore)
  mkdir -p "$dest"
  cp "$local_pkg/dist/socket.io.min.js" "$dest/"
  [[ -f "$local_pkg/dist/socket.io.min.js.map" ]] && cp "$local_pkg/dist/socket.io.min.js.map" "$dest/"
  echo "fetch-client-bundle: socket.io-client $version from node_modules"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="https://registry.npmjs.org/socket.io-client/-/socket.io-client-$version.tgz"
curl -fsSL --retry 3 -o "$tmp/pkg.tgz" "$url"
got=$(openssl dgst -sha512 -binary "$tmp/pkg.tgz" | base64 -w0)
[[ "$got" == "$integrity" ]] || { echo "fetch-client-bundle: $url does not match package-lock.json's integrity" >&2; exit 1; }
tar -xzf "$tmp/pkg.tgz" -C "$tmp" package/dist/socket.io.min.js package/dist/socket.io.min.js.map
mkdir -p "$dest"
cp "$tmp/package/dist/socket.io.min.js" "$tmp/package/dist/socket.io.min.js.map" "$dest/"
echo "fetch-client-bundle: socket.io-client $version (sha512 verified)"
