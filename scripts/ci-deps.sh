#!/usr/bin/env bash
# Installs the system packages the test suite needs (PostgreSQL for the datastore tests).
# Idempotent; safe to run on a developer machine. Does nothing when everything is present.
set -euo pipefail
need=()
command -v go >/dev/null || need+=(golang-go)
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then need+=(postgresql); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "ci-deps: missing ${need[*]}; install them (needs root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
