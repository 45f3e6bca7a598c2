# shellcheck shell=bash disable=SC2034  # variables used by the other lib files
# Shared definitions of the Parallax network lab: names, addresses, the host table and small
# helpers. Sourced by lab.sh (never run directly). Everything is derived from LAB_ID, the
# second address octet and the target count, so every command rebuilds the same table.
#
# Contract: after netlab_init, the arrays HOSTS (ordered host names), HOST_NS, HOST_ADDR,
# HOST_ROLE and HOST_NET describe every host; SITES lists the site letters.

NETLAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="/usr/bin/python3"
[[ -x "$PY" ]] || PY="python3"

LAB_ID="${LAB_ID:-plx}"
STATE="${NETLAB_STATE:-/tmp/parallax-netlab-$LAB_ID}"
OCTET_DIR="/tmp/parallax-netlab-octets"
L="$LAB_ID"

# Sites: letter -> network label and probe hosts. Site routers are r<letter>.
# Targets have DNS names tN.$DNS_ZONE, served per site (topology.sh, ensure_dns).
DNS_ZONE="netlab.test"
SITES=(a b c)
declare -A SITE_NET=([a]=isp-a [b]=isp-b [c]=isp-c)
declare -A SITE_PROBES=([a]="a1" [b]="b1 b2" [c]="c1")
declare -A SITE_NUM=([a]=1 [b]=2 [c]=3)

HOSTS=()
declare -A HOST_NS HOST_ADDR HOST_ROLE HOST_NET

die() {
  echo "netlab: error: $*" >&2
  exit 1
}
note() { echo "netlab: $*" >&2; }

# Runs a command inside a lab namespace.
nsx() {
  local ns="$1"
  shift
  ip netns exec "$ns" "$@"
}

validate_lab_id() {
  [[ "$LAB_ID" =~ ^[a-z][a-z0-9]{0,7}$ ]] ||
    die "LAB_ID '$LAB_ID' is invalid: use 1-8 characters [a-z0-9], starting with a letter" \
      "(interface names are '\$LAB_ID-<peer>' and must fit 15 characters)"
}

validate_targets() {
  if ! [[ "$1" =~ ^[0-9]{1,3}$ ]] || ((10#$1 < 1 || 10#$1 > 50)); then
    die "NETLAB_TARGETS '$1' is invalid: expected a number of targets from 1 to 50"
  fi
}

validate_octet() {
  if ! [[ "$1" =~ ^[0-9]{1,3}$ ]] || ((10#$1 < 1 || 10#$1 > 254)); then
    die "NETLAB_OCTET '$1' is invalid: expected the second address octet, 1 to 254"
  fi
}

add_host() {  # NAME NAMESPACE ADDRESS ROLE NETWORK
  HOSTS+=("$1")
  HOST_NS[$1]="$2"
  HOST_ADDR[$1]="$3"
  HOST_ROLE[$1]="$4"
  HOST_NET[$1]="$5"
}

# Builds the host table from OCTET and TARGETS (both must be set).
build_table() {
  local n="10.$OCTET" s p i
  HOSTS=()
  add_host core "$L-core" "$n.100.1" router -
  add_host dc "$L-dc" "$n.10.1" router -
  for s in "${SITES[@]}"; do
    add_host "r$s" "$L-r$s" "$n.${SITE_NUM[$s]}.1" router "${SITE_NET[$s]}"
    i=10
    for p in ${SITE_PROBES[$s]}; do
      add_host "$p" "$L-$p" "$n.${SITE_NUM[$s]}.$i" probe "${SITE_NET[$s]}"
      i=$((i + 1))
    done
  done
  add_host collector "$L-dc-col" "$n.10.5" collector -
  for ((i = 1; i <= TARGETS; i++)); do
    add_host "t$i" "$L-t$i" "$n.10.$((10 + i))" target -
  done
}

# Loads the topology of an existing lab (from lab.meta); fails if there is none.
load_lab() {
  [[ -f "$STATE/lab.meta" ]] || die "no lab '$LAB_ID' is up (no $STATE/lab.meta); run 'lab.sh up'"
  # shellcheck disable=SC1091
  source "$STATE/lab.meta"
  build_table
}

host_or_die() {
  [[ -n "${HOST_NS[$1]:-}" ]] || die "unknown host '$1' (hosts: ${HOSTS[*]})"
}

target_or_die() {
  host_or_die "$1"
  [[ "${HOST_ROLE[$1]}" == target ]] || die "host '$1' is not a target (role ${HOST_ROLE[$1]})"
}

probe_or_die() {
  host_or_die "$1"
  [[ "${HOST_ROLE[$1]}" == probe ]] || die "host '$1' is not a probe host (role ${HOST_ROLE[$1]})"
}

# Prints the site letter of a network label such as isp-b.
site_of_net() {
  local s
  for s in "${SITES[@]}"; do
    if [[ "${SITE_NET[$s]}" == "$1" ]]; then
      echo "$s"
      return 0
    fi
  done
  die "unknown site '$1' (sites: ${SITE_NET[*]})"
}

lab_namespaces() {  # every namespace of this lab that exists now
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$L-" || true
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
