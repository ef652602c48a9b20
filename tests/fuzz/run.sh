#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time.
#
# Why a script and not meson: libFuzzer needs clang with
# -fsanitize=fuzzer, while the main build uses the system compiler; keeping
# the fuzz build separate lets the unit build stay on gcc.
#
# What gets built: every tests/fuzz/fuzz_*.c is a target, linked against the
# sources of meson's sio-common and sio-codec libraries, compiled once here
# with clang. The source lists are read from meson.build itself
# (`meson introspect meson.build --targets`), which needs no configured build
# dir and none of the broker's dependencies, so this works on a clean clone
# and never drifts from the meson build.
#
# Seeds come from tests/fuzz/corpus/<target>/ (committed, read only); what
# libFuzzer discovers goes to build/fuzz/corpus-<target>/, which later runs
# reuse.
#
# Output (stdout), the only format tests/run.sh parses:
#   fuzz <name>: ok|FAIL        one line per target
#   N passed, N failed          the last line
# Reasons for a failure go to stderr and to build/fuzz/<target>.log. Exits
# non-zero when any target fails to build or finds a crash.
#
# Usage: tests/fuzz/run.sh [seconds-per-target]   (default 20)
set -u

cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-20}}"
OUT=build/fuzz
CFLAGS=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -I.
        -fsanitize=address,undefined -fno-sanitize-recover=undefined)
LIBS=(-ljansson -lmsgpackc -lm)

TARGETS=()
for f in tests/fuzz/fuzz_*.c; do
    t="$(basename "$f" .c)"
    TARGETS+=("$t")
done

mkdir -p "$OUT"

passed=0
failed=0

summary() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}

# fail_all REASON: every target counts as failed (nothing could be built).
fail_all() {
    echo "fuzz: $1" >&2
    for t in "${TARGETS[@]}"; do
        echo "fuzz ${t#fuzz_}: FAIL"
        failed=$((failed + 1))
    done
    summary
}

# libFuzzer ships in clang's runtime package; install both when missing and
# we may (the project's machines run this as root).
can_build_fuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        >"$OUT/probe.c"
    clang -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" >/dev/null 2>&1
}

if ! can_build_fuzzer; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz: installing clang" >&2
        (apt-get install -y clang libclang-rt-dev || { apt-get update && apt-get install -y clang libclang-rt-dev; }) \
            >"$OUT/apt.log" 2>&1
    fi
    can_build_fuzzer || fail_all "clang with libFuzzer is not available (see $OUT/apt.log)"
fi

# The library sources, in meson's order: sio-common, then sio-codec.
lib_sources() {
    meson introspect meson.build --targets 2>"$OUT/introspect.log" | python3 -c '
import json, os, sys
want = ("sio-common", "sio-codec")
found = {}
for t in json.load(sys.stdin):
    if t["name"] in want:
        found[t["name"]] = [s for ts in t["target_sources"] for s in ts["sources"]]
missing = [n for n in want if not found.get(n)]
if missing:
    sys.exit("no sources for " + ", ".join(missing) + " in meson.build")
for n in want:
    for s in found[n]:
        print(os.path.relpath(s))
'
}

SOURCES=()
if ! command -v meson >/dev/null 2>&1; then
    fail_all "meson is needed to read the library source lists"
fi
while IFS= read -r s; do SOURCES+=("$s"); done < <(lib_sources)
((${#SOURCES[@]} > 0)) || fail_all "could not read the source lists (see $OUT/introspect.log)"

# The libraries, compiled once for all targets (instrumented for coverage
# with fuzzer-no-link, so libFuzzer sees their branches).
OBJ="$OUT/obj"
rm -rf "$OBJ" "$OUT/libfuzz-codec.a" "$OUT/lib.log"
mkdir -p "$OBJ"
objs=()
for s in "${SOURCES[@]}"; do
    o="$OBJ/$(echo "${s%.c}" | tr / _).o"
    if ! clang "${CFLAGS[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o" >>"$OUT/lib.log" 2>&1; then
        fail_all "$s does not build with clang (see $OUT/lib.log)"
    fi
    objs+=("$o")
done
ar rcs "$OUT/libfuzz-codec.a" "${objs[@]}" || fail_all "ar failed"

for t in "${TARGETS[@]}"; do
    name="${t#fuzz_}"
    log="$OUT/$t.log"
    if ! clang "${CFLAGS[@]}" -fsanitize=fuzzer "tests/fuzz/$t.c" "$OUT/libfuzz-codec.a" "${LIBS[@]}" \
        -o "$OUT/$t" >"$log" 2>&1; then
        echo "fuzz: $t does not build, see $log" >&2
        echo "fuzz $name: FAIL"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$OUT/corpus-$t"
    if "$OUT/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/$t-" "$OUT/corpus-$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1; then
        echo "fuzz $name: ok"
        passed=$((passed + 1))
    else
        echo "fuzz: $t found a crash or leak, see $log" >&2
        echo "fuzz $name: FAIL"
        failed=$((failed + 1))
    fi
done
summary
