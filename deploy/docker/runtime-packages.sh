#!/usr/bin/env bash
# Usage: runtime-packages.sh BINARY...
# Prints the Debian packages owning the shared libraries the binaries load
# (libc6 left out: every image has it), one per line. Fails if a library
# belongs to no package, so the runtime image can never miss one silently.
set -euo pipefail

owner() {
  # dpkg knows a file by the path its package shipped; with merged /usr that
  # may be /lib/... or /usr/lib/..., and ldd may print either or a symlink.
  local p=$1 real alt
  real=$(readlink -f "$p")
  for alt in "$p" "$real" "${p/#\/usr\/lib\//\/lib\/}" "${p/#\/lib\//\/usr\/lib\/}" \
             "${real/#\/usr\/lib\//\/lib\/}" "${real/#\/lib\//\/usr\/lib\/}"; do
    dpkg -S "$alt" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
  done
  echo "runtime-packages: no package owns $p" >&2
  return 1
}

libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
for l in $libs; do owner "$l"; done | sort -u | grep -vx libc6
