#!/usr/bin/env bash
# Makes the certificates for TLS between probes and the collector, with openssl:
#   ca.pem / ca.key              a private CA (keep ca.key offline)
#   collector.pem / collector.key  the collector's server certificate
#   probe-NAME.pem / probe-NAME.key  one client certificate per probe (mTLS),
#                                    identity SAN URI parallax:probe/NAME
#   reader-NAME.pem / .key           a CLI certificate that may read (role reader)
#   admin-NAME.pem / .key            a CLI certificate that may also write (admin)
# Keys are EC P-256, mode 0600. Existing CA files are reused, so running it
# again later adds probes signed by the same CA; existing certificates are kept
# (delete one to renew it: docs/OPERATIONS.md, Security).
#
# Usage: make-certs.sh [-o DIR] [-d DAYS] -c COLLECTOR_NAME[,NAME|IP...]
#                      [-r READER]... [-a ADMIN]... [PROBE_NAME ...]
#   -o DIR   output directory (default ./parallax-certs)
#   -d DAYS  validity of new certificates (default 365)
#   -c       the names/addresses probes use to reach the collector: the first is
#            the subject CN, all go into subjectAltName (DNS: or IP:)
#   -r NAME  make a reader certificate for NAME (repeatable)
#   -a NAME  make an admin certificate for NAME (repeatable)
# Then (docs/OPERATIONS.md, deploy/systemd/README.md):
#   collector.yaml  tls: {cert: collector.pem, key: collector.key, client_ca: ca.pem}
#   probe           --ca ca.pem --cert probe-NAME.pem --key probe-NAME.key
#   parallax        --ca ca.pem --cert reader-NAME.pem --key reader-NAME.key
set -euo pipefail
out=./parallax-certs
days=365
collector=""
readers=()
admins=()
while getopts "o:d:c:r:a:h" opt; do
  case "$opt" in
    o) out=$OPTARG ;;
    d) days=$OPTARG ;;
    c) collector=$OPTARG ;;
    r) readers+=("$OPTARG") ;;
    a) admins+=("$OPTARG") ;;
    h) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ -z "$collector" ]]; then
  echo "make-certs: -c COLLECTOR_NAME is required (e.g. -c collector.example.net,192.0.2.7)" >&2
  exit 2
fi
[[ "$days" =~ ^[0-9]+$ ]] || { echo "make-certs: -d $days: not a number of days" >&2; exit 2; }
name_re='^[A-Za-z0-9._-]{1,64}$'
for p in "$@" "${readers[@]}" "${admins[@]}"; do
  [[ "$p" =~ $name_re ]] || { echo "make-certs: name \"$p\": use 1..64 of [A-Za-z0-9._-]" >&2; exit 2; }
done
command -v openssl >/dev/null || { echo "make-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$out"
umask 077
cd "$out"
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -f ca.key || ! -f ca.pem ]]; then
  newkey ca.key
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=Parallax CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
  echo "make-certs: new CA $out/ca.pem"
fi

# sign NAME CN EXTFILE: NAME.key + NAME.pem signed by the CA.
sign() {
  local name=$1 cn=$2 ext=$3
  if [[ -f "$name.pem" ]]; then echo "make-certs: $out/$name.pem exists, kept"; return; fi
  newkey "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -extfile "$ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$ext"
  echo "make-certs: $out/$name.pem (CN=$cn, $(openssl x509 -in "$name.pem" -noout -serial), $days days)"
}

IFS=, read -r -a names <<<"$collector"
san=""
for n in "${names[@]}"; do
  if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
  "${san%,}" > collector.ext
sign collector "${names[0]}" collector.ext

# client KIND NAME URI: a client certificate KIND-NAME.pem with SAN URI.
client() {
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=%s\n' \
    "$3" > "$1-$2.ext"
  sign "$1-$2" "$2" "$1-$2.ext"
}
for p in "$@"; do client probe "$p" "URI:parallax:probe/$p,DNS:$p"; done
for r in "${readers[@]}"; do client reader "$r" "URI:parallax:role/reader"; done
for a in "${admins[@]}"; do client admin "$a" "URI:parallax:role/admin"; done
chmod 0644 ./*.pem
