#!/usr/bin/env bash
# `parallax check` in the network lab (issue 12): t2 is NOT a configured
# target (t1, t3, t4 are); with the faults fw-drop t2 (port 22 dropped) and
# isp-block isp-b (the ISP of site b blocks SSH), a check of t2 from every
# probe must say firewall_block and name the blocked network isp-b.
# Real namespaces, nftables, OpenSSH, collector and probes (tests/netlab/lab.sh).
# Usage: check_test.sh BUILD_DIR. Exit 0 pass, 1 fail, 77 skip (not root, no
# namespaces). About 30 s idle, 80 s on a loaded 2-core machine (lab up dominates).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build=$1
skip() { echo "netlab check_test: SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, nftables)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "'ip netns' is unavailable"
command -v nft >/dev/null || skip "missing nft (nftables)"

export LAB_ID="ck$(($$ % 1000000))"
export NETLAB_STATE="/tmp/parallax-netlab-$LAB_ID"
unset NETLAB_TARGETS NETLAB_OCTET
lab() { "$here/lab.sh" "$@"; }
run="$(mktemp -d /tmp/parallax-check-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  lab down >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
ip netns add "$LAB_ID-try" 2>/dev/null || skip "cannot create a network namespace"
ip netns del "$LAB_ID-try"

lab up >/dev/null || { echo "FAIL: lab up"; exit 1; }
col_addr=$(lab addr collector)
t2_addr=$(lab addr t2)
{
  echo "listen: 0.0.0.0:7420"
  echo "metrics_listen: 0.0.0.0:9420"
  echo "storage: {path: $run/parallax.db}"
  echo "interval: 1s"
  echo "timeout: 1s"
  echo "liveness_ports: [80]"
  echo "diagnosis: {hysteresis: 1}"
  echo "targets:"
  while read -r name _ addr role _; do
    [[ "$role" == target && "$name" != t2 ]] && echo "  - {name: $name, host: $addr}"
  done < <(lab hosts)
} >"$run/config.yaml"
lab exec collector "$build/collector/parallax-collector" --config "$run/config.yaml" --insecure \
  --insecure-allow-remote >"$run/collector.log" 2>&1 &
pids+=($!)
sleep 1
while read -r name _ _ role network; do
  [[ "$role" == probe ]] || continue
  lab exec "$name" "$build/probe/parallax-probe" --collector "$col_addr:7420" --name "$name" \
    --label "network=$network" --insecure --state-dir "$run/probe-$name-state" \
    >"$run/probe-$name.log" 2>&1 &
  pids+=($!)
done < <(lab hosts)
lab fw-drop t2 >/dev/null
lab isp-block isp-b >/dev/null
cli=(lab exec collector "$build/collector/cli/parallax" --collector 127.0.0.1:7420 --insecure)

# The fleet must know isp-b is blocked first (its probes fail t1, t3, t4
# while the others reach them): bounded wait.
for _ in $(seq 1 40); do
  out=$("${cli[@]}" explain t1 -o json 2>/dev/null)
  [[ "$out" == *'"isp_block"'* ]] && break
  sleep 0.5
done
[[ "$out" == *'"isp_block"'* ]] || {
  echo "FAIL: t1 never diagnosed isp_block: $out"
  tail -20 "$run/collector.log"
  exit 1
}

start=$(date +%s%N)
text=$("${cli[@]}" check "$t2_addr" --timeout 2s 2>&1)
rc=$?
end=$(date +%s%N)
echo "$text"
echo "[check timing] netlab check of t2: exit $rc in $(((end - start) / 1000000)) ms"
json=$("${cli[@]}" check "$t2_addr" --timeout 2s -o json 2>/dev/null)
fails=0
((rc == 1)) || { echo "FAIL: exit $rc, want 1"; fails=$((fails + 1)); }
[[ "$text" == *"FIREWALL BLOCK"* ]] || { echo "FAIL: verdict is not firewall_block"; fails=$((fails + 1)); }
python3 - "$json" <<'PY' || fails=$((fails + 1))
import json, sys
doc = json.loads(sys.argv[1])
v = doc["verdict"]
ok = v["cause"] == "firewall_block" and "isp-b" in v["summary"]
roles = {e["probe"]: e["role"] for e in v["evidence"]}
print("cause", v["cause"], "roles", roles)
print("summary:", v["summary"])
if not ok:
    print("FAIL: want firewall_block naming isp-b")
    sys.exit(1)
PY
((fails == 0)) && echo "netlab check_test: PASS" || echo "netlab check_test: $fails failure(s)"
((fails == 0))
