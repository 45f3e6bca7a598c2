#!/usr/bin/env bash
# Installs the dependencies (Debian 12 packages), builds Parallax and runs
# every test with ctest: integration (real sshd, real gRPC between
# processes), as root the network-namespace lab, observability, package and
# benchmark smoke tests; then the sanitizer and fuzzing stage
# (deploy/run-sanitizers.sh: every unit test and a few integration tests
# under ASan+UBSan, the threaded ones under TSan, a short run of every fuzz
# target; docs/TESTING.md). With PARALLAX_SANITIZERS=0 the unit tests run in
# the normal build instead.
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
# The hardening flags are Debian's (dpkg-buildflags with hardening=+all, as
# debian/rules builds), so the tests run the code the packages ship.
test_flags=${PARALLAX_TEST_CXXFLAGS:--O2 -g1 -DNDEBUG -fstack-protector-strong -Wformat \
-Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2}
# ccache, with a cache of this build directory's own: the package test
# (tests/package, package_build) builds the .debs from a copy of the tree
# with the same flags (PARALLAX_PKG_FLAGS) under $BUILD_DIR/pkg, so every
# object this build compiled is taken from the cache there instead of
# compiled again (base_dir makes the copy's paths the same, relative).
launcher=()
if command -v ccache >/dev/null; then
  # Depend mode: a miss costs no extra preprocessor run (~15% of a compile
  # here); the package build's lookups are direct-mode hits either way.
  export CCACHE_DIR=${CCACHE_DIR:-$PWD/$BUILD_DIR/ccache} CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
  export CCACHE_DEPEND=1
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  ccache --zero-stats >/dev/null
fi
export PARALLAX_PKG_FLAGS=$test_flags PARALLAX_PKG_TMPDIR=$PWD/$BUILD_DIR/pkg
# The libraries compile 8 sources to a unit (cmake/ParallaxUnity.cmake):
# about half the compile CPU. The package test's build reads the same
# setting from the environment, so its objects still come from the cache.
export PARALLAX_UNITY=${PARALLAX_UNITY:-ON}
# lld links the ~150 test executables in a third of the CPU of GNU ld
# (measured 0.34 vs 1.0 CPU s for bad_input_test); the packages keep
# Debian's linker (tests/package builds them with Debian's LDFLAGS).
linker=()
command -v ld.lld >/dev/null && linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
# The sanitizer builds (clang, deploy/run-sanitizers.sh --build-only) start
# now, at nice 19, and take whatever CPU the normal build and then the normal
# tests leave idle (configure and link steps, tests waiting on sockets,
# processes and timers); the normal build and tests keep priority.
sanitizers=false
[[ "${PARALLAX_SANITIZERS:-1}" != "0" ]] && sanitizers=true
# With the sanitizer stage, the unit tests are built and run there, under
# ASan+UBSan, and not in this build too: built twice, they were a quarter of
# this build's compile CPU (294 of 1,226 s) on a CPU-bound run. This build
# keeps what runs the shipped code (gcc -O2): integration, lab,
# observability, package and benchmark tests.
unit_tests=ON
$sanitizers && unit_tests=OFF
mkdir -p "$BUILD_DIR"
if $sanitizers; then
  JOBS=$JOBS nice -n 19 bash deploy/run-sanitizers.sh --build-only \
    >"$BUILD_DIR/sanitizer-build.log" 2>&1 &
  san_build=$!
fi
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "${linker[@]}" \
  -DPARALLAX_UNIT_TESTS="$unit_tests" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$test_flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$test_flags"
# ccache hashes the locale (compiler messages); the package build runs in C.UTF-8.
LC_ALL=C.UTF-8 LANG=C.UTF-8 cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)
echo "run-tests: built in $((built - start)) s"
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
if ((${#launcher[@]})); then
  echo "run-tests: ccache (test build and package build): $(ccache --print-stats 2>/dev/null |
    awk -F'\t' '$1 ~ /^(direct_cache_hit|preprocessed_cache_hit|cache_miss)$/ {printf "%s=%s ", $1, $2}')"
fi
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
