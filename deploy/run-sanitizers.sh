#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the tests (docs/TESTING.md), run by
# deploy/run-tests.sh after the normal build and tests (on by default;
# PARALLAX_SANITIZERS=0 skips it). Two clang builds, lean enough for CI:
#
#   asan  build-asan: ASan + UBSan (-fno-sanitize-recover) for every target;
#         runs every unit test and a chosen handful of integration tests
#         (ASAN_INTEGRATION below: the ones that stress the delivery path
#         and untrusted input) under ctest label asan. Reports of the
#         collector, probe and CLI processes the integration tests start are
#         collected too (ASAN_OPTIONS log_path) and fail the stage.
#         PARALLAX_ASAN_INTEGRATION=all builds and runs every integration test.
#   tsan  build-tsan: TSan; runs the threaded unit tests (TSAN_TESTS below,
#         label tsan): the store's writer thread (store_test), live state,
#         metrics, common.
#         collector_threads_test (gRPC streams, evaluator, reloads at once)
#         is left out: Debian's gRPC is not instrumented and TSan reports
#         ~260 races per run inside its message transport (fuzz/tsan.supp
#         has the first ones found and why); it needs a TSan-built gRPC.
#   fuzz  the libFuzzer targets of fuzz/ (built in build-asan, with ASan and
#         UBSan), each for PARALLAX_FUZZ_SECONDS from its seed corpus
#         (label fuzz).
#
# Usage: deploy/run-sanitizers.sh [asan] [tsan] [fuzz] [--build-only|--tests-only]
#   (no stage given: all three). run-tests.sh builds (--build-only, niced)
#   while the normal tests run, then runs the tests (--tests-only).
# Environment: JOBS (default nproc), PARALLAX_FUZZ_SECONDS (default 25),
#   PARALLAX_ASAN_INTEGRATION (default: the list below; "all": every one),
#   ASAN_BUILD_DIR / TSAN_BUILD_DIR (default build-asan / build-tsan).
# Uses ccache when it is installed (CCACHE_DIR etc. as usual).
# Prints the time of each step and the CPU seconds of the whole stage.
# Needs clang and libclang-rt-14-dev (deploy/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
ASAN_DIR=${ASAN_BUILD_DIR:-build-asan}
TSAN_DIR=${TSAN_BUILD_DIR:-build-tsan}
FUZZ_SECONDS=${PARALLAX_FUZZ_SECONDS:-25}
# Integration tests of the asan run (tests/integration): kill -9 of the
# collector, storage failures, the probe's spool (outages, kill -9 of the
# probe, out of descriptors), malformed input from a fake probe.
ASAN_INTEGRATION=${PARALLAX_ASAN_INTEGRATION:-reliability_test store_failure_test probe_spool_test bad_input_test}
# The threaded tests of the tsan run: the store's writer thread, live state,
# metrics, common. (probe/transport/transport_test, the spool's writer
# thread, is a candidate: not yet run under TSan.)
TSAN_TESTS=${PARALLAX_TSAN_TESTS:-collector/store/store_test collector/state/state_test collector/metrics/metrics_test common/common_test}
do_build=true do_tests=true
stages=()
for s in "$@"; do
  case "$s" in
    asan | tsan | fuzz) stages+=("$s") ;;
    --build-only) do_tests=false ;;
    --tests-only) do_build=false ;;
    *) echo "run-sanitizers: unknown argument \"$s\" (asan, tsan, fuzz, --build-only, --tests-only)" >&2; exit 2 ;;
  esac
done
((${#stages[@]})) || stages=(asan tsan fuzz)
want() { [[ " ${stages[*]} " == *" $1 "* ]]; }
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run-sanitizers: $tool not found (deploy/install-deps.sh --test installs it)" >&2; exit 2; }
done

# -O0 and line tables only: ~40% less compile time than -O2 -g (measured:
# 6.5 vs 11.3 CPU s for probe/scheduler/scheduler.cc), and every sanitizer
# check is the same; stack traces keep file:line.
LEAN_FLAGS=${PARALLAX_SANITIZER_FLAGS:--O0 -gline-tables-only -DNDEBUG}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# lld: an ASan executable links in a third of the CPU of GNU ld (measured
# 0.84 vs 2.4 CPU s for bad_input_test), and this stage links ~150 of them.
command -v ld.lld >/dev/null && launcher+=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
configure() {  # dir sanitizers extra-cmake-args...
  local dir=$1 san=$2
  shift 2
  # Unity build: about half the compile CPU of one file per unit (CMakeLists.txt).
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=SanitizerLean -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_CXX_FLAGS_SANITIZERLEAN="$LEAN_FLAGS" -DCMAKE_C_FLAGS_SANITIZERLEAN="$LEAN_FLAGS" \
    -DPARALLAX_SANITIZE="$san" -DPARALLAX_BUILD_BENCH=OFF "${launcher[@]}" "$@" >/dev/null
}
# The test and fuzz executables of a configured build dir, except the lab
# and observability ones (they run only in the normal build).
test_targets() {
  ninja -C "$1" -t targets all | sed -n 's/^\([^: ]*\/[^: ]*_\(test\|fuzzer\|replay\)\): .*/\1/p' |
    grep -vE '^tests/(labtest|observability)/' | grep -vE "${2:-^$}" || true
}
# Fails if a sanitizer wrote a report into $1 (from any process).
check_reports() {
  local dir=$1 what=$2
  if compgen -G "$dir/*" >/dev/null; then
    echo "run-sanitizers: $what reports:" >&2
    for f in "$dir"/*; do echo "--- $f" >&2; cat "$f" >&2; done
    return 1
  fi
}

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
stage_start=$(date +%s)
first_start=$stage_start
timing=()
lap() { local now; now=$(date +%s); timing+=("$1 $((now - stage_start)) s"); stage_start=$now; }

if $do_build && { want asan || want fuzz; }; then
  fuzz_opt=OFF
  want fuzz && fuzz_opt=ON
  configure "$ASAN_DIR" "address,undefined" -DPARALLAX_FUZZ=$fuzz_opt \
    -DPARALLAX_FUZZ_SECONDS="$FUZZ_SECONDS"
  # Unit tests and fuzzers, plus the chosen integration tests (asan only).
  skip='^tests/'
  want asan || skip='_test$'
  [[ "$ASAN_INTEGRATION" == all ]] && want asan && skip='^$'
  targets=$(test_targets "$ASAN_DIR" "$skip")
  if want asan && [[ "$ASAN_INTEGRATION" != all ]]; then
    for t in $ASAN_INTEGRATION; do targets+=" tests/integration/$t"; done
  fi
  # shellcheck disable=SC2086
  nice ninja -C "$ASAN_DIR" -j "$JOBS" $targets
  lap "asan build"
fi
if $do_build && want tsan; then
  configure "$TSAN_DIR" thread
  # shellcheck disable=SC2086
  nice ninja -C "$TSAN_DIR" -j "$JOBS" $TSAN_TESTS
  lap "tsan build"
fi
if $do_tests && want asan; then
  reports=$ROOT/$ASAN_DIR/sanitizer-reports
  rm -rf "$reports" && mkdir -p "$reports"
  # log_path: reports of every process (also the collector and probe the
  # integration tests start) land in files checked below. One slot more than
  # cores: the integration tests mostly wait (75% CPU at -j JOBS).
  ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan" \
    LSAN_OPTIONS="suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0" \
    ctest --test-dir "$ASAN_DIR" -L asan -E '_NOT_BUILT' --output-on-failure -j "$((JOBS + 1))" \
    --timeout 600 || rc=$?
  check_reports "$reports" "ASan/UBSan" || rc=1
  ((rc == 0)) || exit "$rc"
  lap "asan tests"
fi
if $do_tests && want fuzz; then
  ctest --test-dir "$ASAN_DIR" -L fuzz --output-on-failure -j "$JOBS"
  lap "fuzz"
fi
if $do_tests && want tsan; then
  reports=$ROOT/$TSAN_DIR/sanitizer-reports
  rm -rf "$reports" && mkdir -p "$reports"
  TSAN_OPTIONS="suppressions=$ROOT/fuzz/tsan.supp:halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan" \
    ctest --test-dir "$TSAN_DIR" -L tsan -E '_NOT_BUILT|^fuzz_|^CollectorThreadsTest' \
    --output-on-failure -j "$JOBS" --timeout 600 || rc=$?
  check_reports "$reports" "TSan" || rc=1
  ((rc == 0)) || exit "$rc"
  lap "tsan tests"
fi
# CPU seconds of this script's children (builds, tests, fuzzers): what the
# stage costs on any machine, whatever else runs on it.
# (`times` writes to a file: inside $(...) it would run in a subshell, whose
# children are none of these.)
times_file=$(mktemp)
times >"$times_file"
cpu=$(tail -1 "$times_file" | awk '{
  split($1, u, /m|s/); split($2, y, /m|s/); printf "%.0f", u[1] * 60 + u[2] + y[1] * 60 + y[2] }')
rm -f "$times_file"
echo "run-sanitizers: ${timing[*]}; total $(($(date +%s) - first_start)) s wall, ${cpu} s CPU"
