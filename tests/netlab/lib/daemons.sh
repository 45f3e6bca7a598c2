# shellcheck shell=bash
# Process control for the lab's services: sshd per target, the port-80 "alive" listener and
# the tarpit / not-ssh listeners that replace sshd. Sourced by lab.sh after common.sh.
#
# Contract: every service of host H keeps a pid file in $STATE/hosts/H/<name>.pid and a log
# in $STATE/hosts/H/<name>.log. Daemons run detached (setsid, stdio to the log) so that the
# caller's pipes never wait on them. All waits are bounded.

host_dir() { echo "$STATE/hosts/$1"; }

pid_alive() {  # PID: running and not a zombie
  local pid="$1" st
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
  st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

service_alive() {  # HOST NAME
  local f
  f="$(host_dir "$1")/$2.pid"
  [[ -f "$f" ]] && pid_alive "$(cat "$f")"
}

# Starts NAME for HOST in the host's namespace: start_service HOST NAME cmd...
# The daemon gets no file descriptor but stdin/stdout/stderr: one that lab.sh's caller
# leaked to it (a pipe the caller reads to EOF, the lock) would otherwise stay open for the
# daemon's life (fail2ban-server keeps what it inherits) and hold the caller up.
start_service() {
  local h="$1" name="$2" dir
  shift 2
  dir="$(host_dir "$h")"
  mkdir -p "$dir"
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec ip netns exec "${HOST_NS[$h]}" setsid "$@" </dev/null >>"$dir/$name.log" 2>&1
  ) &
  echo $! >"$dir/$name.pid"
}

# Stops NAME of HOST (TERM, then KILL after 2 s); fine if it is not running.
stop_service() {
  local f pid i
  f="$(host_dir "$1")/$2.pid"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      pid_alive "$pid" || break
      sleep 0.05
    done
    if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

port_listening() {  # HOST PORT
  [[ -n "$(nsx "${HOST_NS[$1]}" ss -Hltn "sport = :$2" 2>/dev/null)" ]]
}

# Waits (up to 5 s) until HOST listens on PORT while service NAME is alive; returns 1 and
# sets LISTEN_WHY when it does not (with the service's exit status when it died).
try_listen() {
  local h="$1" port="$2" name="$3" i pid st
  LISTEN_WHY=""
  for ((i = 0; i < 100; i++)); do
    port_listening "$h" "$port" && return 0
    service_alive "$h" "$name" || break
    sleep 0.05
  done
  port_listening "$h" "$port" && return 0
  pid="$(cat "$(host_dir "$h")/$name.pid" 2>/dev/null)"
  if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
    st=0
    wait "$pid" 2>/dev/null || st=$?
    LISTEN_WHY="pid $pid exited with status $st$( ((st > 128)) && echo " (signal $((st - 128)))")"
  else
    LISTEN_WHY="still not listening after 5 s"
  fi
  return 1
}

# Waits (up to 5 s) until HOST listens on PORT while service NAME is alive; dies otherwise.
wait_listen() {
  try_listen "$@" && return 0
  die "$3 on $1 did not listen on port $2 ($LISTEN_WHY); last log lines:
$(tail -n 5 "$(host_dir "$1")/$3.log" 2>/dev/null)"
}

# Waits (up to 5 s) until HOST has a UDP socket on PORT while service NAME is alive; dies
# otherwise.
wait_udp() {
  local h="$1" port="$2" name="$3" i
  for ((i = 0; i < 100; i++)); do
    [[ -n "$(nsx "${HOST_NS[$h]}" ss -Hlun "sport = :$port" 2>/dev/null)" ]] && return 0
    service_alive "$h" "$name" || break
    sleep 0.05
  done
  die "$name on $h did not bind udp port $port; last log lines:
$(tail -n 5 "$(host_dir "$h")/$name.log" 2>/dev/null)"
}

wait_port_free() {  # HOST PORT, up to 5 s
  local i
  for ((i = 0; i < 100; i++)); do
    port_listening "$1" "$2" || return 0
    sleep 0.05
  done
  die "port $2 on $1 is still in use"
}

# Makes the throwaway ed25519 host key FILE (comment COMMENT) unless it exists.
ensure_host_key() {
  [[ -f "$1" ]] && return 0
  ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1" || die "ssh-keygen failed for $1"
}

# Writes the private sshd config (and host key) of target H listening on PORT, with
# MaxStartups MAXSTARTUPS (default 100:30:200) and LoginGraceTime GRACE seconds (default 30;
# 0 = no limit). SSHD_KEY names the host key file in the host's dir (default
# ssh_host_ed25519_key; hostkey-swap uses another); SSHD_NAME the service (default sshd:
# config, pid file and log are named after it).
write_sshd_config() {
  local h="$1" port="$2" maxstartups="${3:-100:30:200}" grace="${4:-30}" dir
  local key="${SSHD_KEY:-ssh_host_ed25519_key}" name="${SSHD_NAME:-sshd}"
  dir="$(host_dir "$h")"
  mkdir -p "$dir"
  ensure_host_key "$dir/$key" "netlab-$LAB_ID-$h-$key"
  cat >"$dir/${name}_config" <<EOF
# Parallax netlab: throwaway sshd of $h (lab $LAB_ID). Nobody can log in.
Port $port
ListenAddress 0.0.0.0
HostKey $dir/$key
PidFile $dir/$name.pid
UsePAM no
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
MaxStartups $maxstartups
LoginGraceTime $grace
EOF
}

# (Re)starts sshd of host H on PORT (default 22) [MAXSTARTUPS [GRACE]] (write_sshd_config,
# SSHD_KEY, SSHD_NAME). With SSHD_SYSLOG=FILE, sshd logs to stderr (-e) and
# netlab_syslog.py writes its lines to FILE in syslog format (what fail2ban reads);
# otherwise it logs to <name>.log (-E).
start_sshd() {
  local h="$1" port="${2:-22}" name="${SSHD_NAME:-sshd}" dir
  dir="$(host_dir "$h")"
  stop_service "$h" "$name"
  wait_port_free "$h" "$port"
  write_sshd_config "$h" "$port" "${3:-}" "${4:-}"
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  # -r: no re-exec of sshd for each connection. Each probe check then costs
  # sshd a fork, not an exec that loads its libraries, config and keys again:
  # 4 vs 26 ms to the identification line on loopback here (8 vs 40 ms with
  # both cores busy), so a starved CI machine still answers within the lab's
  # 600 ms timeout. What a client sees (banner, kex, host key, refusals,
  # MaxStartups, the log lines fail2ban reads) is the same.
  # One retry: a CI run once saw sshd log "Server listening" and vanish without a word.
  local attempt
  for attempt in 1 2; do
    if [[ -n "${SSHD_SYSLOG:-}" ]]; then
      start_service "$h" "$name" "$PY" "$NETLAB_DIR/netlab_syslog.py" "$SSHD_SYSLOG" "$h" sshd \
        -- /usr/sbin/sshd -D -r -e -f "$dir/${name}_config"
    else
      start_service "$h" "$name" /usr/sbin/sshd -D -r -f "$dir/${name}_config" -E "$dir/$name.log"
    fi
    try_listen "$h" "$port" "$name" && return 0
    note "$name on $h, attempt $attempt: $LISTEN_WHY"
    stop_service "$h" "$name"
  done
  die "$name on $h did not listen on port $port ($LISTEN_WHY); last log lines:
$(tail -n 5 "$dir/$name.log" "${SSHD_SYSLOG:-/dev/null}" 2>/dev/null)"
}

# Starts a netlab_listen.py listener: start_listener HOST NAME MODE PORT.
start_listener() {
  local h="$1" name="$2" mode="$3" port="$4"
  stop_service "$h" "$name"
  wait_port_free "$h" "$port"
  start_service "$h" "$name" "$PY" "$NETLAB_DIR/netlab_listen.py" "$mode" "$port" "$h"
  wait_listen "$h" "$port" "$name"
}

# Kills every process in namespace NS (TERM, then KILL), bounded.
kill_ns_pids() {
  local ns="$1" pids i
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  [[ -z "$pids" ]] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    [[ -z "$pids" ]] && return 0
    sleep 0.05
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}

# Kills processes whose command line names this lab's state dir (they may have outlived
# their namespace, e.g. after a partial run).
kill_state_pids() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
    [[ "$cmd" == *"$STATE/"* ]] || continue
    [[ "${p#/proc/}" == "$$" ]] && continue
    kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
}
