#!/usr/bin/env bash
# A test certificate authority for Curator's TLS links, for tests, the demo
# and trying TLS out (a site uses its own CA):
#   deploy/make-test-ca.sh DIR [SAN...]
# writes into DIR:
#   ca.pem, ca.key          the CA (EC P-256, 10 days)
#   node.pem, node.key      one certificate for every Curator process, for
#                           server and client use, valid for localhost,
#                           127.0.0.1, this host's name and each SAN given
#                           (IP addresses or DNS names)
#   token                   a random operator token
# Keys are readable by their owner only.
set -euo pipefail
dir=${1:?usage: make-test-ca.sh DIR [SAN...]}
shift
mkdir -p "$dir"
cd "$dir"
umask 077
sans="DNS:localhost,IP:127.0.0.1,DNS:$(hostname)"
for san in "$@"; do
  if [[ $san =~ ^[0-9.]+$ || $san == *:* ]]; then sans="$sans,IP:$san"; else sans="$sans,DNS:$san"; fi
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 \
  -subj "/CN=Curator test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=curator-node" \
  -keyout node.key -out node.csr 2>/dev/null
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 -out node.pem \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$sans") \
  2>/dev/null
rm -f node.csr ca.srl
head -c 32 /dev/urandom | base64 | tr -d '/+=' > token
chmod 644 ca.pem node.pem
echo "$PWD: ca.pem, node.pem/node.key for $sans, token"
