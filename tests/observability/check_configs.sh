#!/usr/bin/env bash
# Checks the shipped Prometheus, Alertmanager and Grafana files with the real
# tools (Debian packages prometheus, prometheus-alertmanager, python3):
#   - promtool check config / check rules; promtool test rules (every alert);
#   - mutation: each rule with a shorter `for:` or another severity must make
#     the unit tests fail (so they really pin both down);
#   - amtool check-config; amtool routes: each severity reaches its receiver;
#   - the dashboard and provisioning files parse;
#   - with the built binaries given: the example /etc/parallax/collector.yaml
#     passes --check-config, and the systemd units pass systemd-analyze verify
#     with no warning (skipped when systemd-analyze is missing).
# Usage: check_configs.sh REPO_ROOT [COLLECTOR_BIN PROBE_BIN].
# Exit 0 = all good, 1 = a check failed.
set -uo pipefail
root=${1:?usage: check_configs.sh REPO_ROOT [COLLECTOR_BIN PROBE_BIN]}
collector_bin=${2:-}
probe_bin=${3:-}
prom=$root/deploy/prometheus
am=$root/deploy/alertmanager/alertmanager.yml
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for tool in promtool amtool python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (deploy/install-deps.sh --test installs prometheus, prometheus-alertmanager, python3)"; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- Prometheus ---
promtool check config "$prom/prometheus.yml" >"$work/out" 2>&1 && pass "promtool check config" || { cat "$work/out"; fail "promtool check config"; }
promtool check rules "$prom/rules/parallax.rules.yml" >"$work/out" 2>&1 && pass "promtool check rules" || { cat "$work/out"; fail "promtool check rules"; }
(cd "$prom/rules" && promtool test rules parallax.rules.test.yml) >"$work/out" 2>&1 && pass "promtool test rules" || { cat "$work/out"; fail "promtool test rules"; }

# Every alert in the rules has unit tests.
for alert in $(grep -oP '^\s+- alert: \K\S+' "$prom/rules/parallax.rules.yml"); do
  grep -q "alertname: $alert\$" "$prom/rules/parallax.rules.test.yml" || fail "alert $alert has no unit test"
done

# Mutations: rule i with `for:` one step shorter, or severity changed, must fail the tests.
# Each mutation runs promtool on the whole test file (~1-2 s of CPU): they run
# 4 x nproc at a time, each in its own directory, and report in order afterwards.
mutate() {  # i mutation -> "pass ..." or "fail ..." in $work/m-i-mutation/verdict
  local i=$1 mutation=$2 dir=$work/m-$1-$2
  mkdir -p "$dir" && cp "$prom/rules/parallax.rules.test.yml" "$dir/"
  python3 - "$prom/rules/parallax.rules.yml" "$dir/parallax.rules.yml" "$i" "$mutation" <<'PY' || { echo "fail mutation $mutation of rule $i" >"$dir/verdict"; return; }
import re, sys
src, dst, idx, mutation = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
text = open(src).read()
parts = re.split(r'(?m)^(?=[ ]+- alert: )', text)
rule = parts[idx]
if mutation == 'for':
    def shorter(m):
        v, u = int(m.group(1)), m.group(2)
        secs = v * {'s': 1, 'm': 60, 'h': 3600}[u]
        return 'for: %ds' % (secs - 60 if secs > 60 else secs // 2)
    new = re.sub(r'for: (\d+)([smh])', shorter, rule, count=1)
else:
    new = re.sub(r'severity: (\w+)', lambda m: 'severity: ' + ('warning' if m.group(1) != 'warning' else 'critical'), rule, count=1)
assert new != rule, 'mutation %s did not apply to rule %d' % (mutation, idx)
parts[idx] = new
open(dst, 'w').write(''.join(parts))
PY
  local name; name=$(grep -oP '^\s+- alert: \K\S+' "$dir/parallax.rules.yml" | sed -n "${i}p")
  if (cd "$dir" && promtool test rules parallax.rules.test.yml) >/dev/null 2>&1; then
    echo "fail unit tests still pass with $name's $mutation mutated" >"$dir/verdict"
  else
    echo "pass mutated $mutation of $name is caught" >"$dir/verdict"
  fi
}
n=$(grep -c '^\s*- alert:' "$prom/rules/parallax.rules.yml")
jobs_max=$(($(nproc) * 4))  # promtool test waits more than it computes (2.5 s wall, 1 s CPU)
for ((i = 1; i <= n; i++)); do
  for mutation in for severity; do
    while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n; done
    mutate "$i" "$mutation" &
  done
done
wait
for ((i = 1; i <= n; i++)); do
  for mutation in for severity; do
    v=$(cat "$work/m-$i-$mutation/verdict" 2>/dev/null) || v="fail mutation $mutation of rule $i: no verdict"
    if [[ $v == pass* ]]; then pass "${v#pass }"; else fail "${v#fail }"; fi
  done
done

# --- Alertmanager ---
amtool check-config "$am" >"$work/out" 2>&1 && pass "amtool check-config" || { cat "$work/out"; fail "amtool check-config"; }
route() { amtool config routes test --config.file="$am" "$@" 2>/dev/null | tr -d '[:space:]'; }
check_route() {  # want labels...
  local want=$1; shift
  local got; got=$(route "$@")
  [[ "$got" == "$want" ]] && pass "route $* -> $want" || fail "route $* -> '$got', want $want"
}
check_route parallax-pager alertname=ParallaxSSHTimesOut severity=critical cause=host_offline target=web
check_route parallax-pager alertname=ParallaxCollectorDown severity=critical
check_route parallax-tickets alertname=ParallaxNetworkSSHBlocked severity=warning cause=isp_block network=isp-a
check_route parallax-dashboard-only alertname=ParallaxSSHPartial severity=info cause=partial target=web
# Every severity the rules use has a route.
for sev in $(grep -oP 'severity: \K\w+' "$prom/rules/parallax.rules.yml" | sort -u); do
  [[ "$(route severity="$sev")" != "parallax-tickets" || "$sev" == warning ]] || fail "severity $sev has no route of its own"
done

# --- Grafana ---
for f in "$root"/dashboard/*.json; do
  python3 - "$f" <<'PY' && pass "$(basename "$f"): datasource variable, target/probe/network variables" || fail "$f"
import json, sys
d = json.load(open(sys.argv[1]))
names = {v["name"]: v for v in d["templating"]["list"]}
assert names["datasource"]["type"] == "datasource" and names["datasource"]["query"] == "prometheus", "no datasource variable"
for v in ("target", "probe", "network"):
    assert v in names, "variable %s missing" % v
assert d["schemaVersion"] >= 36, "old schemaVersion"
panels = [p for p in d["panels"] if p["type"] != "row"]
assert len(panels) >= 10, "too few panels"
for p in panels:
    assert p["datasource"]["uid"] == "${datasource}", "panel %r: datasource not the variable" % p["title"]
    assert p["targets"], "panel %r has no query" % p["title"]
    for t in p["targets"]:
        assert t["datasource"]["uid"] == "${datasource}" and t["expr"], "panel %r: query without datasource/expr" % p["title"]
    assert p.get("description"), "panel %r has no description" % p["title"]
PY
done
# Every cause word (common/words.cc) has a coloured value mapping in the
# "current cause" panel: a new cause must not show up uncoloured.
python3 - "$root/dashboard/parallax.json" "$root/common/words.cc" <<'PY' && pass "parallax.json: every cause word has a coloured mapping" || fail "parallax.json: cause mappings"
import json, re, sys
d = json.load(open(sys.argv[1]))
src = open(sys.argv[2]).read()
block = src[src.index("kCauses"):]
block = block[:block.index("}};")]
words = set(re.findall(r'CAUSE_\w+, "(\w+)"', block)) - {"unspecified"}
assert "ssh_moved" in words and "ssh_refused" in words, words
panels = [p for p in d["panels"] if any("parallax_target_cause" in t.get("expr", "") for t in p.get("targets", []))]
mapped = {}
for p in panels:
    for m in p.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        if m.get("type") == "value":
            mapped.update(m["options"])
assert mapped, "no panel maps parallax_target_cause values"
missing = sorted(w for w in words if w not in mapped or not mapped[w].get("color"))
assert not missing, "cause words without a coloured mapping: %s" % missing
PY
for f in "$root"/dashboard/provisioning/*/*.yaml; do
  python3 - "$f" <<'PY' && pass "$(basename "$f") parses" || fail "$f does not parse"
import sys
text = open(sys.argv[1]).read()
assert text.startswith('#') or 'apiVersion: 1' in text
assert 'apiVersion: 1' in text, 'apiVersion: 1 missing'
PY
done

# --- systemd units and the example /etc/parallax ---
if [[ -n "$collector_bin" ]]; then
  "$collector_bin" --config "$root/deploy/systemd/etc-parallax/collector.yaml" --check-config >"$work/out" 2>&1 \
    && pass "etc-parallax/collector.yaml passes --check-config" || { cat "$work/out"; fail "etc-parallax/collector.yaml"; }
  if command -v systemd-analyze >/dev/null; then
    mkdir -p "$work/units"
    for unit in parallax-collector parallax-probe; do
      sed -e "s#/usr/local/bin/parallax-collector#$collector_bin#g" -e "s#/usr/local/bin/parallax-probe#$probe_bin#g" \
        "$root/deploy/systemd/$unit.service" >"$work/units/$unit.service"
      out=$(systemd-analyze verify "$work/units/$unit.service" 2>&1)
      [[ $? -eq 0 && -z "$out" ]] && pass "systemd-analyze verify $unit.service" || fail "systemd-analyze verify $unit.service: $out"
    done
  else
    echo "skip: systemd-analyze not installed, units not verified"
  fi
fi

echo "check_configs: $failures failure(s)"
((failures == 0))
