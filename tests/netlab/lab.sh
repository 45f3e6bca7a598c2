#!/usr/bin/env bash
# Parallax network lab: sealed network namespaces with three ISP sites, a core router and a
# datacentre of sshd targets, plus one-command network faults. See README.md beside this file.
#
# Usage: lab.sh COMMAND [ARGS]   (root; LAB_ID, NETLAB_STATE, NETLAB_TARGETS, NETLAB_OCTET)
# Commands that change the lab are serialised per lab with flock; exec/probe/addr are not.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/daemons.sh
source "$NETLAB_DIR/lib/daemons.sh"
# shellcheck source=lib/topology.sh
source "$NETLAB_DIR/lib/topology.sh"
# shellcheck source=lib/faults.sh
source "$NETLAB_DIR/lib/faults.sh"

usage() {
  cat <<'EOF'
usage: lab.sh COMMAND [ARGS]
  up                       build the lab (idempotent; keeps active faults)
  down                     remove every namespace, link, process and the state dir
  status                   print hosts, services and active faults
  hosts [ROLE]             print lab.env lines (NAME NAMESPACE ADDRESS ROLE NETWORK)
  env                      print the path of lab.env
  addr HOST                print the address of HOST
  exec HOST CMD...         run CMD in the namespace of HOST
  probe FROM HOST [PORT] [--send LINE] [--timeout S]
                           connect from FROM to HOST:PORT (22) and print the outcome
faults (undo with clear):
  sshd-stop T | sshd-port T P | tarpit T | not-ssh T | maxstartups T
  fw-reject T | fw-reject-rst T | fw-reject-icmp T | fw-drop T | fw-https-only T
  ban T PROBE [drop|reject] | offline T [unreach|silent] | path-prohibit T
  egress-block PROBE
  isp-block SITE | site-down SITE          (SITE: isp-a, isp-b, isp-c)
  dns-stale T SITE [ADDR]                  SITE's resolver answers an old address for T's name
  hostkey-site T SITE | hostkey-swap T     another host key from SITE only / everywhere
  fail2ban T [MAXRETRY]                    a real fail2ban (sshd jail, aggressive) on T
  clear [T|PROBE|SITE]                     undo the faults of one subject, or all
fail2ban of a target:
  fail2ban-ignoreip T 'ignoreip = ...'     that line in its jail config, reload, unban all
  fail2ban-client T ARGS...                its fail2ban-client (e.g. status sshd)
environment: LAB_ID (default plx), NETLAB_STATE (default /tmp/parallax-netlab-$LAB_ID),
  NETLAB_TARGETS (default 4, at up), NETLAB_OCTET (force 10.X.0.0/16, at up)
EOF
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (namespaces, nftables)"; }

# Serialises changes to one lab. The lock fd is never passed to lab daemons; down waits at
# most 20 s and then proceeds anyway, so that a stuck holder cannot keep a lab alive.
lock_lab() {
  exec 9>"$STATE.lock"
  if [[ "${1:-}" == down ]]; then
    flock -w 20 9 || note "lab '$LAB_ID' stayed locked for 20 s ($STATE.lock); going down anyway"
    return 0
  fi
  flock -w 120 9 || die "lab '$LAB_ID' is locked by another lab.sh for over 120 s ($STATE.lock)"
}

need_args() {  # COUNT USAGE "$@"
  local n="$1" u="$2"
  shift 2
  (($# >= n)) || die "usage: lab.sh $u"
}

cmd_status() {
  local h svc
  load_lab
  echo "lab $LAB_ID: 10.$OCTET.0.0/16, state $STATE"
  printf '%-10s %-14s %-14s %-10s %-7s %s\n' NAME NAMESPACE ADDRESS ROLE NETWORK SERVICES
  for h in "${HOSTS[@]}"; do
    svc=""
    if [[ "${HOST_ROLE[$h]}" == target ]]; then
      for s in sshd alt22 holder http80 https443; do
        service_alive "$h" "$s" && svc+="$s(pid $(cat "$(host_dir "$h")/$s.pid")) "
      done
    fi
    printf '%-10s %-14s %-14s %-10s %-7s %s\n' "$h" "${HOST_NS[$h]}" "${HOST_ADDR[$h]}" \
      "${HOST_ROLE[$h]}" "${HOST_NET[$h]}" "$svc"
    ns_exists "${HOST_NS[$h]}" || echo "  WARNING: namespace ${HOST_NS[$h]} is missing"
  done
  echo "active faults:"
  list_faults | sed 's/^/  /' | grep . || echo "  (none)"
}

cmd_probe() {
  local from="$1" to="$2" port=22
  shift 2
  if (($# > 0)) && [[ "$1" != --* ]]; then
    port="$1"
    shift
  fi
  host_or_die "$from"
  host_or_die "$to"
  nsx "${HOST_NS[$from]}" "$PY" "$NETLAB_DIR/netlab_probe.py" "$@" "${HOST_ADDR[$to]}" "$port"
}

main() {
  local cmd="${1:-}"
  (($# > 0)) && shift
  case "$cmd" in
    "" | -h | --help | help) usage ;;
    up)
      need_root
      validate_lab_id
      [[ -z "${NETLAB_TARGETS:-}" ]] || validate_targets "$NETLAB_TARGETS"
      [[ -z "${NETLAB_OCTET:-}" ]] || validate_octet "$NETLAB_OCTET"
      lock_lab
      lab_up
      ;;
    down) need_root; validate_lab_id; lock_lab down; lab_down; rm -f "$STATE.lock" ;;
    status) cmd_status ;;
    hosts)
      load_lab
      if (($# > 0)); then awk -v r="$1" '$4 == r' "$STATE/lab.env"; else cat "$STATE/lab.env"; fi
      ;;
    env) load_lab; echo "$STATE/lab.env" ;;
    addr) need_args 1 "addr HOST" "$@"; load_lab; host_or_die "$1"; echo "${HOST_ADDR[$1]}" ;;
    exec)
      need_args 2 "exec HOST CMD..." "$@"
      load_lab
      host_or_die "$1"
      local ns="${HOST_NS[$1]}"
      shift
      exec ip netns exec "$ns" "$@"
      ;;
    fail2ban-client)
      need_args 2 "fail2ban-client T ARGS..." "$@"
      load_lab
      target_or_die "$1"
      f2b_client "$@"
      ;;
    probe) need_args 2 "probe FROM HOST [PORT] [--send LINE] [--timeout S]" "$@"; load_lab
      cmd_probe "$@" ;;
    sshd-stop | tarpit | not-ssh | maxstartups | fw-reject | fw-reject-rst | fw-reject-icmp | \
      fw-drop | fw-https-only | sshd-port | ban | offline | path-prohibit | egress-block | \
      isp-block | site-down | dns-stale | hostkey-site | hostkey-swap | fail2ban | \
      fail2ban-ignoreip | clear)
      need_root
      load_lab
      lock_lab
      case "$cmd" in
        sshd-stop) need_args 1 "sshd-stop T" "$@"; fault_sshd_stop "$1" ;;
        sshd-port) need_args 2 "sshd-port T P" "$@"; fault_sshd_port "$1" "$2" ;;
        tarpit | not-ssh) need_args 1 "$cmd T" "$@"; fault_listener22 "$1" "$cmd" ;;
        maxstartups) need_args 1 "maxstartups T" "$@"; fault_maxstartups "$1" ;;
        path-prohibit) need_args 1 "path-prohibit T" "$@"; fault_path_prohibit "$1" ;;
        egress-block) need_args 1 "egress-block PROBE" "$@"; fault_egress_block "$1" ;;
        fw-*) need_args 1 "$cmd T" "$@"; fault_firewall "$1" "$cmd" ;;
        ban) need_args 2 "ban T PROBE [drop|reject]" "$@"; fault_ban "$@" ;;
        offline) need_args 1 "offline T [unreach|silent]" "$@"; fault_offline "$@" ;;
        isp-block) need_args 1 "isp-block SITE" "$@"; fault_isp_block "$1" ;;
        site-down) need_args 1 "site-down SITE" "$@"; fault_site_down "$1" ;;
        dns-stale) need_args 2 "dns-stale T SITE [ADDR]" "$@"; fault_dns_stale "$@" ;;
        hostkey-site) need_args 2 "hostkey-site T SITE" "$@"; fault_hostkey_site "$1" "$2" ;;
        hostkey-swap) need_args 1 "hostkey-swap T" "$@"; fault_hostkey_swap "$1" ;;
        fail2ban) need_args 1 "fail2ban T [MAXRETRY]" "$@"; fault_fail2ban "$@" ;;
        fail2ban-ignoreip)
          need_args 2 "fail2ban-ignoreip T 'ignoreip = ...'" "$@"
          fault_f2b_ignoreip "$1" "$2"
          ;;
        clear) clear_faults "${1:-}" ;;
      esac
      ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
