#!/usr/bin/env bash
# Installs every build, test and run-time dependency of Parallax from Debian's
# packages (Debian 12). Idempotent: packages already present are skipped by apt.
# Usage: deploy/install-deps.sh [--test]   (--test adds what the tests need)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libsqlite3-dev sqlite3 prometheus-cpp-dev libcivetweb-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libssl-dev
  libc-ares-dev  # the probe's asynchronous DNS resolver (probe/checks/dns_resolver.h)
  libpq-dev  # the collector's PostgreSQL storage driver (collector/store/postgres_store.h)
  libgtest-dev libgmock-dev libbenchmark-dev
  ninja-build  # the build tool of deploy/run-tests.sh and of the Debian package
)
test_pkgs=(
  openssh-server openssh-client nftables iproute2 iputils-ping procps psmisc
  curl openssl python3 util-linux strace
  faketime  # libfaketime (LD_PRELOAD) runs probes with a wrong clock in tests
  prometheus prometheus-alertmanager prometheus-blackbox-exporter
  dropbear-bin tinysshd redis-server socat
  chromium  # headless browser for the status page test (tests/integration/web_page_test.cc)
  dnsmasq-base  # loopback DNS servers for the resolver's tests
  fail2ban  # the probes-banned tests (docs/OPERATIONS.md)
  postgresql  # a real server the store tests start (collector/store/testing/pg_server.h)
  debhelper devscripts dpkg-dev fakeroot lintian help2man man-db systemd adduser
  clang libclang-rt-14-dev  # sanitizer builds, libFuzzer (deploy/run-sanitizers.sh)
  lld  # links the test and sanitizer executables (deploy/run-tests.sh)
  ccache  # the package test reuses the test build's objects (deploy/run-tests.sh)
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
