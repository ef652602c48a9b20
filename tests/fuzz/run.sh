#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time.
#
# Why a script and not meson: libFuzzer needs clang with
# -fsanitize=fuzzer, while the main build uses the system compiler; keeping
# the fuzz build separate lets the unit build stay on gcc.
#
# Seeds come from tests/fuzz/corpus/<target>/ (committed, read only); what
# libFuzzer discovers goes to build/fuzz/corpus-<target>/, which later runs
# reuse.  Prints one line per target, "fuzz <name>: ok|FAIL", and exits
# non-zero when any target fails to build or finds a crash.
#
# Usage: tests/fuzz/run.sh [seconds-per-target]   (default 20)
set -u

cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-20}}"
OUT=build/fuzz
TARGETS="fuzz_sio_parse fuzz_eio_payload fuzz_msgpack"
SOURCES="common/sbuf.c common/frame.c broker/eio_codec.c broker/sio_codec.c broker/json_out.c adapter/msgpack_codec.c adapter/msgpack_check.c"

mkdir -p "$OUT"

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
    if ! can_build_fuzzer; then
        echo "fuzz: clang with libFuzzer is not available (see $OUT/apt.log)" >&2
        for t in $TARGETS; do echo "fuzz ${t#fuzz_}: FAIL"; done
        exit 1
    fi
fi

failed=0
for t in $TARGETS; do
    name="${t#fuzz_}"
    log="$OUT/$t.log"
    # shellcheck disable=SC2086
    if ! clang -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I. "tests/fuzz/$t.c" $SOURCES -ljansson -lmsgpackc -lm \
        -o "$OUT/$t" >"$log" 2>&1; then
        echo "fuzz $name: build failed, see $log" >&2
        echo "fuzz $name: FAIL"
        failed=1
        continue
    fi
    mkdir -p "$OUT/corpus-$t"
    if "$OUT/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/$t-" "$OUT/corpus-$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1; then
        echo "fuzz $name: ok"
    else
        echo "fuzz $name: crash or leak found, see $log" >&2
        echo "fuzz $name: FAIL"
        failed=1
    fi
done
exit $failed
