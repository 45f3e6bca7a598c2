#!/usr/bin/env bash
# CPU cost of the probe's SSH host-key check (issue 11): starts a loopback
# sshd with an ed25519 host key, runs parallax-bench-hostkey against it
# (N banner-only checks, N checks with the key exchange), prints the numbers.
# Usage: bench/hostkey.sh [--build-dir DIR] [-n N]
set -euo pipefail
build=build n=200
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [-n N]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=tests/lib/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/free_port.sh"
port=$(free_port)
ssh-keygen -q -t ed25519 -N "" -f "$work/hostkey"
[[ $(id -u) -eq 0 ]] && mkdir -p /run/sshd
printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM no\nMaxStartups 1000:30:2000\n' \
  "$port" "$work/hostkey" "$work/sshd.pid" >"$work/sshd_config"
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
pid=$!
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
"$build/bench/parallax-bench-hostkey" --port "$port" -n "$n"
