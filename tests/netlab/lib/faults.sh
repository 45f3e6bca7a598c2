# shellcheck shell=bash
# Faults of the lab, each with its raw network effect, and their undo. Sourced by lab.sh.
#
# Contract: an active fault is a file $STATE/faults/SUBJECT/SLOT holding the command that
# made it (SUBJECT is a target such as t1 or a network such as isp-b). One fault per slot:
#   service   sshd-stop | sshd-port P | tarpit | not-ssh | maxstartups  (what answers on tcp/22)
#   firewall  fw-reject | fw-reject-rst | fw-reject-icmp | fw-drop | fw-https-only
#                                                            (nft table netlab_fw, target)
#   ban-PROBE ban PROBE drop|reject                          (nft table netlab_ban_PROBE)
#   offline   offline unreach|silent                         (link down; dc table for silent)
#   path      path-prohibit                                  (core: nft table netlab_path_T)
#   egress    egress-block (subject: a probe)                (its site router: netlab_egress_P)
#   isp-block / site-down                                    (site router)
#   dns-SITE  dns-stale SITE ADDR   that site's dnsmasq answers ADDR for T's name
#   intercept hostkey-site SITE     that site's router redirects tcp/22 to T to its own sshd
# (service also holds hostkey-swap, sshd with a second host key, and fail2ban N: sshd
# logging in syslog format read by a real fail2ban in T's namespace that bans after N.)
# A new fault in a slot replaces the old one. clear_subject undoes every slot of a subject.

fault_file() { echo "$STATE/faults/$1/$2"; }

record_fault() {  # SUBJECT SLOT TEXT...
  local s="$1" slot="$2"
  shift 2
  mkdir -p "$STATE/faults/$s"
  echo "$*" >"$(fault_file "$s" "$slot")"
}

# nft_table NS NAME RULES: (re)defines "table inet NAME" in NS with the given body.
nft_table() {
  local ns="$1" name="$2" body="$3"
  nsx "$ns" nft -f - <<EOF || die "nft failed for table $name in $ns"
table inet $name
delete table inet $name
table inet $name {
$body
}
EOF
}

nft_drop_table() { nsx "$1" nft delete table inet "$2" 2>/dev/null || true; }

# chain HOOK RULE: a base chain "HOOK" (input or forward) holding RULE.
chain() {
  printf '  chain %s {\n    type filter hook %s priority 0; policy accept;\n%s\n  }' \
    "$1" "$1" "$2"
}
input_chain() { chain input "$1"; }
forward_chain() { chain forward "$1"; }

# --- service faults (what answers on tcp/22) ---------------------------------------------
stop_port22() {  # stops whatever a target runs for ssh
  stop_service "$1" holder
  stop_service "$1" fail2ban
  nft_drop_table "${HOST_NS[$1]}" f2b-table  # fail2ban's own (action nftables), if left
  stop_service "$1" sshd
  stop_service "$1" alt22
}

fault_sshd_stop() {
  target_or_die "$1"
  stop_port22 "$1"
  record_fault "$1" service sshd-stop
}

fault_sshd_port() {
  local t="$1" p="${2:-}"
  target_or_die "$t"
  if ! [[ "$p" =~ ^[1-9][0-9]{0,4}$ ]] || ((p > 65535 || p == 22 || p == 80)); then
    die "sshd-port: port '$p' is invalid: expected 1-65535, not 22 or 80"
  fi
  stop_port22 "$t"
  record_fault "$t" service sshd-port "$p"
  start_sshd "$t" "$p"
}

fault_listener22() {  # tarpit | not-ssh
  local t="$1" kind="$2" mode
  target_or_die "$t"
  [[ "$kind" == tarpit ]] && mode=tarpit || mode=http
  stop_port22 "$t"
  record_fault "$t" service "$kind"
  start_listener "$t" alt22 "$mode" 22
}

# sshd whose MaxStartups (1:100:1) one held, never authenticating connection uses up: every
# other connection gets sshd's own "Exceeded MaxStartups" line and is closed.
fault_maxstartups() {
  local t="$1" i
  target_or_die "$t"
  stop_port22 "$t"
  record_fault "$t" service maxstartups
  start_sshd "$t" 22 1:100:1 0
  : >"$(host_dir "$t")/holder.log"
  start_service "$t" holder "$PY" "$NETLAB_DIR/netlab_listen.py" hold 22 "$t"
  for ((i = 0; i < 100; i++)); do
    grep -q '^holding SSH-' "$(host_dir "$t")/holder.log" 2>/dev/null && return 0
    service_alive "$t" holder || break
    sleep 0.05
  done
  die "maxstartups: the holder on $t holds no sshd connection after 5 s; last log lines:
$(tail -n 5 "$(host_dir "$t")/holder.log" 2>/dev/null)"
}

# hostkey-swap T: sshd restarted with a second host key (a rebuilt host, or a replaced one):
# every vantage point sees the other key.
fault_hostkey_swap() {
  target_or_die "$1"
  stop_port22 "$1"
  record_fault "$1" service hostkey-swap
  SSHD_KEY=ssh_host_ed25519_key_swapped start_sshd "$1" 22
}

# fail2ban T [MAXRETRY]: a real fail2ban (Debian's, its config copied from /etc/fail2ban to
# T's dir) in T's namespace: jail sshd in mode aggressive, action nftables-multiport (reject:
# ICMP port unreachable), maxretry MAXRETRY (default 6) within findtime 60 s, bantime 10 min,
# reading sshd's log in syslog format (sshd -e through netlab_syslog.py, a fresh auth.log).
# Socket, pid file, log and database (in memory) stay in T's dir. Returns once the jail runs.
fault_fail2ban() {
  local t="$1" maxretry="${2:-6}" dir f i
  target_or_die "$t"
  [[ "$maxretry" =~ ^[1-9][0-9]{0,2}$ ]] || die "fail2ban: MAXRETRY '$maxretry' is invalid: 1-999"
  command -v fail2ban-server >/dev/null 2>&1 ||
    die "fail2ban: fail2ban-server is missing (Debian: fail2ban)"
  stop_port22 "$t"
  record_fault "$t" service fail2ban "$maxretry"
  dir="$(host_dir "$t")"
  f="$dir/fail2ban"
  rm -rf "$f"
  mkdir -p "$f/jail.d" "$f/fail2ban.d"
  cp -r /etc/fail2ban/action.d /etc/fail2ban/filter.d /etc/fail2ban/fail2ban.conf \
    /etc/fail2ban/jail.conf /etc/fail2ban/paths-common.conf /etc/fail2ban/paths-debian.conf "$f/" ||
    die "fail2ban: cannot copy /etc/fail2ban"
  cat >"$f/fail2ban.local" <<EOF
[Definition]
loglevel = INFO
logtarget = $f/fail2ban.log
socket = $f/fail2ban.sock
pidfile = $f/fail2ban.pid
dbfile = :memory:
allowipv6 = auto
EOF
  cat >"$f/jail.local" <<EOF
# Parallax netlab: fail2ban of $t (lab $LAB_ID)
[DEFAULT]
banaction = nftables-multiport
banaction_allports = nftables-allports

[sshd]
enabled = true
mode = aggressive
port = 22
logpath = $dir/auth.log
backend = polling
maxretry = $maxretry
findtime = 60
bantime = 600
EOF
  : >"$dir/auth.log"
  SSHD_SYSLOG="$dir/auth.log" start_sshd "$t" 22
  start_service "$t" fail2ban fail2ban-server -f -x -c "$f" -s "$f/fail2ban.sock" \
    -p "$f/fail2ban.pid"
  for ((i = 0; i < 200; i++)); do
    f2b_client "$t" status sshd >/dev/null 2>&1 && return 0
    service_alive "$t" fail2ban || break
    sleep 0.1
  done
  die "fail2ban on $t: jail sshd not running after 20 s; last log lines:
$(tail -n 5 "$f/fail2ban.log" "$dir/fail2ban.log" 2>/dev/null)"
}

# fail2ban-client of T's fail2ban (its config dir and socket).
f2b_client() {
  local t="$1" f
  shift
  f="$(host_dir "$t")/fail2ban"
  nsx "${HOST_NS[$t]}" fail2ban-client -c "$f" -s "$f/fail2ban.sock" "$@"
}

# fail2ban-ignoreip T LINE: LINE ("ignoreip = ADDRESS ...", e.g. from `parallax probes
# --ignoreip`) in [DEFAULT] of T's fail2ban (jail.d/parallax-probes.local), reload, unban
# everyone: the recipe of docs/OPERATIONS.md.
fault_f2b_ignoreip() {
  local t="$1" line="$2" f
  target_or_die "$t"
  [[ "$(cat "$STATE/faults/$t/service" 2>/dev/null)" == fail2ban* ]] ||
    die "fail2ban-ignoreip: no fail2ban fault on $t"
  [[ "$line" =~ ^ignoreip\ =\ [0-9A-Fa-f.:/\ ]+$ ]] ||
    die "fail2ban-ignoreip: '$line' is not an 'ignoreip = ADDRESS...' line"
  f="$(host_dir "$t")/fail2ban"
  printf '[DEFAULT]\n%s\n' "$line" >"$f/jail.d/parallax-probes.local"
  f2b_client "$t" reload >/dev/null || die "fail2ban-ignoreip: reload failed"
  f2b_client "$t" unban --all >/dev/null || die "fail2ban-ignoreip: unban --all failed"
}

undo_service() {
  stop_port22 "$1"
  rm -f "$(fault_file "$1" service)"
  start_sshd "$1" 22
}

# --- host firewall faults ----------------------------------------------------------------
# fw-reject: nftables' plain reject, i.e. ICMP port unreachable from the host itself (what
# the kernel sends for a closed UDP port; for TCP the telltale of a REJECT rule).
# fw-https-only: a cloud default: everything dropped (ICMP echo, SSH, :80, closed ports)
# but tcp/443, where a listener answers (plain HTTP: liveness checks only connect).
fault_firewall() {  # T fw-reject|fw-reject-rst|fw-reject-icmp|fw-drop|fw-https-only
  local t="$1" kind="$2" rules
  target_or_die "$t"
  stop_service "$t" https443
  case "$kind" in
    fw-reject) rules="    tcp dport 22 reject" ;;
    fw-reject-rst) rules="    tcp dport 22 reject with tcp reset" ;;
    fw-reject-icmp) rules="    tcp dport 22 reject with icmpx type admin-prohibited" ;;
    fw-drop) rules="    tcp dport 22 drop" ;;
    fw-https-only)
      start_listener "$t" https443 http 443
      rules="    iif lo accept
    tcp dport 443 accept
    drop"
      ;;
    *) die "unknown firewall fault '$kind'" ;;
  esac
  nft_table "${HOST_NS[$t]}" netlab_fw "$(input_chain "$rules")"
  record_fault "$t" firewall "$kind"
}

undo_firewall() {
  nft_drop_table "${HOST_NS[$1]}" netlab_fw
  stop_service "$1" https443
  rm -f "$(fault_file "$1" firewall)"
}

# --- on the path -------------------------------------------------------------------------
# path-prohibit T: the core router rejects tcp/22 to T with ICMP administratively prohibited
# (type 3 code 13), sent from its own address on the probe's side.
fault_path_prohibit() {
  local t="$1"
  target_or_die "$t"
  nft_table "$L-core" "netlab_path_$t" \
    "$(forward_chain "    ip daddr ${HOST_ADDR[$t]} tcp dport 22 reject with icmp type admin-prohibited")"
  record_fault "$t" path path-prohibit
}

undo_path() {
  nft_drop_table "$L-core" "netlab_path_$1"
  rm -f "$(fault_file "$1" path)"
}

# egress-block P: the site router of probe P drops tcp/22 from P alone (a corporate egress
# filter in front of one machine); everything else of P, and its network peers, pass.
fault_egress_block() {
  local p="$1" s
  probe_or_die "$p"
  s="$(site_of_net "${HOST_NET[$p]}")"
  nft_table "$L-r$s" "netlab_egress_$p" \
    "$(forward_chain "    ip saddr ${HOST_ADDR[$p]} tcp dport 22 drop")"
  record_fault "$p" egress egress-block
}

undo_egress() {
  local s
  s="$(site_of_net "${HOST_NET[$1]}")"
  nft_drop_table "$L-r$s" "netlab_egress_$1"
  rm -f "$(fault_file "$1" egress)"
}

fault_ban() {  # T PROBE [drop|reject]
  local t="$1" p="${2:-}" mode="${3:-drop}" verdict
  target_or_die "$t"
  [[ -n "$p" ]] || die "ban: missing PROBE (usage: ban T PROBE [drop|reject])"
  probe_or_die "$p"
  case "$mode" in
    drop) verdict=drop ;;
    reject) verdict="reject with icmpx type port-unreachable" ;;
    *) die "ban: mode '$mode' is invalid: expected drop or reject" ;;
  esac
  nft_table "${HOST_NS[$t]}" "netlab_ban_$p" \
    "$(input_chain "    ip saddr ${HOST_ADDR[$p]} $verdict")"
  record_fault "$t" "ban-$p" ban "$p" "$mode"
}

undo_ban() {  # T SLOT
  nft_drop_table "${HOST_NS[$1]}" "netlab_$(tr - _ <<<"$2")"
  rm -f "$(fault_file "$1" "$2")"
}

# --- what a site sees: DNS and interception ----------------------------------------------
# dns-stale T SITE [ADDR]: SITE's resolver answers ADDR for tN.netlab.test (default the
# "old address" 10.X.10.(100+N), where nothing answers); the other sites keep T's address.
# Returns once a probe host of SITE resolves the name to ADDR.
fault_dns_stale() {
  local t="$1" net="${2:-}" addr="${3:-}" s p i got=""
  target_or_die "$t"
  s="$(site_of_net "$net")"
  [[ -n "$addr" ]] || addr="10.$OCTET.10.$((100 + ${t#t}))"
  [[ "$addr" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "dns-stale: '$addr' is not an IPv4 address"
  [[ -f "$(host_dir "r$s")/dns.hosts" ]] || die "dns-stale: no lab DNS (dnsmasq missing?)"
  record_fault "$t" "dns-$net" dns-stale "$net" "$addr"
  dns_hosts_write "$s"
  p="${SITE_PROBES[$s]%% *}"
  for ((i = 0; i < 50; i++)); do
    got="$(nsx "${HOST_NS[$p]}" "$PY" -c \
      'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' "$t.$DNS_ZONE" \
      2>/dev/null || true)"
    [[ "$got" == "$addr" ]] && return 0
    sleep 0.1
  done
  die "dns-stale: $p still resolves $t.$DNS_ZONE to '$got', not $addr"
}

undo_dns() {  # T SLOT (dns-SITE)
  rm -f "$(fault_file "$1" "$2")"
  dns_hosts_write "$(site_of_net "${2#dns-}")"
}

# hostkey-site T SITE: SITE's router redirects tcp/22 to T (nat prerouting, table
# netlab_hk_T) to an sshd of its own with another host key (service hk-T of the router,
# port 2200+N): that site's probes read SSH with a different key, the others T's own.
fault_hostkey_site() {
  local t="$1" net="${2:-}" s r port
  target_or_die "$t"
  s="$(site_of_net "$net")"
  r="r$s"
  port=$((2200 + ${t#t}))
  undo_intercept "$t"
  record_fault "$t" intercept hostkey-site "$net"
  SSHD_NAME="hk-$t" SSHD_KEY="hk-$t-key" start_sshd "$r" "$port"
  nsx "$L-$r" nft -f - <<EOF || die "nft failed for table netlab_hk_$t in $L-$r"
table ip netlab_hk_$t
delete table ip netlab_hk_$t
table ip netlab_hk_$t {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${HOST_ADDR[$t]} tcp dport 22 redirect to :$port
  }
}
EOF
}

undo_intercept() {  # T
  local f net r
  f="$(fault_file "$1" intercept)"
  [[ -f "$f" ]] || return 0
  read -r _ net <"$f"
  r="r$(site_of_net "$net")"
  nsx "$L-$r" nft delete table ip "netlab_hk_$1" 2>/dev/null || true
  stop_service "$r" "hk-$1"
  rm -f "$f"
}

# --- offline: the server is gone ---------------------------------------------------------
fault_offline() {  # T [unreach|silent]
  local t="$1" mode="${2:-unreach}"
  target_or_die "$t"
  [[ "$mode" == unreach || "$mode" == silent ]] ||
    die "offline: mode '$mode' is invalid: expected unreach or silent"
  undo_offline "$t"
  record_fault "$t" offline offline "$mode"
  if [[ "$mode" == silent ]]; then
    nft_table "$L-dc" "netlab_off_$t" "$(forward_chain "    ip daddr ${HOST_ADDR[$t]} drop")"
  fi
  ip -n "${HOST_NS[$t]}" link set "$L-dc" down
  # The router forgets the host's MAC address, as it would once the entry goes stale.
  ip -n "$L-dc" neigh del "${HOST_ADDR[$t]}" dev "$L-br" 2>/dev/null || true
}

undo_offline() {
  nft_drop_table "$L-dc" "netlab_off_$1"
  rm -f "$(fault_file "$1" offline)"
  ip -n "${HOST_NS[$1]}" link set "$L-dc" up
  route "${HOST_NS[$1]}" default "10.$OCTET.10.1"
}

# --- site faults -------------------------------------------------------------------------
fault_isp_block() {
  local net="$1" s
  s="$(site_of_net "$net")"
  nft_table "$L-r$s" netlab_isp_block "$(forward_chain "    tcp dport 22 drop")"
  record_fault "$net" isp-block isp-block
}

undo_isp_block() {
  local s
  s="$(site_of_net "$1")"
  nft_drop_table "$L-r$s" netlab_isp_block
  rm -f "$(fault_file "$1" isp-block)"
}

fault_site_down() {
  local net="$1" s
  s="$(site_of_net "$net")"
  record_fault "$net" site-down site-down
  ip -n "$L-r$s" link set "$L-core" down
  ip -n "$L-core" link set "$L-r$s" down
}

undo_site_down() {
  local s k
  s="$(site_of_net "$1")"
  k="${SITE_NUM[$s]}"
  rm -f "$(fault_file "$1" site-down)"
  ip -n "$L-r$s" link set "$L-core" up
  ip -n "$L-core" link set "$L-r$s" up
  route "$L-r$s" default "10.$OCTET.10$k.1"
  route "$L-core" "10.$OCTET.$k.0/24" "10.$OCTET.10$k.2"
}

# --- clear -------------------------------------------------------------------------------
clear_subject() {
  local s="$1" f slot
  [[ -d "$STATE/faults/$s" ]] || return 0
  for f in "$STATE/faults/$s"/*; do
    [[ -f "$f" ]] || continue
    slot="${f##*/}"
    case "$slot" in
      service) undo_service "$s" ;;
      firewall) undo_firewall "$s" ;;
      ban-*) undo_ban "$s" "$slot" ;;
      offline) undo_offline "$s" ;;
      path) undo_path "$s" ;;
      egress) undo_egress "$s" ;;
      isp-block) undo_isp_block "$s" ;;
      site-down) undo_site_down "$s" ;;
      dns-*) undo_dns "$s" "$slot" ;;
      intercept) undo_intercept "$s" ;;
      *) die "unknown fault slot '$slot' in $f" ;;
    esac
  done
  rmdir "$STATE/faults/$s" 2>/dev/null || true
}

clear_faults() {  # [SUBJECT]
  local d
  if [[ -n "${1:-}" ]]; then
    if [[ "$1" != isp-* ]]; then host_or_die "$1"; else site_of_net "$1" >/dev/null; fi
    clear_subject "$1"
    return 0
  fi
  for d in "$STATE/faults"/*; do
    [[ -d "$d" ]] && clear_subject "${d##*/}"
  done
  return 0
}

list_faults() {  # prints "SUBJECT FAULT..." per active fault
  local f s
  for f in "$STATE/faults"/*/*; do
    [[ -f "$f" ]] || continue
    s="${f%/*}"
    echo "${s##*/} $(cat "$f")"
  done
}
