#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the tests (docs/TESTING.md), run by
# deploy/run-tests.sh after the normal build and tests. Three clang builds:
#
#   asan  build-asan: ASan + UBSan (-fno-sanitize-recover) for every target;
#         runs the unit and integration tests (ctest label asan). Reports of
#         the collector, probe and CLI processes the integration tests start
#         are collected too (ASAN_OPTIONS log_path) and fail the stage.
#   tsan  build-tsan: TSan; runs the collector's unit tests (label tsan):
#         the store's writer thread (store_test), live state, metrics.
#         collector_threads_test (gRPC streams, evaluator, reloads at once)
#         is left out: Debian's gRPC is not instrumented and TSan reports
#         ~260 races per run inside its message transport (fuzz/tsan.supp
#         has the first ones found and why); it needs a TSan-built gRPC.
#   fuzz  the libFuzzer targets of fuzz/ (built in build-asan, with ASan and
#         UBSan), each for PARALLAX_FUZZ_SECONDS from its seed corpus
#         (label fuzz).
#
# Usage: deploy/run-sanitizers.sh [asan] [tsan] [fuzz]   (none given: all three)
# Environment: JOBS (default nproc), PARALLAX_FUZZ_SECONDS (default 45),
#   ASAN_BUILD_DIR / TSAN_BUILD_DIR (default build-asan / build-tsan).
# Needs clang and libclang-rt-14-dev (deploy/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
ASAN_DIR=${ASAN_BUILD_DIR:-build-asan}
TSAN_DIR=${TSAN_BUILD_DIR:-build-tsan}
FUZZ_SECONDS=${PARALLAX_FUZZ_SECONDS:-45}
stages=("$@")
((${#stages[@]})) || stages=(asan tsan fuzz)
for s in "${stages[@]}"; do
  case "$s" in asan | tsan | fuzz) ;; *) echo "run-sanitizers: unknown stage \"$s\" (asan, tsan, fuzz)" >&2; exit 2 ;; esac
done
want() { [[ " ${stages[*]} " == *" $1 "* ]]; }
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run-sanitizers: $tool not found (deploy/install-deps.sh --test installs it)" >&2; exit 2; }
done

configure() {  # dir sanitizers extra-cmake-args...
  local dir=$1 san=$2
  shift 2
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPARALLAX_SANITIZE="$san" -DPARALLAX_BUILD_BENCH=OFF "$@" >/dev/null
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
timing=()
lap() { local now; now=$(date +%s); timing+=("$1 $((now - stage_start)) s"); stage_start=$now; }

if want asan || want fuzz; then
  fuzz_opt=OFF
  want fuzz && fuzz_opt=ON
  configure "$ASAN_DIR" "address,undefined" -DPARALLAX_FUZZ=$fuzz_opt \
    -DPARALLAX_FUZZ_SECONDS="$FUZZ_SECONDS"
  targets=$(test_targets "$ASAN_DIR" "$(want asan || echo '_test$')")
  # shellcheck disable=SC2086
  nice ninja -C "$ASAN_DIR" -j "$JOBS" $targets
  lap "asan build"
fi
if want asan; then
  reports=$ROOT/$ASAN_DIR/sanitizer-reports
  rm -rf "$reports" && mkdir -p "$reports"
  # log_path: reports of every process (also the collector and probe the
  # integration tests start) land in files checked below.
  ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan" \
    LSAN_OPTIONS="suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0" \
    ctest --test-dir "$ASAN_DIR" -L asan --output-on-failure -j "$JOBS" --timeout 600 || rc=$?
  check_reports "$reports" "ASan/UBSan" || rc=1
  ((rc == 0)) || exit "$rc"
  lap "asan tests"
fi
if want fuzz; then
  ctest --test-dir "$ASAN_DIR" -L fuzz --output-on-failure -j "$JOBS"
  lap "fuzz"
fi
if want tsan; then
  configure "$TSAN_DIR" thread
  # The collector's unit tests (and common's), without the gRPC one (above).
  targets=$(test_targets "$TSAN_DIR" '^(probe|fuzz|tests)/|_replay$|collector_threads_test')
  # shellcheck disable=SC2086
  nice ninja -C "$TSAN_DIR" -j "$JOBS" $targets
  lap "tsan build"
  reports=$ROOT/$TSAN_DIR/sanitizer-reports
  rm -rf "$reports" && mkdir -p "$reports"
  TSAN_OPTIONS="suppressions=$ROOT/fuzz/tsan.supp:halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan" \
    ctest --test-dir "$TSAN_DIR" -L tsan -E '_NOT_BUILT|^fuzz_|^CollectorThreadsTest' --output-on-failure -j "$JOBS" --timeout 600 || rc=$?
  check_reports "$reports" "TSan" || rc=1
  ((rc == 0)) || exit "$rc"
  lap "tsan tests"
fi
echo "run-sanitizers: ${timing[*]}"
