#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   setup -> sanitizer build -> unit (cmocka via meson) -> fuzz smoke -> integration (node)
#   -> docker (docker-compose.yml for real: tests/docker/run.sh)
#
# Every stage runs and is accounted for even when an earlier one fails (except
# where it cannot: no build, no tests), so one run shows all breakage. The last
# line is always "N passed, N failed"; the exit status is non-zero if anything
# failed, and a stage that could not run (setup, configure, build, a crashed or
# timed-out runner) counts as one failure.
#
# Knobs (environment): SIO_TIMEOUT_{SETUP,BUILD,UNIT,FUZZ,INTEGRATION} in
# seconds per stage, SIO_TEST_TIMEOUT_MS per node test.
set -uo pipefail   # deliberately no -e: failures are counted, not fatal

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 1

BUILD=build/test
LOGS="$REPO/build/test-logs"
mkdir -p "$LOGS"

# Whole-stage time limits keep a hung stage from eating CI's 90 minutes.
T_SETUP=${SIO_TIMEOUT_SETUP:-1200}
T_BUILD=${SIO_TIMEOUT_BUILD:-900}
T_UNIT=${SIO_TIMEOUT_UNIT:-600}
T_FUZZ=${SIO_TIMEOUT_FUZZ:-900}
T_INTEGRATION=${SIO_TIMEOUT_INTEGRATION:-2400}
T_DOCKER=${SIO_TIMEOUT_DOCKER:-1500}
TEST_TIMEOUT_MS=${SIO_TEST_TIMEOUT_MS:-120000}

PASSED=0
FAILED=0
SUMMARY=()

banner() { printf '\n===== %s =====\n' "$*"; }

# record STAGE PASSES FAILS [NOTE]
record() {
  PASSED=$((PASSED + $2))
  FAILED=$((FAILED + $3))
  SUMMARY+=("$(printf '%-12s %5d passed %5d failed  %s' "$1" "$2" "$3" "${4:-}")")
}

# Explains timeout(1)'s exit codes, which otherwise look like ordinary failures.
why() {
  case "$1" in
    124|137) echo "timed out" ;;
    *) echo "exit status $1" ;;
  esac
}

skipped() { SUMMARY+=("$(printf '%-12s skipped (%s)' "$1" "$2")"); }

finish() {
  banner "summary"
  printf '%s\n' "${SUMMARY[@]}"
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
  exit $?
}

# ---------------------------------------------------------------------------
banner "setup (deploy/setup.sh)"
timeout -k 30 "$T_SETUP" "$REPO/deploy/setup.sh"
rc=$?
if ((rc != 0)); then
  record setup 0 1 "deploy/setup.sh failed ($(why "$rc")); nothing else can run"
  finish
fi

# ---------------------------------------------------------------------------
banner "configure ($BUILD, ASan+UBSan)"
# shellcheck disable=SC2054  # the commas are meson's list syntax
MESON_OPTS=(-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug)
configure() { "$REPO/deploy/meson-configure.sh" "$BUILD" "${MESON_OPTS[@]}"; }
BUILD_OK=0
if configure; then
  banner "build (ninja -C $BUILD)"
  # -k 0: report every compile error in one go, not just the first.
  timeout -k 30 "$T_BUILD" ninja -C "$BUILD" -k 0
  rc=$?
  if ((rc == 0)); then BUILD_OK=1; else record build 0 1 "ninja failed ($(why "$rc"))"; fi
else
  record configure 0 1 "meson setup failed"
fi

# ---------------------------------------------------------------------------
# Unit tests. meson counts one result per executable; each executable is a
# cmocka runner with many cases, so the per-case counts come from cmocka's
# own summary lines in the saved test log. An executable that died before
# printing them (sanitizer abort, crash) counts its OK cases plus one failure.
count_unit() {
  python3 - "$1" <<'EOF'
import json, re, sys
p = f = s = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
n = 0
for line in lines:
    if not line.strip():
        continue
    t = json.loads(line)
    n += 1
    out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
    ok = t.get("result") in ("OK", "EXPECTEDFAIL")
    cp = [int(x) for x in re.findall(r"^\[  PASSED  \] (\d+) test\(s\)\.", out, re.M)]
    cf = [int(x) for x in re.findall(r"^\[  FAILED  \] (\d+) test\(s\), listed below", out, re.M)]
    cs = [int(x) for x in re.findall(r"^\[  SKIPPED \] (\d+) test\(s\), listed below", out, re.M)]
    if cp or cf:
        p += sum(cp); f += sum(cf); s += sum(cs)
        if not ok and not cf:      # e.g. leak report after cmocka's summary
            f += 1
    elif t.get("result") == "SKIP":
        s += 1
    else:
        p += len(re.findall(r"^\[       OK \] ", out, re.M))
        if not ok:
            f += 1
        elif not re.search(r"^\[       OK \] ", out, re.M):
            p += 1                 # a passing non-cmocka test
print(n, p, f, s)
EOF
}

if ((BUILD_OK)); then
  banner "unit tests (meson test --suite unit)"
  rm -f "$BUILD/meson-logs/testlog.json"
  # cmocka's plain output is what count_unit parses.
  env -u CMOCKA_MESSAGE_OUTPUT -u CMOCKA_XML_FILE \
    timeout -k 30 "$T_UNIT" meson test -C "$BUILD" --suite unit --no-rebuild --print-errorlogs
  rc=$?
  read -r n p f s < <(count_unit "$BUILD/meson-logs/testlog.json")
  note="$n executables"; ((s)) && note+=", $s skipped"
  if ((n == 0 && rc != 0)); then
    record unit 0 1 "meson test failed to run ($(why "$rc"))"
  else
    ((rc != 0 && f == 0)) && { f=1; note+=", meson test $(why "$rc")"; }
    ((n == 0)) && note="no unit tests defined"
    record unit "$p" "$f" "$note"
  fi
else
  skipped unit "no build"
fi

# ---------------------------------------------------------------------------
# Fuzz smoke runs are owned by tests/fuzz/run.sh (it builds its own clang
# targets, so it does not depend on the build above). It prints one
# "fuzz <target>: ok|FAIL" line per target and, as its last line,
# "N passed, N failed"; the counts come from that last line only. Without it
# (a crash, a timeout, an older script) the stage counts as one failure.
if [[ -f tests/fuzz/run.sh ]]; then
  banner "fuzz smoke (tests/fuzz/run.sh)"
  timeout -k 30 "$T_FUZZ" bash tests/fuzz/run.sh 2>&1 | tee "$LOGS/fuzz.log"
  rc=${PIPESTATUS[0]}
  line="$(grep -v '^[[:space:]]*$' "$LOGS/fuzz.log" | tail -n1)"
  if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
    note=""
    ((rc != 0 && f == 0)) && { f=1; note="run.sh $(why "$rc")"; }
    record fuzz "$p" "$f" "$note"
  else
    record fuzz 0 1 "run.sh printed no final \"N passed, N failed\" line ($(why "$rc"))"
  fi
else
  skipped fuzz "no tests/fuzz/run.sh"
fi

# ---------------------------------------------------------------------------
# Integration tests: node's runner against the sanitizer build of the broker.
# Human-readable spec output goes to the terminal; TAP goes to a file whose
# closing "# pass/# fail/# cancelled" lines are counted. Test files must be
# named *.test.js / *.test.mjs (node --test's pattern for a directory).
if ((BUILD_OK)) && [[ -d tests/integration ]]; then
  banner "integration tests (node --test tests/integration/)"
  TAP="$LOGS/integration.tap"
  rm -f "$TAP"
  SIO_BROKER_BIN="$REPO/$BUILD/sio-broker" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout -k 30 "$T_INTEGRATION" node --test --test-concurrency=1 \
      --test-timeout="$TEST_TIMEOUT_MS" \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$TAP" \
      tests/integration/
  rc=$?
  # The runner's own summary is the unindented block at the end of the TAP.
  tapnum() { grep -E "^# $1 [0-9]+$" "$TAP" 2>/dev/null | tail -n1 | awk '{print $3}'; }
  p="$(tapnum pass)"; f="$(tapnum fail)"; c="$(tapnum cancelled)"; t="$(tapnum tests)"
  if [[ -z "$p" || -z "$f" ]]; then
    record integration 0 1 "node --test gave no summary ($(why "$rc"))"
  else
    f=$((f + ${c:-0}))
    note="${c:-0} cancelled"
    ((rc != 0 && f == 0)) && { f=1; note+=", node --test $(why "$rc")"; }
    ((${t:-0} == 0)) && note="no integration tests found"
    record integration "$p" "$f" "$note"
  fi
elif ((BUILD_OK)); then
  skipped integration "no tests/integration/"
else
  skipped integration "no build"
fi

# ---------------------------------------------------------------------------
# The Docker stage: docker-compose build/up of the real cluster (Redis, three
# brokers, HAProxy), smoke checks through HAProxy, one broker stopped, down.
# It starts dockerd itself and restores the host afterwards. It counts its own
# checks and ends with "docker: N passed, N failed[, note]". SIO_SKIP_DOCKER=1
# (machines without the privileges) makes it say so here, never pass silently.
if [[ -f tests/docker/run.sh ]]; then
  banner "docker (tests/docker/run.sh)"
  timeout -k 30 "$T_DOCKER" bash tests/docker/run.sh 2>&1 | tee "$LOGS/docker.log"
  rc=${PIPESTATUS[0]}
  line="$(grep -E '^docker: [0-9]+ passed, [0-9]+ failed' "$LOGS/docker.log" | tail -n1)"
  if [[ -n "$line" ]]; then
    read -r p f < <(sed -E 's/^docker: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line")
    note="$(sed -nE 's/^docker: [0-9]+ passed, [0-9]+ failed, (.*)$/\1/p' <<<"$line")"
    ((rc != 0 && f == 0)) && { f=1; note+=" run.sh $(why "$rc")"; }
    [[ "${SIO_SKIP_DOCKER:-}" == 1 ]] && note="SKIPPED by SIO_SKIP_DOCKER=1"
    record docker "$p" "$f" "$note"
  else
    record docker 0 1 "tests/docker/run.sh printed no summary ($(why "$rc"))"
  fi
else
  skipped docker "no tests/docker/run.sh"
fi

finish
