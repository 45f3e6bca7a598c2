#!/usr/bin/env bash
# deploy/certs/make-certs.sh end to end, on loopback: the files it makes carry
# a real mTLS connection between a collector and a probe (the probe shows as
# connected in /metrics), a probe with a certificate from another CA is
# refused, bad arguments are rejected naming the value, and a second run keeps
# the CA and adds a probe.
# Usage: certs_test.sh REPO_ROOT COLLECTOR_BIN PROBE_BIN
set -uo pipefail
root=$1 collector_bin=$2 probe_bin=$3
mk=$root/deploy/certs/make-certs.sh
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
command -v openssl >/dev/null || { echo "FAIL: openssl not found"; exit 1; }
# shellcheck source=tests/lib/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/free_port.sh"

"$mk" -o "$work/a" -c localhost,127.0.0.1 p1 >/dev/null || fail "make-certs.sh failed"
"$mk" -o "$work/other" -c localhost rogue >/dev/null || fail "make-certs.sh (second CA) failed"
for f in ca.pem collector.pem collector.key probe-p1.pem probe-p1.key; do
  [[ -s "$work/a/$f" ]] || fail "$f missing"
done
[[ $(stat -c %a "$work/a/probe-p1.key") == 600 ]] && pass "keys are 0600" || fail "probe key mode $(stat -c %a "$work/a/probe-p1.key")"
openssl verify -CAfile "$work/a/ca.pem" "$work/a/collector.pem" "$work/a/probe-p1.pem" >/dev/null \
  && pass "certificates verify against the CA" || fail "openssl verify"
openssl x509 -in "$work/a/collector.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" \
  && pass "collector SAN has the IP" || fail "collector SAN"

# Identity and roles in the certificates (docs/OPERATIONS.md, Security).
openssl x509 -in "$work/a/probe-p1.pem" -noout -ext subjectAltName | grep -q "URI:parallax:probe/p1" \
  && pass "probe certificate names its probe" || fail "probe SAN URI"
"$mk" -o "$work/a" -c localhost,127.0.0.1 -r alice -a bob >/dev/null || fail "make-certs.sh -r/-a failed"
openssl x509 -in "$work/a/reader-alice.pem" -noout -ext subjectAltName | grep -q "URI:parallax:role/reader" \
  && pass "reader certificate" || fail "reader SAN URI"
openssl x509 -in "$work/a/admin-bob.pem" -noout -ext subjectAltName | grep -q "URI:parallax:role/admin" \
  && pass "admin certificate" || fail "admin SAN URI"
# Default lifetime one year: valid in 360 days, expired in 370.
openssl x509 -in "$work/a/probe-p1.pem" -noout -checkend $((360 * 86400)) >/dev/null \
  && ! openssl x509 -in "$work/a/probe-p1.pem" -noout -checkend $((370 * 86400)) >/dev/null \
  && pass "certificates last 365 days" || fail "certificate lifetime"

# Bad arguments name the value.
out=$("$mk" -o "$work/bad" -c localhost 'bad name' 2>&1) && fail "accepted a bad probe name" || \
  { [[ "$out" == *'"bad name"'* ]] && pass "bad probe name rejected: $out" || fail "message: $out"; }
out=$("$mk" -o "$work/bad" p1 2>&1) && fail "accepted a missing -c" || pass "missing -c rejected"

# A second run keeps the CA and the collector certificate, adds p2.
sum=$(sha256sum "$work/a/ca.pem" "$work/a/collector.pem")
"$mk" -o "$work/a" -c localhost,127.0.0.1 p2 >/dev/null || fail "second run"
[[ "$(sha256sum "$work/a/ca.pem" "$work/a/collector.pem")" == "$sum" ]] && pass "second run keeps CA and collector cert" || fail "second run changed the CA"
openssl verify -CAfile "$work/a/ca.pem" "$work/a/probe-p2.pem" >/dev/null && pass "p2 signed by the same CA" || fail "p2 verify"

# Real mTLS: collector requiring client certificates from the CA.
grpc=$(free_port) metrics=$(free_port)
cat >"$work/collector.yaml" <<YAML
listen: 127.0.0.1:$grpc
metrics_listen: 127.0.0.1:$metrics
tls: {cert: $work/a/collector.pem, key: $work/a/collector.key, client_ca: $work/a/ca.pem}
storage: {path: $work/parallax.db}
interval: 1s
timeout: 500ms
targets: []
YAML
"$collector_bin" --config "$work/collector.yaml" >"$work/collector.log" 2>&1 & pids+=($!)
# Start the probes once the gRPC port accepts (their reconnect backoff grows).
for _ in $(seq 1 120); do (exec 3<>"/dev/tcp/127.0.0.1/$grpc") 2>/dev/null && break; sleep 0.25; done
"$probe_bin" --collector "127.0.0.1:$grpc" --name p1 --state-dir "$work/p1-state" --ca "$work/a/ca.pem" --cert "$work/a/probe-p1.pem" \
  --key "$work/a/probe-p1.key" --tls-server-name localhost >"$work/p1.log" 2>&1 & pids+=($!)
"$probe_bin" --collector "127.0.0.1:$grpc" --name rogue --state-dir "$work/rogue-state" --ca "$work/a/ca.pem" --cert "$work/other/probe-rogue.pem" \
  --key "$work/other/probe-rogue.key" --tls-server-name localhost >"$work/rogue.log" 2>&1 & pids+=($!)
connected=0
for _ in $(seq 1 80); do
  if curl -s "http://127.0.0.1:$metrics/metrics" | grep -q '^parallax_probe_connected{probe="p1"} 1'; then connected=1; break; fi
  sleep 0.25
done
((connected)) && pass "probe p1 connected over mTLS with make-certs.sh files" || { fail "p1 not connected"; cat "$work/collector.log" "$work/p1.log"; }
sleep 1
for _ in $(seq 1 40); do grep -q "before welcome" "$work/rogue.log" && break; sleep 0.25; done
grep -q "before welcome" "$work/rogue.log" || fail "the foreign probe never tried to connect"
curl -s "http://127.0.0.1:$metrics/metrics" | grep -q 'probe="rogue"' \
  && fail "probe with a foreign CA's certificate got in" || pass "probe with a foreign CA's certificate refused"

echo "certs_test: $failures failure(s)"
((failures == 0))
