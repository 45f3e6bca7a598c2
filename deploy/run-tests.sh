#!/usr/bin/env bash
# Installs the dependencies (Debian 12 packages), builds Parallax and runs
# every test with ctest: unit, integration (real sshd, real gRPC between
# processes) and, as root, the network-namespace lab; then the sanitizer and
# fuzzing stage (deploy/run-sanitizers.sh: ASan+UBSan and TSan builds with
# clang, a short run of every fuzz target; docs/TESTING.md).
# Usage: deploy/run-tests.sh [extra ctest args]    (BUILD_DIR=build-test by default)
# PARALLAX_SANITIZERS=0 skips the sanitizer and fuzzing stage (on by default,
# in CI too; its builds overlap the normal tests, see docs/TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-test}
JOBS=${JOBS:-$(nproc)}

start=$(date +%s)
bash deploy/install-deps.sh --test
# Ninja (installed with the test dependencies) schedules the 2 cores better
# than make; a build directory made earlier keeps its generator.
generator=()
[[ ! -f "$BUILD_DIR/CMakeCache.txt" ]] && command -v ninja >/dev/null && generator=(-G Ninja)
# -g1 (line tables and function names, no variables): ~20% less compile CPU
# than -g (measured 7.4 vs 9.3 s for collector/server/collector.cc), and
# stack traces keep file:line. PARALLAX_TEST_CXXFLAGS overrides it.
test_flags=${PARALLAX_TEST_CXXFLAGS:--O2 -g1 -DNDEBUG}
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$test_flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$test_flags"
cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)
echo "run-tests: built in $((built - start)) s"
# The sanitizer builds (clang, deploy/run-sanitizers.sh --build-only) run
# niced while the normal tests run: those mostly wait on sockets, processes
# and timers, so the builds take the idle CPU and the tests keep priority.
sanitizers=false
[[ "${PARALLAX_SANITIZERS:-1}" != "0" ]] && sanitizers=true
if $sanitizers; then
  JOBS=$JOBS nice -n 19 bash deploy/run-sanitizers.sh --build-only \
    >"$BUILD_DIR/sanitizer-build.log" 2>&1 &
  san_build=$!
fi
test_rc=0
# One ctest slot more than cores: package_build (tests/package, started first)
# holds a slot for its whole niced compile while mostly yielding the CPU, and
# the other tests mostly wait on sockets and timers. The lab tests take turns
# (RESOURCE_LOCK netlab); the soak, bench and package install run alone.
CTEST_JOBS=${CTEST_JOBS:-$((JOBS + 1))}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$CTEST_JOBS" --timeout 600 "$@" || test_rc=$?
# The package test (label `package`) reports what it added: build, lintian, total.
grep -ahoE '(package-build|package-build-only|lintian|package-test)-seconds: .*' \
  "$BUILD_DIR/Testing/Temporary/LastTest.log" 2>/dev/null | sed 's/^/run-tests: /' || true
tested=$(date +%s)
echo "run-tests: tests took $((tested - built)) s"
if $sanitizers; then
  build_rc=0
  wait "$san_build" || build_rc=$?
  echo "run-tests: sanitizer builds ready $(( $(date +%s) - tested )) s after the tests" \
    "($(tail -1 "$BUILD_DIR/sanitizer-build.log"))"
  if ((build_rc != 0)); then
    cat "$BUILD_DIR/sanitizer-build.log" >&2
    echo "run-tests: sanitizer builds failed" >&2
    exit "$build_rc"
  fi
  ((test_rc == 0)) || exit "$test_rc"
  JOBS=$JOBS bash deploy/run-sanitizers.sh --tests-only
  echo "run-tests: sanitizers and fuzzing took $(( $(date +%s) - tested )) s after the tests"
else
  echo "run-tests: sanitizer and fuzzing stage skipped (PARALLAX_SANITIZERS=0)"
fi
((test_rc == 0)) || exit "$test_rc"
echo "run-tests: total $(( $(date +%s) - start )) s"
