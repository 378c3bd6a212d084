#!/usr/bin/env bash
# Installs, from Debian 12 packages, everything Curator's build, tests and
# demo need. Idempotent: packages already present are not touched, and apt
# is not even called when nothing is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config ccache git
  # RPC and serialisation
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  # JSON for every --json answer, the describe document and the audit log:
  # a real library, so control characters, key order and 64-bit numbers
  # come out right (hand-written escaping did not)
  nlohmann-json3-dev
  # data formats
  libcfitsio-dev libturbojpeg0-dev
  # database client and server
  libpqxx-dev libpq-dev postgresql-15 postgresql-15-q3c
  # services: the Load Monitor's HTTP server, systemd readiness and watchdog
  libcpp-httplib-dev libsystemd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # independent cross-checks of what we write; stilts (STILTS tmatch2, Java)
  # is the reference the zones cross-match is compared with
  # (tests/zones_match_stilts_test.cc, bench/cu5_match_bench --stilts)
  fitsverify source-extractor stilts
  # the Load Monitor test renders the page in a real headless browser;
  # the multi-host test puts each process in a network namespace
  chromium iproute2 openssl
  # the multi-host partition tests cut a namespace's links with a firewall
  # (nft; iproute2's tc slows a link)
  nftables
  # packaging and its checks: CPack's DEB generator needs file; systemd-analyze
  # verifies the units; lintian checks the .deb against Debian policy
  # (deploy/test-lintian.sh)
  file systemd lintian
  # reference implementations the benchmarks compare against
  python3-astropy python3-numpy python3-pil python3-psycopg
  # promtool's `check metrics` lints every process's /metrics
  # (tests/metrics_test.cc). The package also installs a Prometheus server
  # and, on a systemd machine, enables and starts prometheus.service
  # (port 9090); the tests do not use it, and it can be stopped.
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
