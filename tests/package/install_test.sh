#!/usr/bin/env bash
# The Debian packages, the way an admin meets them (ctest label `package`,
# root only; exit 77 = skipped otherwise):
#   1. build them from a copy of the tree with `dpkg-buildpackage -us -uc -b`
#      (timed), run lintian (every error or warning fails), list `dpkg -c`;
#   2. `apt-get install ./*.deb`; check users, ownership and modes, conffile,
#      enabled units, `systemd-analyze verify`, the man pages
#      (`MANWIDTH=80 man --warnings -l` must be silent), bash completion and
#      the files in /usr/share/parallax (promtool, amtool);
#   3. run the installed programs end to end on loopback as systemd would:
#      each unit's ExecStartPre/ExecStart line, as its User= with its
#      capabilities (setpriv), from the packaged config made to point at a
#      real sshd and a closed port, with mTLS certificates from the packaged
#      make-certs.sh; the installed CLI (client config file) against them;
#      a reload (the unit's ExecReload, SIGHUP); the backup of DEPLOY.md;
#   DEPLOY.md's nftables ruleset passes `nft -c`;
#   4. `apt-get purge`: nothing may be left but the system users (Debian
#      practice) and the files the admin added (/etc/parallax/tls).
# Usage: install_test.sh REPO_ROOT [--build-only OUTDIR] [--lean]
#   --build-only OUTDIR: step 1 only (build, dpkg -c, lintian); the .debs,
#     .changes and .buildinfo go to OUTDIR. ctest runs it as `package_build`
#     (niced, in parallel with the other tests) and the rest as
#     `package_install` (alone: it installs system-wide) with PREBUILT=OUTDIR.
#   --lean: DEB_BUILD_OPTIONS=noopt and -g1 (-O0 -g1: ~1/3 less compile CPU
#     than Debian's -O2 -g, measured 6.9 vs 10.1 s on collector.cc); dpkg
#     turns _FORTIFY_SOURCE off at -O0, so lintian's hardening check sees no
#     fortified functions (an info tag). ctest passes it; the release build
#     is without. PARALLAX_PKG_FLAGS (set by deploy/run-tests.sh) wins over it.
#   PARALLAX_PKG_FLAGS=FLAGS: compile with exactly FLAGS (C and C++, in place
#     of dpkg-buildflags' CFLAGS/CXXFLAGS/CPPFLAGS; LDFLAGS stay Debian's) and,
#     when CCACHE_DIR is set, through ccache: deploy/run-tests.sh gives the
#     flags of its own build and its cache, so the package reuses the objects
#     the test build compiled; PARALLAX_UNITY (the test build's unity batches
#     of the libraries, cmake/ParallaxUnity.cmake) passes through the
#     environment to the package's cmake. PARALLAX_PKG_TMPDIR=DIR: the work directory's
#     parent (default /tmp); with the cache's base_dir above both trees, the
#     copy's relative paths equal the test build's.
#   PREBUILT=DIR takes parallax*.deb and .changes from DIR instead of building
#     (and skips step 1: build, lintian); KEEP_DEBS=DIR copies the .debs there.
set -uo pipefail
root=$(cd "$1" && pwd)
shift
build_only="" lean=0
while (($#)); do
  case "$1" in
    --build-only) build_only=${2:?--build-only needs a directory}; shift 2 ;;
    --lean) lean=1; shift ;;
    *) echo "install_test.sh: unknown argument \"$1\" (--build-only DIR, --lean)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: the package test installs packages: run it as root (deploy/run-tests.sh in CI)"
  exit 77
fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
mkdir -p "${PARALLAX_PKG_TMPDIR:-/tmp}"
work=$(mktemp -d "${PARALLAX_PKG_TMPDIR:-/tmp}/parallax-pkg.XXXXXX")
chmod 755 "$work"
pids=()
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
installed=0
if [[ -n "$build_only" ]]; then
  # Runs beside other tests: touches nothing but its own directories.
  cleanup() { rm -rf "$work"; }
  trap cleanup EXIT
else
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if ((installed)); then apt-get purge -y -q parallax-probe parallax-collector parallax-cli >/dev/null 2>&1; fi
  rm -rf /etc/parallax/tls /etc/parallax/probe.conf
  rmdir /etc/parallax 2>/dev/null
  for u in parallax-probe parallax-collector; do
    getent passwd "$u" >/dev/null && deluser --quiet --system "$u" >/dev/null 2>&1
    getent group "$u" >/dev/null && delgroup --quiet --system "$u" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
for pkg in parallax-probe parallax-collector parallax-cli; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
    echo "FAIL: $pkg is already installed on this machine; the test would remove it"
    exit 1
  fi
done
fi
# shellcheck source=tests/lib/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/free_port.sh"

# ---------------------------------------------------------------- 1. build
if [[ -n "${PREBUILT:-}" ]]; then
  mkdir -p "$work/src" && cp "$PREBUILT"/parallax-*.deb "$PREBUILT"/parallax_*.changes "$PREBUILT"/parallax_*.buildinfo "$work/src/"
  t0=$(date +%s) t1=$t0
else
src=$work/src/parallax
mkdir -p "$src"
tar -C "$root" --exclude='./build*' --exclude=./.git --exclude='./obj-*' \
  --exclude=./debian/generated-man --exclude='./debian/.debhelper' --exclude='./debian/parallax-*/' \
  -cf - . | tar -C "$src" -xf -
(cd "$src" && dpkg-checkbuilddeps) || { echo "FAIL: build dependencies missing (deploy/install-deps.sh --test)"; exit 1; }
t0=$(date +%s)
build_env=()
if [[ -n "${PARALLAX_PKG_FLAGS:-}" ]]; then
  # LANG: ccache hashes the locale; deploy/run-tests.sh builds in C.UTF-8 too.
  build_env=(DEB_CFLAGS_SET="$PARALLAX_PKG_FLAGS" DEB_CXXFLAGS_SET="$PARALLAX_PKG_FLAGS"
    DEB_CPPFLAGS_SET= LANG=C.UTF-8)
  if [[ -n "${CCACHE_DIR:-}" ]] && command -v ccache >/dev/null; then
    build_env+=(CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  echo "build flags: ${build_env[*]}"
elif ((lean)); then
  build_env=(DEB_BUILD_OPTIONS="noopt ${DEB_BUILD_OPTIONS:-}" DEB_CFLAGS_APPEND=-g1
    DEB_CXXFLAGS_APPEND=-g1)
  echo "lean build: ${build_env[*]}"
fi
ccache_hits() {
  [[ -n "${CCACHE_DIR:-}" ]] && command -v ccache >/dev/null || return 0
  ccache --print-stats 2>/dev/null | awk -F'\t' '$1 ~ /_cache_hit$/ {h += $2} $1 == "cache_miss" {m = $2}
    END {print h + 0, m + 0}'
}
cc0=$(ccache_hits)
(cd "$src" && env "${build_env[@]}" dpkg-buildpackage -us -uc -b -j"$(nproc)") \
  >"$work/build.log" 2>&1
rc=$?
if [[ -n "$cc0" ]]; then
  read -r h0 m0 <<<"$cc0" && read -r h1 m1 <<<"$(ccache_hits)"
  echo "package-build-ccache: $((h1 - h0)) objects from the cache, $((m1 - m0)) compiled"
fi
t1=$(date +%s)
if ((rc != 0)); then
  tail -60 "$work/build.log"
  echo "FAIL: dpkg-buildpackage exited $rc"
  exit 1
fi
echo "package-build-seconds: $((t1 - t0))"
fi
debs=("$work"/src/parallax-{probe,collector,cli}_*.deb)
((${#debs[@]} == 3)) && pass "three packages: $(cd "$work/src" && echo parallax-*.deb)" \
  || fail "expected 3 .debs, got: ${debs[*]}"
if [[ -z "${PREBUILT:-}" ]]; then
[[ -n "${KEEP_DEBS:-}" ]] && cp "${debs[@]}" "$work"/src/*.changes "$KEEP_DEBS"/
for d in "${debs[@]}"; do
  echo "--- dpkg -c $(basename "$d")"
  dpkg -c "$d" | awk '{print $1, $2, $6, $7, $8}'
done
echo "--- lintian"
lintian --info --display-info --fail-on error,warning "$work"/src/parallax_*.changes >"$work/lintian.log" 2>&1
rc=$?
cat "$work/lintian.log"
((rc == 0)) && pass "lintian: no error or warning" || fail "lintian failed (exit $rc)"
t2=$(date +%s)
echo "lintian-seconds: $((t2 - t1))"
else
  t2=$t1
fi
if [[ -n "$build_only" ]]; then
  mkdir -p "$build_only" && rm -f "$build_only"/parallax[-_]*
  cp "${debs[@]}" "$work"/src/parallax_*.changes "$work"/src/parallax_*.buildinfo "$build_only"/
  echo "package-build-only-seconds: $((t2 - t0)) (build $((t1 - t0)), lintian $((t2 - t1))), packages in $build_only"
  ((failures == 0)) || { echo "FAILED: $failures check(s)"; exit 1; }
  exit 0
fi

# ---------------------------------------------------------------- 2. install
apt-get install -y -q "${debs[@]}" >"$work/install.log" 2>&1 \
  && { installed=1; pass "apt-get install ./*.deb"; } \
  || { cat "$work/install.log"; echo "FAIL: apt-get install"; exit 1; }
mode() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
expect_mode() {  # expect_mode PATH "MODE USER:GROUP"
  [[ "$(mode "$1")" == "$2" ]] && pass "$1 is $2" || fail "$1 is '$(mode "$1")', want $2"
}
for u in parallax-probe parallax-collector; do
  shell=$(getent passwd "$u" | cut -d: -f7)
  uid=$(id -u "$u" 2>/dev/null)
  [[ -n "$uid" && $uid -lt 1000 && $shell == /usr/sbin/nologin ]] \
    && pass "system user $u (uid $uid, $shell)" || fail "user $u: uid '$uid' shell '$shell'"
done
for b in parallax parallax-probe parallax-collector; do expect_mode /usr/bin/$b "755 root:root"; done
expect_mode /var/lib/parallax-probe "750 parallax-probe:parallax-probe"
expect_mode /var/lib/parallax-collector "750 parallax-collector:parallax-collector"
expect_mode /etc/parallax/collector.yaml "644 root:root"
dpkg-query -W -f='${Conffiles}\n' parallax-collector | grep -q '^ /etc/parallax/collector.yaml ' \
  && pass "collector.yaml is a conffile" || fail "collector.yaml is not a conffile"
[[ -z "$(grep -v '^\s*#' /etc/parallax/collector.yaml | grep -v '^\s*$')" ]] \
  && pass "collector.yaml ships commented out" || fail "collector.yaml has active lines"
/usr/bin/parallax-collector --config /etc/parallax/collector.yaml --check-config >/dev/null \
  && pass "the shipped collector.yaml is valid" || fail "shipped collector.yaml invalid"
# Uncomment the YAML lines (`#key:`, `#  key:`, `#  - ...`), not the prose.
sed -E 's/^#( *([a-z_]+:|- ))/\1/' /etc/parallax/collector.yaml >"$work/uncommented.yaml"
out=$(/usr/bin/parallax-collector --config "$work/uncommented.yaml" --check-config 2>&1) \
  && [[ $out == *"(3 targets)"* ]] && pass "the shipped example, uncommented, is valid: $out" || fail "uncommented example: $out"
[[ ! -e /etc/parallax/probe.conf ]] && pass "no /etc/parallax/probe.conf shipped (probe not started)" \
  || fail "/etc/parallax/probe.conf exists after install"
[[ -f /usr/share/doc/parallax-probe/examples/probe.conf ]] && pass "probe.conf example" || fail "no probe.conf example"
unitdir=/lib/systemd/system
for u in parallax-probe parallax-collector; do
  [[ -f $unitdir/$u.service ]] && pass "$u.service installed" || fail "$u.service missing"
  [[ -L /etc/systemd/system/multi-user.target.wants/$u.service ]] \
    && pass "$u.service enabled" || fail "$u.service not enabled"
  out=$(systemd-analyze verify "$unitdir/$u.service" 2>&1 | grep -v -e 'Cannot add dependency job' \
        -e 'Failed to .* bus' -e 'No such file or directory' -e 'Unit dbus' -e '^$')
  [[ -z "$out" ]] && pass "systemd-analyze verify $u.service" || fail "systemd-analyze verify $u.service: $out"
done
p=$unitdir/parallax-probe.service c=$unitdir/parallax-collector.service
[[ $(grep -c '^AmbientCapabilities=CAP_NET_RAW$' $p) == 1 && $(grep -c '^CapabilityBoundingSet=CAP_NET_RAW$' $p) == 1 \
   && $(grep -c 'Capabilit' $p) == 2 ]] && pass "probe: CAP_NET_RAW and nothing more" || fail "probe capabilities"
grep -q '^ConditionPathExists=/etc/parallax/probe.conf$' $p && grep -q '^StateDirectory=parallax-probe$' $p \
  && pass "probe: waits for probe.conf, StateDirectory" || fail "probe: condition/state dir"
grep -q '^ConditionPathExists=/etc/parallax/collector.yaml$' $c && grep -q '^StateDirectory=parallax-collector$' $c \
  && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' $c && grep -q '^CapabilityBoundingSet=$' $c \
  && pass "collector: condition, StateDirectory, ExecReload, no capabilities" || fail "collector unit"
for m in man1/parallax.1 man8/parallax-probe.8 man8/parallax-collector.8 man5/parallax-collector.yaml.5; do
  f=/usr/share/man/$m.gz
  [[ -f $f ]] || { fail "$f missing"; continue; }
  warnings=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >"$work/man.txt")
  lines=$(wc -l <"$work/man.txt")
  [[ -z "$warnings" && $lines -gt 20 ]] && pass "man $m renders without warnings ($lines lines)" \
    || fail "man $m: $lines lines, warnings: $warnings"
done
for o in $(/usr/bin/parallax --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  zcat /usr/share/man/man1/parallax.1.gz | grep -q -- "${o//-/\\\\-}" || fail "parallax(1) lacks $o"
done
for o in $(/usr/bin/parallax-probe --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  zcat /usr/share/man/man8/parallax-probe.8.gz | grep -q -- "${o//-/\\\\-}" || fail "parallax-probe(8) lacks $o"
done
pass "every --help flag is in its man page"
for f in prometheus/rules/parallax.rules.yml prometheus/rules/parallax.rules.test.yml \
         prometheus/prometheus.yml alertmanager/alertmanager.yml grafana/parallax.json make-certs.sh; do
  [[ -f /usr/share/parallax/$f ]] && pass "/usr/share/parallax/$f" || fail "/usr/share/parallax/$f missing"
done
if command -v promtool >/dev/null; then
  promtool check config /usr/share/parallax/prometheus/prometheus.yml >/dev/null 2>&1 \
    && pass "promtool check config (installed copy, with its rules)" || fail "promtool check config"
  (cd /usr/share/parallax/prometheus/rules && promtool test rules parallax.rules.test.yml >/dev/null 2>&1) \
    && pass "promtool test rules (installed copy)" || fail "promtool test rules"
fi
if command -v amtool >/dev/null; then
  amtool check-config /usr/share/parallax/alertmanager/alertmanager.yml >/dev/null 2>&1 \
    && pass "amtool check-config (installed copy)" || fail "amtool check-config"
fi
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' /usr/share/parallax/grafana/parallax.json \
  && pass "grafana dashboard parses" || fail "grafana dashboard"

# DEPLOY.md's firewall: the nftables ruleset it shows is valid (checked, not loaded).
python3 - "$root/docs/DEPLOY.md" >"$work/fw.nft" <<'PY'
import re, sys
m = re.search(r"```nft\n(.*?)```", open(sys.argv[1]).read(), re.S)
print(m.group(1) if m else "")
PY
if [[ ! -s "$work/fw.nft" ]] || ! grep -q 'dport 7420' "$work/fw.nft"; then
  fail "docs/DEPLOY.md has no nft block opening 7420"
elif command -v nft >/dev/null; then
  out=$(nft -c -f "$work/fw.nft" 2>&1) && pass "DEPLOY.md's nftables rules pass nft -c" || fail "nft -c: $out"
fi

# ---------------------------------------------------------------- 3. run
# The units' lines, run as systemd would (User=, capabilities, environment).
unit_value() { sed -n "s/^$2=//p" "$1" | head -1; }
as_unit() {  # as_unit UNIT CMDLINE: runs CMDLINE (systemd $VAR syntax) as the unit would
  local unit=$1 line=$2 user caps=(--no-new-privs)
  user=$(unit_value "$unit" User)
  # CapabilityBoundingSet= / AmbientCapabilities= of the unit: none, or CAP_NET_RAW.
  if grep -q '^AmbientCapabilities=CAP_NET_RAW$' "$unit"; then
    caps+=(--bounding-set -all,+net_raw --inh-caps +net_raw --ambient-caps +net_raw)
  elif grep -q '^CapabilityBoundingSet=$' "$unit"; then
    caps+=(--bounding-set -all)
  else
    echo "as_unit: $unit has capabilities this test does not know" >&2
    return 99
  fi
  # Called in a subshell (`as_unit ... &` or `(as_unit ...)`): it execs.
  {
    cd "$(unit_value "$unit" WorkingDirectory)" || exit 99
    umask "$(unit_value "$unit" UMask)"
    # EnvironmentFile= as systemd reads it: KEY=VALUE, the value is the rest of the line.
    envfile=$(unit_value "$unit" EnvironmentFile)
    if [[ -n "$envfile" ]]; then
      while IFS= read -r l; do
        [[ $l =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        k=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]}
        [[ $v =~ ^\"(.*)\"$ ]] && v=${BASH_REMATCH[1]}
        export "$k=$v"
      done <"${envfile#-}"
    fi
    # systemd: ${VAR} is one word, $VAR splits on whitespace.
    line=$(sed -E 's/\$\{([A-Z_]+)\}/"$\1"/g' <<<"$line")
    eval "exec setpriv --reuid=$user --regid=$user --init-groups ${caps[*]} $line"
  }
}
ssh_port=$(free_port)
ssh-keygen -q -t ed25519 -N "" -f "$work/hostkey"
mkdir -p /run/sshd
printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM no\nPasswordAuthentication no\n' \
  "$ssh_port" "$work/hostkey" "$work/sshd.pid" >"$work/sshd_config"
/usr/sbin/sshd -D -r -e -f "$work/sshd_config" 2>"$work/sshd.log" &
pids+=($!)
closed_port=$(free_port) grpc=$(free_port) metrics=$(free_port)

# Certificates (DEPLOY.md step 1), with the packaged script.
/usr/share/parallax/make-certs.sh -o "$work/certs" -c localhost,127.0.0.1 -a me site1 >/dev/null \
  || fail "make-certs.sh"
install -d -m 0750 -g parallax-collector /etc/parallax/tls
install -m 0640 -g parallax-collector "$work"/certs/{ca.pem,collector.pem,collector.key} /etc/parallax/tls/
install -m 0640 -o parallax-probe -g parallax-probe "$work/certs/ca.pem" /var/lib/parallax-probe/ca.pem
install -m 0640 -o parallax-probe -g parallax-probe "$work/certs/probe-site1.pem" /var/lib/parallax-probe/probe.pem
install -m 0600 -o parallax-probe -g parallax-probe "$work/certs/probe-site1.key" /var/lib/parallax-probe/probe.key

# The packaged example, uncommented, with loopback addresses and targets.
python3 - "$work/uncommented.yaml" /etc/parallax/collector.yaml "$grpc" "$metrics" "$ssh_port" "$closed_port" <<'PY'
import re, sys
src, dst, grpc, metrics, ssh, closed = sys.argv[1:]
text = open(src).read()
text = re.sub(r'(?m)^listen: .*$', 'listen: 127.0.0.1:' + grpc, text)
text = re.sub(r'(?m)^metrics_listen: .*$', 'metrics_listen: 127.0.0.1:' + metrics, text)
text = re.sub(r'(?m)^interval: .*$', 'interval: 1s', text)
text = re.sub(r'(?m)^timeout: .*$', 'timeout: 1s', text)
text = text[:text.index('\ntargets:')] + '''
diagnosis: {hysteresis: 1}
targets:
  - {name: web1, host: 127.0.0.1, port: %s}
  - {name: db1, host: 127.0.0.1, port: %s}
''' % (ssh, closed)
open(dst, 'w').write(text)
PY
grep -q '^storage:' /etc/parallax/collector.yaml && grep -q 'client_ca: /etc/parallax/tls/ca.pem' /etc/parallax/collector.yaml \
  || fail "the uncommented example lost its storage/tls sections"
pre=$(unit_value $c ExecStartPre)
(as_unit $c "$pre") >/dev/null 2>"$work/pre.log" && pass "collector ExecStartPre (--check-config)" \
  || fail "ExecStartPre: $(cat "$work/pre.log")"
as_unit $c "$(unit_value $c ExecStart)" 2>"$work/collector.log" &
collector_pid=$!
pids+=($collector_pid)
# The probe only after the collector listens (as DEPLOY.md orders them): a
# probe started first backs off between refused connects, and under load
# (the sanitizer builds beside the tests) that backoff outlasted the wait
# below once.
for _ in $(seq 1 60); do
  grep -q "gRPC on" "$work/collector.log" && break
  sleep 0.5
done

# The probe (DEPLOY.md step 3): probe.conf from the packaged example.
# DEPLOY.md: install -D (a probe-only host has no /etc/parallax yet), then edit.
install -D -m 0644 /usr/share/doc/parallax-probe/examples/probe.conf /etc/parallax/probe.conf
sed -i -e "s/^PARALLAX_COLLECTOR=.*/PARALLAX_COLLECTOR=localhost:$grpc/" \
    -e 's/^PARALLAX_PROBE_NAME=.*/PARALLAX_PROBE_NAME=site1/' \
    -e 's/network=isp-a/network=lo --allow-loopback/' /etc/parallax/probe.conf  # the test's targets are on loopback
as_unit $p "$(unit_value $p ExecStart)" 2>"$work/probe.log" &
probe_pid=$!
pids+=($probe_pid)

# The installed CLI, configured once in ~/.config/parallax/cli.yaml.
export HOME=$work/home
mkdir -p "$HOME/.config/parallax"
cat >"$HOME/.config/parallax/cli.yaml" <<YAML
collector: localhost:$grpc
ca: $work/certs/ca.pem
cert: $work/certs/admin-me.pem
key: $work/certs/admin-me.key
YAML
ok=0
for _ in $(seq 1 120); do
  if /usr/bin/parallax explain web1 >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.5
done
((ok)) && pass "installed CLI: parallax explain web1 exits 0 (ok, via mTLS)" || {
  fail "web1 never diagnosed ok"
  tail -n 20 "$work/collector.log" "$work/probe.log"
}
out=$(/usr/bin/parallax probes 2>&1) && [[ "$out" == *site1*network=lo*yes* ]] \
  && pass "parallax probes: site1 connected" || fail "parallax probes: $out"
for _ in $(seq 1 60); do
  out=$(/usr/bin/parallax explain db1 -o json 2>&1)
  rc=$?
  [[ "$out" == *'"cause": "ssh_refused"'* ]] && break
  sleep 0.5
done
[[ "$out" == *'"cause": "ssh_refused"'* && $rc == 1 ]] && pass "db1 diagnosed ssh_refused, exit 1" \
  || fail "db1 (exit $rc): $out"
capamb=$(awk '/^CapAmb/ {print $2}' /proc/$probe_pid/status 2>/dev/null)
[[ "$(ps -o user:32= -p "$probe_pid")" == parallax-probe && $capamb == 0000000000002000 ]] \
  && pass "probe runs as parallax-probe with CAP_NET_RAW only (CapAmb $capamb)" \
  || fail "probe runs as $(ps -o user:32= -p "$probe_pid"), CapAmb $capamb"
[[ "$(ps -o user:32= -p "$collector_pid")" == parallax-collector ]] && pass "collector runs as parallax-collector" \
  || fail "collector runs as $(ps -o user:32= -p "$collector_pid")"
expect_mode /var/lib/parallax-collector/parallax.db "640 parallax-collector:parallax-collector"
curl -fsS "http://127.0.0.1:$metrics/metrics" | grep '^parallax_' >/dev/null && pass "/metrics answers" || fail "/metrics"

# Reload as the unit does (ExecReload): a new target appears.
printf '  - {name: added, host: 127.0.0.1, port: %s}\n' "$ssh_port" >>/etc/parallax/collector.yaml
reload=$(unit_value $c ExecReload)
MAINPID=$collector_pid
eval "${reload//\$MAINPID/$collector_pid}"
for _ in $(seq 1 30); do /usr/bin/parallax status added >/dev/null 2>&1 && break; sleep 0.5; done
/usr/bin/parallax status added >/dev/null 2>&1 && pass "ExecReload (SIGHUP) applied the new config" \
  || fail "reload: target 'added' not served"

# DEPLOY.md's backup, as the collector's user, while it runs.
install -d -m 0750 -o parallax-collector -g parallax-collector "$work/backup"
runuser -u parallax-collector -- sqlite3 /var/lib/parallax-collector/parallax.db \
  ".backup $work/backup/parallax.db" && \
  [[ $(sqlite3 "$work/backup/parallax.db" 'pragma integrity_check') == ok ]] \
  && pass "sqlite3 .backup of the live database" || fail "backup"

# Bash completion, as installed.
comp=$(HOME=$HOME bash -c '. /usr/share/bash-completion/completions/parallax
  COMP_WORDS=(parallax st); COMP_CWORD=1; _parallax; echo "${COMPREPLY[*]}"
  COMP_WORDS=(parallax explain w); COMP_CWORD=2; _parallax; echo "${COMPREPLY[*]}"
  COMP_WORDS=(parallax status -o j); COMP_CWORD=3; _parallax; echo "${COMPREPLY[*]}"')
[[ "$comp" == $'status\nweb1\njson' ]] && pass "bash completion: commands, targets from the collector, -o" \
  || fail "bash completion gave: $comp"

kill "$probe_pid" "$collector_pid" 2>/dev/null
wait "$probe_pid" "$collector_pid" 2>/dev/null

# ---------------------------------------------------------------- 4. purge
apt-get purge -y -q parallax-probe parallax-collector parallax-cli >"$work/purge.log" 2>&1 \
  && { installed=0; pass "apt-get purge"; } || { cat "$work/purge.log"; fail "apt-get purge"; }
left=$(dpkg-query -W -f='${Package} ${Status}\n' 'parallax-*' 2>/dev/null | grep -v 'not-installed')
[[ -z "$left" ]] && pass "no package state left" || fail "dpkg still knows: $left"
for f in /usr/bin/parallax /usr/bin/parallax-probe /usr/bin/parallax-collector /usr/share/parallax \
         /lib/systemd/system/parallax-probe.service /lib/systemd/system/parallax-collector.service \
         /etc/systemd/system/multi-user.target.wants/parallax-probe.service \
         /etc/systemd/system/multi-user.target.wants/parallax-collector.service \
         /var/lib/parallax-probe /var/lib/parallax-collector /etc/parallax/collector.yaml \
         /etc/parallax/probe.conf /usr/share/man/man1/parallax.1.gz /usr/share/doc/parallax-cli \
         /usr/share/bash-completion/completions/parallax; do
  [[ -e $f || -L $f ]] && fail "$f left after purge"
done
rest=$(cd /etc/parallax 2>/dev/null && ls -A)
[[ "$rest" == tls ]] && pass "/etc/parallax holds only the admin's tls/ after purge" || fail "/etc/parallax after purge: '$rest'"
getent passwd parallax-probe >/dev/null && getent passwd parallax-collector >/dev/null \
  && pass "system users kept (Debian practice)" || fail "system users removed by purge"
echo "package-test-seconds: $(( $(date +%s) - t0 )) (build $((t1 - t0)), lintian $((t2 - t1)))"
echo "install_test: $failures failure(s)"
((failures == 0))
