#!/usr/bin/env bash
# Every `parallax ...` command shown in a ```sh block of README.md,
# docs/CLI.md and docs/DEPLOY.md runs against a real collector (fed by a real
# probe checking a real sshd and a closed port, all on loopback), so the docs
# cannot drift from the CLI: a documented command that exits 2 (usage or
# connection error) or crashes fails the test, `-o json` must print JSON.
# Then the CLI's contract beyond the docs' examples: global options before or
# after the command, exit codes 0/1/2, and the precedence flag > environment >
# ~/.config/parallax/cli.yaml > default.
# Usage: docs_commands_test.sh REPO_ROOT CLI_BIN COLLECTOR_BIN PROBE_BIN
set -uo pipefail
root=$1 cli=$2 collector_bin=$3 probe_bin=$4
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
# shellcheck source=tests/lib/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/free_port.sh"

# A real sshd (Debian's openssh-server) for the target that is ok.
ssh_port=$(free_port)
ssh-keygen -q -t ed25519 -N "" -f "$work/hostkey" || { echo "FAIL: ssh-keygen"; exit 1; }
[[ $(id -u) -eq 0 ]] && mkdir -p /run/sshd
cat >"$work/sshd_config" <<CFG
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/hostkey
PidFile $work/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
CFG
/usr/sbin/sshd -D -r -e -f "$work/sshd_config" 2>"$work/sshd.log" &
pids+=($!)
closed_port=$(free_port)  # nothing listens: refused
grpc=$(free_port) metrics=$(free_port)
# timeout == interval is valid (like Prometheus' scrape_timeout).
cat >"$work/collector.yaml" <<YAML
listen: 127.0.0.1:$grpc
metrics_listen: 127.0.0.1:$metrics
storage: {path: $work/parallax.db}
interval: 1s
timeout: 1s
diagnosis: {hysteresis: 1}
targets:
  - {name: web1, host: 127.0.0.1, port: $ssh_port}
  - {name: db1, host: 127.0.0.1, port: $closed_port}
YAML
"$collector_bin" --config "$work/collector.yaml" --check-config >/dev/null \
  && pass "timeout equal to interval is accepted" || fail "collector refused timeout == interval"
"$collector_bin" --config "$work/collector.yaml" --insecure 2>"$work/collector.log" &
pids+=($!)
"$probe_bin" --collector "127.0.0.1:$grpc" --insecure --name p1 --label network=lo \
  --allow-loopback --state-dir "$work/probe-state" 2>"$work/probe.log" &
pids+=($!)

# The documented commands run as a user types them: the collector comes from
# the client config file in $HOME (no flags, no environment).
export HOME=$work/home XDG_CONFIG_HOME=
unset PARALLAX_COLLECTOR PARALLAX_CA PARALLAX_CERT PARALLAX_KEY PARALLAX_TLS_SERVER_NAME \
  PARALLAX_INSECURE PARALLAX_OUTPUT PARALLAX_CLI_CONFIG
mkdir -p "$HOME/.config/parallax"
printf 'collector: 127.0.0.1:%s\ninsecure: true\n' "$grpc" >"$HOME/.config/parallax/cli.yaml"
run() {  # run CMD...: sets rc and out
  out=$(timeout 20 "$@" 2>"$work/err")
  rc=$?
}

# Wait until both targets are diagnosed (web1 ok via sshd, db1 refused).
for _ in $(seq 1 60); do
  run "$cli" explain -o json
  if [[ "$out" == *'"cause": "ok"'* && "$out" == *'"cause": "ssh_refused"'* ]]; then break; fi
  sleep 0.5
done
[[ "$out" == *'"cause": "ssh_refused"'* ]] || {
  echo "collector/probe never diagnosed both targets: $out"
  cat "$work/err" "$work/collector.log" "$work/probe.log" "$work/sshd.log" | tail -40
  exit 1
}
pass "collector diagnosed web1 ok and db1 ssh_refused"

# --- Every documented command ---
mapfile -t commands < <(python3 - "$root" <<'PY'
import re, sys, os
root = sys.argv[1]
for doc in ("README.md", "docs/CLI.md", "docs/DEPLOY.md"):
    path = os.path.join(root, doc)
    if not os.path.exists(path):
        continue
    in_sh = False
    for line in open(path):
        s = line.strip()
        if s.startswith("```"):
            in_sh = (not in_sh) and s[3:].strip() in ("sh", "bash", "console")
            continue
        if in_sh and s.startswith("parallax "):
            print(doc + "\t" + re.sub(r"\s+#.*$", "", s))
PY
)
((${#commands[@]} >= 10)) && pass "${#commands[@]} documented commands found" \
  || fail "only ${#commands[@]} documented parallax commands found"
for entry in "${commands[@]}"; do
  doc=${entry%%$'\t'*} cmd=${entry#*$'\t'}
  read -r -a argv <<<"${cmd#parallax }"
  run "$cli" "${argv[@]}"
  if ((rc != 0 && rc != 1)); then
    fail "$doc: \`$cmd\` exited $rc: $(head -c 400 "$work/err")"
    continue
  fi
  if [[ " ${argv[*]} " == *" -o json "* || " ${argv[*]} " == *" --output json "* ]]; then
    python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$out" 2>/dev/null \
      || { fail "$doc: \`$cmd\` did not print JSON: $(head -c 200 <<<"$out")"; continue; }
  fi
  [[ -n "$out" ]] || { fail "$doc: \`$cmd\` printed nothing"; continue; }
  pass "$doc: \`$cmd\` (exit $rc)"
done

# --- Global options before or after the command ---
for form in "status -o json" "-o json status" "status --output json" "explain web1 -o json" \
            "explain -o json web1" "-o json explain web1" "history web1 -o json --limit 3" \
            "incidents -o json" "probes -o json" "status --collector 127.0.0.1:$grpc -o json" \
            "explain web1 --insecure -o json"; do
  read -r -a argv <<<"$form"
  run "$cli" "${argv[@]}"
  if ((rc == 0 || rc == 1)) && python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$out" 2>/dev/null; then
    pass "parallax $form"
  else
    fail "parallax $form: exit $rc, $(head -c 300 "$work/err")"
  fi
done

# --- Exit codes ---
expect_rc() {  # expect_rc CODE WHAT CMD...
  local want=$1 what=$2
  shift 2
  run "$@"
  ((rc == want)) && pass "exit $want: $what" || fail "$what: exit $rc, want $want: $(head -c 300 "$work/err")"
}
expect_rc 0 "explain of an ok target" "$cli" explain web1
expect_rc 1 "explain of a refused target" "$cli" explain db1
expect_rc 1 "status with a failing target" "$cli" status
expect_rc 0 "status of an ok target" "$cli" status web1
expect_rc 0 "probes, all connected" "$cli" probes
[[ "$out" == *p1*network=lo*yes* ]] && pass "probes lists p1" || fail "probes table: $out"
expect_rc 1 "incidents with db1 open" "$cli" incidents --open
expect_rc 0 "history" "$cli" history db1 --limit 2
expect_rc 2 "unknown target" "$cli" explain nosuch
grep -q nosuch "$work/err" && pass "unknown target named" || fail "unknown target message: $(cat "$work/err")"
expect_rc 2 "unknown option" "$cli" status --bogus
expect_rc 2 "unknown command" "$cli" frobnicate
expect_rc 2 "missing command" "$cli"
expect_rc 2 "bad -o value" "$cli" status -o yaml
expect_rc 2 "bad --since" "$cli" history web1 --since soon
expect_rc 2 "collector unreachable" "$cli" --collector "127.0.0.1:$closed_port" status
grep -q "is parallax-collector running there" "$work/err" && pass "unreachable hint" || fail "unreachable message: $(cat "$work/err")"
expect_rc 0 "--version" "$cli" --version
[[ "$out" =~ ^parallax\ [0-9]+\.[0-9]+\.[0-9]+ ]] && pass "--version: $out" || fail "--version printed: $out"
expect_rc 0 "--help after a command" "$cli" status --help

# --- Precedence: flag > environment > file > default ---
dead=127.0.0.1:$closed_port
PARALLAX_COLLECTOR=$dead expect_rc 2 "environment beats the file" "$cli" status web1
PARALLAX_COLLECTOR=$dead expect_rc 0 "flag beats the environment" "$cli" status web1 --collector "127.0.0.1:$grpc"
PARALLAX_OUTPUT=json expect_rc 0 "PARALLAX_OUTPUT=json" "$cli" status web1
[[ "$out" == "{"* ]] && pass "PARALLAX_OUTPUT prints JSON" || fail "PARALLAX_OUTPUT ignored: $out"
PARALLAX_OUTPUT=json expect_rc 0 "-o table beats PARALLAX_OUTPUT" "$cli" -o table status web1
[[ "$out" == TARGET* ]] && pass "-o table printed the table" || fail "-o table: $out"
printf 'collector: %s\ninsecure: true\n' "$dead" >"$work/other.yaml"
expect_rc 2 "--config FILE replaces the default file" "$cli" --config "$work/other.yaml" status
PARALLAX_CLI_CONFIG=$work/other.yaml expect_rc 2 "PARALLAX_CLI_CONFIG" "$cli" status
expect_rc 2 "--config naming a missing file" "$cli" --config "$work/nonexistent.yaml" status
printf 'colector: x\n' >"$work/typo.yaml"
expect_rc 2 "config file with a typo" "$cli" --config "$work/typo.yaml" status
grep -q 'colector: unknown key at line 1' "$work/err" && pass "typo named" || fail "typo message: $(cat "$work/err")"
mv "$HOME/.config/parallax/cli.yaml" "$work/moved.yaml"
PARALLAX_COLLECTOR=127.0.0.1:$grpc PARALLAX_INSECURE=1 expect_rc 0 "environment alone, no file" "$cli" status web1

echo "docs_commands_test: $failures failure(s)"
((failures == 0))
