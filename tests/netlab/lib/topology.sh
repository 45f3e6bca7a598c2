# shellcheck shell=bash
# Building and tearing down the lab: namespaces, veth links, the datacentre bridge, addresses,
# routes, sysctls and the base services. Sourced by lab.sh after common.sh and daemons.sh.
#
# Contract: lab_up is idempotent (every step is "ensure") and keeps active faults in place;
# lab_down removes everything of LAB_ID even after a partial run and is fine on nothing.

# Reserves the second octet 10.X for this lab: NETLAB_OCTET if set, else a hash of LAB_ID,
# probing upwards past octets other live labs hold. A reservation is a symlink
# $OCTET_DIR/X -> LAB_ID (atomic); a stale one (owner has no namespace) is reclaimed.
reserve_octet() {
  local start i o owner link
  if [[ -n "${NETLAB_OCTET:-}" ]]; then
    validate_octet "$NETLAB_OCTET"
    OCTET="$((10#$NETLAB_OCTET))"
    return 0
  fi
  mkdir -p "$OCTET_DIR"
  start=$(($(printf '%s' "$LAB_ID" | cksum | awk '{print $1}') % 150))
  for ((i = 0; i < 150; i++)); do
    o=$((100 + (start + i) % 150))
    link="$OCTET_DIR/$o"
    if ln -s "$LAB_ID" "$link" 2>/dev/null; then
      OCTET="$o"
      return 0
    fi
    owner="$(readlink "$link" 2>/dev/null || true)"
    if [[ "$owner" == "$LAB_ID" ]]; then
      OCTET="$o"
      return 0
    fi
    # Reclaim a reservation whose owner has no namespace and which is older than 2 minutes.
    if [[ -n "$owner" ]] && ! ip netns list | awk '{print $1}' | grep -q "^$owner-" &&
      (($(date +%s) - $(stat -c %Y "$link" 2>/dev/null || echo 0) > 120)); then
      rm -f "$link"
      if ln -s "$LAB_ID" "$link" 2>/dev/null; then
        OCTET="$o"
        return 0
      fi
    fi
  done
  die "no free address octet 10.100-249 for lab '$LAB_ID' (see $OCTET_DIR)"
}

release_octet() {
  local f
  for f in "$OCTET_DIR"/*; do
    [[ -L "$f" && "$(readlink "$f")" == "$LAB_ID" ]] && rm -f "$f"
  done
  rmdir "$OCTET_DIR" 2>/dev/null || true
}

ensure_ns() {
  local ns="$1"
  ns_exists "$ns" || ip netns add "$ns" || die "cannot create namespace $ns"
  ip -n "$ns" link set lo up
}

# Sysctls of a host; routers forward. Writes /proc/sys in one exec per namespace.
ensure_sysctls() {
  local h="$1" ns="${HOST_NS[$1]}" cmds
  cmds="echo 0 > /proc/sys/net/ipv4/icmp_ratelimit;"
  cmds+="echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null || true;"
  cmds+="echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null || true;"
  if [[ "${HOST_ROLE[$h]}" == router ]]; then
    cmds+="echo 1 > /proc/sys/net/ipv4/ip_forward;"
    cmds+="echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter;"
    cmds+="echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter;"
  fi
  nsx "$ns" sh -c "$cmds" || die "sysctls failed in $ns"
}

# ensure_link HOST1 HOST2: veth "$L-HOST2" in HOST1 <-> "$L-HOST1" in HOST2 (peer names
# shortened: collector -> col).
short() { [[ "$1" == collector ]] && echo col || echo "$1"; }
ensure_link() {
  local a="$1" b="$2" ia ib
  ia="$L-$(short "$b")"
  ib="$L-$(short "$a")"
  if ! ip -n "${HOST_NS[$a]}" link show "$ia" >/dev/null 2>&1; then
    ip link add "$ia" netns "${HOST_NS[$a]}" type veth peer name "$ib" netns "${HOST_NS[$b]}" ||
      die "cannot create veth $ia ($a) <-> $ib ($b)"
  fi
}

link_up() { ip -n "$1" link set "$2" up; }
addr() { ip -n "$1" addr replace "$2" dev "$3"; }
route() { ip -n "$1" route replace "$2" via "$3" || die "route $2 via $3 in $1 failed"; }

# ensure_lan ROUTER ADDR/24 HOSTS...: bridge "$L-br" in ROUTER holding ADDR, one veth port
# per host; each host gets its address and a default route via ROUTER. ARP gives up after
# 3 x 300 ms, so a vanished host yields ICMP host unreachable within about a second.
ensure_lan() {
  local r="$1" gw="$2" ns="${HOST_NS[$1]}" h
  shift 2
  if ! ip -n "$ns" link show "$L-br" >/dev/null 2>&1; then
    ip -n "$ns" link add "$L-br" type bridge || die "cannot create bridge $L-br in $ns"
  fi
  addr "$ns" "$gw" "$L-br"
  link_up "$ns" "$L-br"
  nsx "$ns" sh -c "echo 300 > /proc/sys/net/ipv4/neigh/$L-br/retrans_time_ms"
  for h in "$@"; do
    ensure_link "$r" "$h"
    ip -n "$ns" link set "$L-$(short "$h")" master "$L-br"
    link_up "$ns" "$L-$(short "$h")"
    addr "${HOST_NS[$h]}" "${HOST_ADDR[$h]}/24" "$L-$(short "$r")"
    if [[ ! -f "$STATE/faults/$h/offline" ]]; then
      link_up "${HOST_NS[$h]}" "$L-$(short "$r")"
      route "${HOST_NS[$h]}" default "${gw%/*}"
    fi
  done
}

# Links, addresses and routes of the sites, the core and the datacentre.
ensure_network() {
  local n="10.$OCTET" s k r i targets=()
  for s in "${SITES[@]}"; do
    k="${SITE_NUM[$s]}"
    r="r$s"
    ensure_link core "$r"
    addr "$L-core" "$n.10$k.1/24" "$L-$r"
    addr "$L-$r" "$n.10$k.2/24" "$L-core"
    if [[ ! -f "$STATE/faults/${SITE_NET[$s]}/site-down" ]]; then
      link_up "$L-core" "$L-$r"
      link_up "$L-$r" "$L-core"
      route "$L-$r" default "$n.10$k.1"
      route "$L-core" "$n.$k.0/24" "$n.10$k.2"
    fi
    # shellcheck disable=SC2086
    ensure_lan "$r" "$n.$k.1/24" ${SITE_PROBES[$s]}
  done
  ensure_link core dc
  addr "$L-core" "$n.100.1/24" "$L-dc"
  addr "$L-dc" "$n.100.2/24" "$L-core"
  link_up "$L-core" "$L-dc"
  link_up "$L-dc" "$L-core"
  route "$L-dc" default "$n.100.1"
  route "$L-core" "$n.10.0/24" "$n.100.2"
  for ((i = 1; i <= TARGETS; i++)); do targets+=("t$i"); done
  ensure_lan dc "$n.10.1/24" collector "${targets[@]}"
}

write_lab_env() {
  local h tmp="$STATE/lab.env.tmp"
  : >"$tmp"
  for h in "${HOSTS[@]}"; do
    echo "$h ${HOST_NS[$h]} ${HOST_ADDR[$h]} ${HOST_ROLE[$h]} ${HOST_NET[$h]}" >>"$tmp"
  done
  mv "$tmp" "$STATE/lab.env"
}

# Base services of every target, except those a service fault replaced.
ensure_services() {
  local h
  for h in "${HOSTS[@]}"; do
    [[ "${HOST_ROLE[$h]}" == target ]] || continue
    service_alive "$h" http80 || start_listener "$h" http80 http 80
    if [[ "$(cat "$STATE/faults/$h/firewall" 2>/dev/null)" == fw-https-only ]]; then
      service_alive "$h" https443 || start_listener "$h" https443 http 443
    fi
    [[ -f "$STATE/faults/$h/service" ]] && continue
    service_alive "$h" sshd || start_sshd "$h" 22
  done
}

# DNS: each site router runs dnsmasq on its LAN address (10.X.k.1:53) answering the names
# tN.$DNS_ZONE from its hosts file (dns.hosts in the router's dir; TTL 0, nothing else, no
# upstream), and each probe resolves through its site's server: /etc/netns/NS/resolv.conf,
# which `ip netns exec` bind-mounts over /etc/resolv.conf for what it starts (c-ares and
# glibc read it). A dns-stale fault changes one site's answer (dns_hosts_write). Skipped
# with a note when dnsmasq is missing (Debian: dnsmasq-base).
dns_hosts_write() {  # SITE-LETTER: writes that site's hosts file and makes dnsmasq re-read it
  local s="$1" dir f t addr pid tmp
  dir="$(host_dir "r$s")"
  mkdir -p "$dir"
  tmp="$dir/dns.hosts.tmp"
  : >"$tmp"
  for ((t = 1; t <= TARGETS; t++)); do
    addr="${HOST_ADDR[t$t]}"
    f="$STATE/faults/t$t/dns-${SITE_NET[$s]}"
    # shellcheck disable=SC2034  # the fault file: "dns-stale SITE ADDRESS"
    [[ -f "$f" ]] && read -r _ _ addr <"$f"
    echo "$addr t$t.$DNS_ZONE" >>"$tmp"
  done
  chmod 644 "$tmp"
  mv "$tmp" "$dir/dns.hosts"
  pid="$(cat "$dir/dns.pid" 2>/dev/null || true)"
  if pid_alive "$pid"; then kill -HUP "$pid"; fi
}

ensure_dns() {
  local s p gw
  if ! command -v dnsmasq >/dev/null 2>&1 && [[ ! -x /usr/sbin/dnsmasq ]]; then
    note "dnsmasq is missing (Debian: dnsmasq-base): no lab DNS, names tN.$DNS_ZONE do not resolve"
    return 0
  fi
  for s in "${SITES[@]}"; do
    gw="${HOST_ADDR[r$s]}"
    dns_hosts_write "$s"
    for p in ${SITE_PROBES[$s]}; do
      mkdir -p "/etc/netns/${HOST_NS[$p]}"
      printf '# Parallax netlab %s: %s resolves through its site router\nnameserver %s\n' \
        "$LAB_ID" "$p" "$gw" >"/etc/netns/${HOST_NS[$p]}/resolv.conf"
    done
    service_alive "r$s" dns && continue
    start_service "r$s" dns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
      --no-hosts --bind-interfaces --listen-address="$gw" --port=53 --local-ttl=0 \
      --addn-hosts="$(host_dir "r$s")/dns.hosts" --pid-file="$(host_dir "r$s")/dnsmasq.pid" \
      --log-facility=- --log-queries
    wait_udp "r$s" 53 dns
  done
}

lab_up() {
  local h ntargets="${NETLAB_TARGETS:-4}"
  validate_lab_id
  for c in ip nft sshd ssh-keygen ss setsid; do
    command -v "$c" >/dev/null 2>&1 || [[ -x "/usr/sbin/$c" ]] || die "missing command '$c'"
  done
  "$PY" -c 'import selectors' 2>/dev/null || die "missing python3 ($PY)"
  if [[ -f "$STATE/lab.meta" ]]; then
    # shellcheck disable=SC1091
    source "$STATE/lab.meta"
    [[ -z "${NETLAB_TARGETS:-}" ]] || ((10#$NETLAB_TARGETS == TARGETS)) ||
      die "lab '$LAB_ID' is up with $TARGETS targets, not NETLAB_TARGETS=$NETLAB_TARGETS;" \
        "run 'lab.sh down' first"
  else
    validate_targets "$ntargets"
    TARGETS="$((10#$ntargets))"
    reserve_octet
    mkdir -p "$STATE"
    printf 'LAB_ID=%s\nOCTET=%s\nTARGETS=%s\n' "$LAB_ID" "$OCTET" "$TARGETS" >"$STATE/lab.meta"
  fi
  build_table
  mkdir -p "$STATE/hosts" "$STATE/faults"
  for h in "${HOSTS[@]}"; do
    ensure_ns "${HOST_NS[$h]}"
    ensure_sysctls "$h"
  done
  ensure_network
  ensure_services
  ensure_dns
  write_lab_env
  note "lab '$LAB_ID' is up: 10.$OCTET.0.0/16, $TARGETS targets, state in $STATE"
}

lab_down() {
  local ns link
  validate_lab_id
  for ns in $(lab_namespaces); do
    kill_ns_pids "$ns"
  done
  kill_state_pids
  for ns in $(lab_namespaces); do
    ip netns del "$ns" 2>/dev/null || note "cannot delete namespace $ns"
  done
  # Nothing is created in the root namespace, but remove leftovers of an interrupted run.
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -E "^$L-" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  rm -rf /etc/netns/"$L"-*
  rmdir /etc/netns 2>/dev/null || true
  release_octet
  rm -rf "$STATE"
  [[ -z "$(lab_namespaces)" ]] || die "namespaces left after down: $(lab_namespaces | xargs)"
  note "lab '$LAB_ID' is down"
}
