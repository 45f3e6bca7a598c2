#!/usr/bin/env bash
# The Parallax demo in the network lab: three ISP sites with four probes, a
# datacentre with four sshd targets and the collector, all real (network
# namespaces, routers, nftables, OpenSSH). It injects three faults from the
# field and shows what Parallax makes of them: the status table and the
# explanation of every target, refreshed until Ctrl-C. Everything is torn
# down at the end.
#
#   t1: sshd stopped             -> ssh_refused
#   t2: firewall drops port 22   -> firewall_block
#   t3: fail2ban bans probe b1   -> source_block
#   t4: fine                     -> ok
#
# Usage (root): tests/netlab/demo.sh [--once] [--build DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
once=0
while (($#)); do
  case "$1" in
    --once) once=1 ;;
    --build) build="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -t 1 ]] || once=1
[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }
for b in collector/parallax-collector probe/parallax-probe collector/cli/parallax; do
  [[ -x "$build/$b" ]] || { echo "demo: $build/$b missing: build first (cmake --build build)" >&2; exit 1; }
done

export LAB_ID=${LAB_ID:-demo}
lab() { "$here/lab.sh" "$@"; }
run="$(mktemp -d /tmp/parallax-demo-XXXXXX)"
cleanup() { lab down >/dev/null 2>&1 || true; rm -rf "$run"; }
trap cleanup EXIT INT TERM

echo "demo: building the lab ($LAB_ID)..."
lab up >/dev/null
col_addr=$(lab addr collector)
{
  echo "listen: 0.0.0.0:7420"
  echo "metrics_listen: 0.0.0.0:9420"
  echo "storage: {path: $run/parallax.db}"
  echo "interval: 2s"
  echo "timeout: 1s"
  echo "liveness_ports: [80]"
  echo "targets:"
  while read -r name _ addr role _; do
    [[ "$role" == target ]] && echo "  - {name: $name, host: $addr}"
  done < <(lab hosts)
} > "$run/config.yaml"
lab exec collector "$build/collector/parallax-collector" --config "$run/config.yaml" --insecure \
  >"$run/collector.log" 2>&1 &
sleep 1
while read -r name _ _ role network; do
  [[ "$role" == probe ]] || continue
  lab exec "$name" "$build/probe/parallax-probe" --collector "$col_addr:7420" --name "$name" \
    --label "network=$network" --label "site=$name" --insecure --state-dir "$run/probe-$name-state" \
    >"$run/probe-$name.log" 2>&1 &
done < <(lab hosts)

echo "demo: injecting faults: sshd-stop t1, fw-drop t2, ban t3 b1"
lab sshd-stop t1
lab fw-drop t2
lab ban t3 b1 drop
cli=(lab exec collector "$build/collector/cli/parallax" --collector 127.0.0.1:7420 --insecure)
echo "demo: waiting for the verdicts (hysteresis: two evaluations)..."
sleep 10
show() {
  "${cli[@]}" status 2>/dev/null
  echo
  "${cli[@]}" explain 2>/dev/null
}
if ((once)); then show; exit 0; fi
while true; do
  clear
  date
  show
  echo; echo "(refreshing every 5 s; Ctrl-C tears the lab down; try: sudo LAB_ID=$LAB_ID $here/lab.sh clear)"
  sleep 5
done
