#!/usr/bin/env bash
# Installs the dependencies, builds Parallax, and runs the main job on this
# machine: a collector on the embedded SQLite store and one local probe that
# checks a few example targets on loopback (a private sshd, a closed port,
# a silent listener) plus every host[:port] given as an argument, then shows
# the live status table from the CLI.
#
# Usage: deploy/quickstart.sh [--once] [host[:port] ...]
#   --once   print the status once and stop (default when not on a terminal)
# Everything it starts stops on Ctrl-C; state lives in .parallax-run/.
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
targets=()
for a in "$@"; do
  case "$a" in
    --once) once=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) targets+=("$a") ;;
  esac
done
[[ -t 1 ]] || once=1

bash deploy/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target parallax-collector parallax-probe parallax

run=$PWD/.parallax-run
mkdir -p "$run"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port); metrics_port=$(free_port); web_port=$(free_port)

# Example targets on loopback: a private sshd (ok), a closed port (refused),
# a listener that never speaks (banner_timeout).
sshd_port=$(free_port)
if [[ -x /usr/sbin/sshd ]]; then
  [[ -f "$run/hostkey" ]] || ssh-keygen -q -t ed25519 -N '' -f "$run/hostkey"
  [[ $(id -u) -ne 0 ]] || mkdir -p /run/sshd
  printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM no\nPasswordAuthentication no\n' \
    "$sshd_port" "$run/hostkey" "$run/sshd.pid" > "$run/sshd_config"
  /usr/sbin/sshd -D -e -f "$run/sshd_config" 2>"$run/sshd.log" & pids+=($!)
fi
closed_port=$(free_port)
silent_port=$(free_port)
python3 -c "import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$silent_port)); s.listen(64); held=[]
while True: c,_=s.accept(); held.append(c)" & pids+=($!)

{
  echo "listen: 127.0.0.1:$grpc_port"
  echo "metrics_listen: 127.0.0.1:$metrics_port"
  echo "web_listen: 127.0.0.1:$web_port"
  echo "storage:"
  echo "  path: $run/parallax.db"
  echo "interval: 3s"
  echo "timeout: 2s"
  echo "targets:"
  echo "  - {name: local-sshd, host: 127.0.0.1, port: $sshd_port}"
  echo "  - {name: closed-port, host: 127.0.0.1, port: $closed_port}"
  echo "  - {name: silent-port, host: 127.0.0.1, port: $silent_port}"
  i=0
  for t in "${targets[@]}"; do
    host=${t%:*}; port=22
    [[ "$t" == *:* ]] && port=${t##*:}
    i=$((i + 1))
    echo "  - {name: \"arg$i-$host\", host: \"$host\", port: $port}"
  done
} > "$run/config.yaml"

./build/collector/parallax-collector --config "$run/config.yaml" --insecure 2>"$run/collector.log" & pids+=($!)
sleep 1
./build/probe/parallax-probe --collector "127.0.0.1:$grpc_port" --name "$(hostname -s 2>/dev/null || echo local)" \
  --label network=local --label site=here --insecure --allow-loopback --state-dir "$run/probe-state" \
  2>"$run/probe.log" & pids+=($!)

cli=(./build/collector/cli/parallax --collector "127.0.0.1:$grpc_port" --insecure)
echo "quickstart: collector on 127.0.0.1:$grpc_port, metrics on http://127.0.0.1:$metrics_port/metrics"
echo "quickstart: status page on http://127.0.0.1:$web_port/ (open it in a browser)"
echo "quickstart: logs and database in $run/; waiting for the first checks..."
sleep 10
if (( once )); then
  "${cli[@]}" status 2>/dev/null
  exit 0
fi
while true; do
  clear
  date
  "${cli[@]}" status 2>/dev/null || true
  echo; echo "(refreshing every 5 s; the page: http://127.0.0.1:$web_port/; Ctrl-C stops the collector and the probe)"
  sleep 5
done
