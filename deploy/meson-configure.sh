#!/usr/bin/env bash
# Usage: deploy/meson-configure.sh BUILDDIR [meson setup options...]
#
# Configures BUILDDIR, reusing it when possible so incremental builds stay
# incremental. A build dir that cannot be reconfigured (e.g. made by another
# meson version) is replaced, but only after a scratch configure proves that a
# fresh one works: when the fault is in meson.build itself, the existing dir
# (which someone may be using) is left alone and the error is reported.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

dir=${1:?usage: $0 BUILDDIR [meson options...]}
shift

if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
  rm -rf "$dir"                       # absent, or a leftover that meson can't use
  exec meson setup "$dir" "$@"
fi

meson setup --reconfigure "$dir" "$@" && exit 0

probe="$dir.probe"
rm -rf "$probe"
if meson setup "$probe" "$@" >/dev/null; then
  rm -rf "$probe"
  echo "meson-configure: $dir could not be reconfigured; recreating it" >&2
  rm -rf "$dir"
  exec meson setup "$dir" "$@"
fi
rm -rf "$probe"
echo "meson-configure: configuring $dir failed (see the errors above); left it as it was" >&2
exit 1
