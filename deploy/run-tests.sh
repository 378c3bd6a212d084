#!/usr/bin/env bash
# Builds Curator and runs every test, on a fresh Debian 12 machine or a
# developer's: installs what is missing (deploy/install-deps.sh), configures
# the release preset, builds with two jobs and runs ctest. Tests start their
# own private PostgreSQL servers; nothing needs to be running beforehand.
#   deploy/run-tests.sh [extra ctest arguments, e.g. -R Fits]
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
built=$(date +%s)
echo "run-tests: build took $((built - start)) s"
ctest --preset release "$@"
echo "run-tests: tests took $(( $(date +%s) - built )) s"
