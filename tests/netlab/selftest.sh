#!/usr/bin/env bash
# Self-test of the Parallax network lab: builds a private lab, proves every fault has its raw
# network effect from the relevant probe hosts, clears it, and proves `down` leaves nothing.
# Exit 0 pass, 1 fail, 77 skip (not root, no namespaces, missing tool). Traffic stays inside
# the lab's own namespaces. Every wait is bounded by the probe timeouts (1.5-3 s).
# pass/fail always succeed, so "cond && pass || fail" is an if-then-else here.
# shellcheck disable=SC2015
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB="$HERE/lab.sh"
START=$(date +%s)

skip() {
  echo "netlab selftest: SKIP: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, nftables)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "'ip netns' is unavailable"
for tool in nft:nftables sshd:openssh-server ssh-keygen:openssh-client ss:iproute2 \
  ping:iputils-ping python3:python3 flock:util-linux setsid:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${tool%%:*}" ]] ||
    skip "missing '${tool%%:*}' (Debian package ${tool#*:})"
done

export LAB_ID="st$(($$ % 1000000))"
export NETLAB_STATE="/tmp/parallax-netlab-$LAB_ID"
unset NETLAB_TARGETS NETLAB_OCTET
trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM HUP  # so that the EXIT trap runs

ip netns add "$LAB_ID-try" 2>/dev/null || skip "cannot create a network namespace"
ip netns del "$LAB_ID-try"

FAILS=0
pass() { echo "PASS $*"; }
fail() {
  echo "FAIL $*"
  FAILS=$((FAILS + 1))
}

# expect FROM TO PORT OUTCOME [MAX_MS] [probe options]: the probe's outcome word is OUTCOME
# (and it came within MAX_MS when given, e.g. "refused is immediate"; 0 = no bound).
expect() {
  local from="$1" to="$2" port="$3" want="$4" max="${5:-0}" out got ms
  shift 5 || shift $#
  out="$("$LAB" probe "$from" "$to" "$port" --timeout 1.5 "$@" 2>&1)" || true
  read -r got ms _ <<<"$out"
  if [[ "$got" != "$want" ]]; then
    fail "$from -> $to:$port: want $want, got '$out'"
  elif ((max > 0 && ms > max)); then
    fail "$from -> $to:$port: $want took ${ms} ms, want <= $max ms"
  else
    pass "$from -> $to:$port: $out"
  fi
}

# expect_line FROM TO PORT PREFIX [probe options]: the first line back starts with PREFIX.
expect_line() {
  local from="$1" to="$2" port="$3" prefix="$4" out
  shift 4
  out="$("$LAB" probe "$from" "$to" "$port" --timeout 2 "$@" 2>&1)" || true
  if [[ "$out" =~ ^line\ [0-9]+\ (.*)$ && "${BASH_REMATCH[1]}" == "$prefix"* ]]; then
    pass "$from -> $to:$port: $out"
  else
    fail "$from -> $to:$port: want a line starting '$prefix', got '$out'"
  fi
}

expect_ssh() { expect_line "$1" "$2" 22 "SSH-2.0-OpenSSH"; }

# expect_icmp FROM TO OUTCOME SENDER: the connect to TO:22 failed at once with OUTCOME, because
# of an ICMP error from SENDER ("icmp 3/3 from ADDR" in the probe's detail); SENDER "-": the
# failure came with no ICMP error at all (a TCP reset).
expect_icmp() {
  local from="$1" to="$2" want="$3" sender="$4" out got ms detail
  out="$("$LAB" probe "$from" "$to" 22 --timeout 1.5 2>&1)" || true
  read -r got ms detail <<<"$out"
  if [[ "$got" != "$want" ]] || ((ms > 1000)); then
    fail "$from -> $to:22: want $want at once, got '$out'"
  elif [[ "$sender" == - && "$detail" == *icmp* ]]; then
    fail "$from -> $to:22: want no ICMP error (a TCP reset), got '$out'"
  elif [[ "$sender" != - && "$detail" != *"icmp "*" from $sender" ]]; then
    fail "$from -> $to:22: want an ICMP error from $sender, got '$out'"
  else
    pass "$from -> $to:22: $out"
  fi
}

ping_ok() {  # FROM TO WANT(yes|no)
  local got=no
  "$LAB" exec "$1" ping -c 1 -W 1 "$("$LAB" addr "$2")" >/dev/null 2>&1 && got=yes
  [[ "$got" == "$3" ]] && pass "$1 ping $2: $got" || fail "$1 ping $2: want $3, got $got"
}

PROBES=(a1 b1 b2 c1)
TARGETS=(t1 t2 t3 t4)
ssh_everywhere() {
  local p t
  for p in "${PROBES[@]}"; do for t in "${TARGETS[@]}"; do expect_ssh "$p" "$t"; done; done
}

run() {  # a lab command that must succeed
  "$LAB" "$@" || fail "lab.sh $* exited non-zero"
}

echo "== up (lab $LAB_ID)"
"$LAB" up || { echo "FAIL lab.sh up"; exit 1; }
"$LAB" up || fail "second lab.sh up (idempotent) failed"
env_file="$("$LAB" env)"
roles="$(awk '{print $4}' "$env_file" | sort | uniq -c | xargs)"
[[ "$roles" == "1 collector 4 probe 5 router 4 target" ]] &&
  pass "lab.env roles: $roles" || fail "lab.env roles are '$roles': $(cat "$env_file")"
grep -q "^b2 $LAB_ID-b2 10\.[0-9]*\.2\.11 probe isp-b$" "$env_file" &&
  pass "lab.env line format" || fail "lab.env has no b2 line in format NAME NS ADDR ROLE NET"
ip -n "$LAB_ID-core" route get 192.0.2.1 >/dev/null 2>&1 &&
  fail "core router has a route out of the lab" || pass "lab is sealed (core has no way out)"

echo "== baseline"
ssh_everywhere
ping_ok a1 t1 yes
ping_ok c1 collector yes
expect b2 t3 80 connected 0 --connect-only

echo "== sshd-stop / sshd-port / host firewalls"
run sshd-stop t1
expect a1 t1 22 refused 1000
expect b1 t1 22 refused 1000
expect a1 t1 80 connected 0 --connect-only
run clear t1
expect_ssh a1 t1
run sshd-port t2 2222
expect a1 t2 22 refused 1000
expect_line a1 t2 2222 "SSH-2.0-OpenSSH"
T3="$("$LAB" addr t3)"
run fw-reject t3
expect_icmp b2 t3 refused "$T3"
ping_ok b2 t3 yes
run fw-reject-rst t3
expect_icmp b2 t3 refused -
run fw-reject-icmp t3
expect_icmp b2 t3 unreachable "$T3"
run fw-drop t4
expect c1 t4 22 timeout
ping_ok c1 t4 yes
expect c1 t4 80 connected 0 --connect-only
"$LAB" status | grep -q "t4 fw-drop" && pass "status shows fw-drop" ||
  fail "status lacks t4 fw-drop"
run fw-https-only t4
expect c1 t4 22 timeout
ping_ok c1 t4 no
expect c1 t4 80 timeout 0 --connect-only
expect c1 t4 65535 timeout 0 --connect-only
expect c1 t4 443 connected 0 --connect-only
run clear
for t in "${TARGETS[@]}"; do expect_ssh a1 "$t"; done
"$LAB" status | grep -q https443 && fail "https443 still runs after clear" ||
  pass "https443 stopped by clear"

echo "== path-prohibit / egress-block / maxstartups"
run path-prohibit t1
expect_icmp a1 t1 unreachable "$("$LAB" addr core | sed 's/\.100\.1$/.101.1/')"
expect_icmp c1 t1 unreachable "$("$LAB" addr core | sed 's/\.100\.1$/.103.1/')"
expect a1 t1 80 connected 0 --connect-only
expect_ssh a1 t2
run egress-block b1
for t in t1 t2; do expect b1 "$t" 22 timeout; done
expect b1 t2 80 connected 0 --connect-only
ping_ok b1 t2 yes
expect_ssh b2 t2
run maxstartups t2
expect_line a1 t2 22 "Exceeded MaxStartups"
expect_line c1 t2 22 "Exceeded MaxStartups" --send "SSH-2.0-OpenSSH_9.2 netlab-selftest"
run clear
ssh_everywhere

echo "== offline / isp-block / ban"
run offline t1
expect a1 t1 22 unreachable 0 --timeout 3
ping_ok a1 t1 no
run offline t2 silent
expect a1 t2 22 timeout
ping_ok a1 t2 no
run isp-block isp-b
expect b1 t3 22 timeout
expect b2 t3 22 timeout
expect b1 t3 80 connected 0 --connect-only
expect_ssh a1 t3
expect_ssh c1 t3
run clear isp-b
expect_ssh b1 t3
run ban t4 a1
expect a1 t4 22 timeout
expect_ssh b1 t4
run ban t4 a1 reject
expect a1 t4 22 refused 1000
expect_ssh c1 t4
run clear
ssh_everywhere

echo "== tarpit / not-ssh / site-down"
run tarpit t1
expect a1 t1 22 silent
run not-ssh t2
expect_line a1 t2 22 "HTTP/1.1 400" --send "SSH-2.0-OpenSSH_9.2 netlab-selftest"
run site-down isp-c
for t in "${TARGETS[@]}"; do
  out="$("$LAB" probe c1 "$t" 22 --timeout 1.5 2>&1)" || true
  [[ "$out" != line* ]] && pass "c1 (site down) -> $t: $out" || fail "c1 reached $t: $out"
done
ping_ok c1 collector no
expect_ssh a1 t3
expect_ssh b2 t4
run clear
ssh_everywhere

echo "== DNS / host keys / fail2ban"
# resolves FROM NAME WANT: FROM's resolver (its site's dnsmasq) answers WANT for NAME.
resolves() {
  local got
  got="$("$LAB" exec "$1" python3 -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' \
    "$2" 2>&1)" || true
  [[ "$got" == "$3" ]] && pass "$1 resolves $2 to $got" || fail "$1 resolves $2 to '$got', want $3"
}
# key_seen FROM T: the SHA256 fingerprint of T's ed25519 host key as FROM sees it.
key_seen() {
  "$LAB" exec "$1" ssh-keyscan -T 3 -t ed25519 "$("$LAB" addr "$2")" 2>/dev/null |
    ssh-keygen -lf - 2>/dev/null | awk '{print $2}'
}
key_file() { ssh-keygen -lf "$NETLAB_STATE/hosts/$1" | awk '{print $2}'; }
same_key() {  # WHAT GOT WANT
  [[ -n "$2" && "$2" == "$3" ]] && pass "$1: $2" || fail "$1: got '$2', want '$3'"
}
T1="$("$LAB" addr t1)"
resolves a1 t1.netlab.test "$T1"
resolves c1 t1.netlab.test "$T1"
run dns-stale t1 isp-a
resolves a1 t1.netlab.test "${T1%.*}.101"
resolves b2 t1.netlab.test "$T1"
run hostkey-site t2 isp-b
same_key "b1 sees t2 with isp-b's key" "$(key_seen b1 t2)" "$(key_file rb/hk-t2-key.pub)"
same_key "a1 sees t2 with its own key" "$(key_seen a1 t2)" \
  "$(key_file t2/ssh_host_ed25519_key.pub)"
run hostkey-swap t3
same_key "c1 sees t3 with its new key" "$(key_seen c1 t3)" \
  "$(key_file t3/ssh_host_ed25519_key_swapped.pub)"
run fail2ban t4 3
for _ in 1 2 3; do  # three probe-like connections: ident sent, closed after the banner
  expect_line b1 t4 22 "SSH-2.0-OpenSSH" --send "SSH-2.0-OpenSSH_9.2 netlab-selftest"
done
sleep 2  # fail2ban's polling backend reads the log each second
expect_icmp b1 t4 refused "$("$LAB" addr t4)"
expect_ssh a1 t4
"$LAB" fail2ban-client t4 status sshd | grep -q "Banned IP list:.*$("$LAB" addr b1)" &&
  pass "fail2ban on t4 banned b1" || fail "fail2ban on t4 has not banned b1"
run fail2ban-ignoreip t4 "ignoreip = 127.0.0.1/8 $("$LAB" addr b1)"
expect_ssh b1 t4
run clear
resolves a1 t1.netlab.test "$T1"
same_key "b1 sees t2 with its own key again" "$(key_seen b1 t2)" \
  "$(key_file t2/ssh_host_ed25519_key.pub)"
same_key "a1 sees t3 with its own key again" "$(key_seen a1 t3)" \
  "$(key_file t3/ssh_host_ed25519_key.pub)"
pgrep -f "fail2ban-server.*$NETLAB_STATE/" >/dev/null && fail "fail2ban still runs after clear" ||
  pass "fail2ban stopped by clear"
ssh_everywhere

echo "== down"
"$LAB" down || fail "lab.sh down exited non-zero"
left_ns="$(ip netns list | awk '{print $1}' | grep "^$LAB_ID-" || true)"
[[ -z "$left_ns" ]] && pass "no namespace left" || fail "namespaces left: $left_ns"
left_links="$(ip -o link show | awk -F': ' '{print $2}' | grep "^$LAB_ID-" || true)"
[[ -z "$left_links" ]] && pass "no link left" || fail "links left: $left_links"
left_procs=""
for p in /proc/[0-9]*; do
  cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
  [[ "$cmd" == *"$NETLAB_STATE/"* ]] && left_procs+="${p#/proc/} "
done
[[ -z "$left_procs" ]] && pass "no lab process left" || fail "lab processes left: $left_procs"
[[ ! -e "$NETLAB_STATE" ]] && pass "state dir removed" || fail "state dir $NETLAB_STATE left"
left_etc="$(ls -d /etc/netns/"$LAB_ID"-* 2>/dev/null || true)"
[[ -z "$left_etc" ]] && pass "no /etc/netns resolv.conf left" || fail "left: $left_etc"
"$LAB" down >/dev/null 2>&1 && pass "down on nothing is fine" || fail "down on nothing failed"

echo "netlab selftest: $FAILS failure(s) in $(($(date +%s) - START)) s"
((FAILS == 0))
