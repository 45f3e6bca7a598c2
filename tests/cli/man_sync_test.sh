#!/usr/bin/env bash
# Keeps the hand-written parts of the documentation in sync with the code:
#   - every key the collector's config parser accepts (the CheckKeys lists of
#     collector/config/config_parser.cc) is described in
#     parallax-collector.yaml(5) (debian/man/parallax-collector.yaml.5);
#   - every command and every long option of `parallax` (from its --help and
#     each command's --help) is offered by the bash completion and described
#     in docs/CLI.md;
#   - every flag of parallax-probe and parallax-collector (their --help) is in
#     their man page's sources or docs; the man pages themselves are generated
#     from --help by help2man at package build time (debian/rules), and the
#     package test renders them with `man --warnings`.
# Usage: man_sync_test.sh REPO_ROOT CLI_BIN PROBE_BIN COLLECTOR_BIN
set -uo pipefail
root=$1 cli=$2 probe=$3 collector=$4
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
page=$root/debian/man/parallax-collector.yaml.5
completion=$root/deploy/bash-completion/parallax

# Config keys: every quoted word in a CheckKeys(...) key list.
keys=$(python3 - "$root/collector/config/config_parser.cc" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
keys = set()
for m in re.finditer(r'CheckKeys\(\s*[^,]+,\s*[^,]+,\s*\{([^}]*)\}', src, re.S):
    keys.update(re.findall(r'"([a-z_]+)"', m.group(1)))
print("\n".join(sorted(keys)))
PY
)
(($(wc -w <<<"$keys") >= 15)) && pass "$(wc -w <<<"$keys") config keys found in the parser" \
  || fail "too few config keys parsed from config_parser.cc: $keys"
for k in $keys; do
  grep -qw -- "$k" "$page" && pass "yaml(5) describes $k" || fail "parallax-collector.yaml(5) does not describe the key $k"
done

# The CLI: commands and long options, from --help of the app and each command.
commands=$("$cli" --help | sed -n '/^Subcommands:/,$ s/^  \([a-z]\+\) .*/\1/p')
(($(wc -w <<<"$commands") >= 5)) && pass "commands: $(echo $commands)" || fail "commands from --help: $commands"
opts=$("$cli" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
for c in $commands; do
  grep -qw "$c" "$completion" && pass "completion offers $c" || fail "completion lacks the command $c"
  grep -q "parallax $c" "$root/docs/CLI.md" && pass "CLI.md documents $c" || fail "docs/CLI.md lacks the command $c"
  for o in $("$cli" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -q -- "$o" <<<"$opts" && continue  # a global option, checked below
    grep -q -- "$o\b" "$completion" && pass "completion offers $c $o" || fail "completion lacks $c $o"
    grep -q -- "$o\b" "$root/docs/CLI.md" && pass "CLI.md documents $c $o" || fail "docs/CLI.md lacks $c $o"
    grep -q -- "${o//-/\\\\-}" "$root/debian/man/parallax.h2m" && pass "parallax(1) describes $c $o" \
      || fail "debian/man/parallax.h2m (parallax(1)) lacks $c $o"
  done
done
for o in $opts; do
  grep -q -- "$o\b" "$completion" && pass "completion offers $o" || fail "completion lacks the global option $o"
  grep -q -- "\`$o" "$root/docs/CLI.md" && pass "CLI.md documents $o" || fail "docs/CLI.md lacks the global option $o"
done
# Environment variables named in --help are in the man page include and CLI.md.
for e in $("$cli" --help | grep -o 'PARALLAX_[A-Z_]*' | sort -u); do
  grep -q "$e" "$root/debian/man/parallax.h2m" && grep -q "$e" "$root/docs/CLI.md" \
    && pass "$e documented" || fail "$e missing from debian/man/parallax.h2m or docs/CLI.md"
done

# The daemons' flags appear in the docs users read (README/DEPLOY/CONFIG).
for pair in "$probe:parallax-probe" "$collector:parallax-collector"; do
  bin=${pair%%:*} name=${pair#*:}
  "$bin" --version | grep -q "^$name [0-9]" && pass "$name --version" || fail "$name --version"
  for o in $("$bin" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    [[ $o == --help || $o == --version ]] && continue
    grep -q -- "$o\b" "$root"/README.md "$root"/docs/*.md "$root/debian/man/$name.h2m" \
      && pass "$name $o documented" || fail "$name $o is documented nowhere (README.md, docs/, debian/man/$name.h2m)"
  done
done

echo "man_sync_test: $failures failure(s)"
((failures == 0))
