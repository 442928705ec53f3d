#!/bin/sh
# Lab bootstrap job, run before the servers start (docs/federation.md, "The lab"). Each lab server
# federates with the other through an https_spiffe bundle endpoint, which is authenticated with its
# trust domain's bundle: the server refuses to start such a relationship without a first copy of
# it (trust_domain_bundle_path, SPIFFE_Federation section 5.2.2.2). A CA only exists once its
# server has started, so this job starts the server once on its own data directory with the
# federation block left out (a local admin socket, no listener on the network), writes its bundle
# with `spindle bundle show --format spiffe` into the shared federation volume, and stops it. The
# real server then starts on the same data directory, with the same CA, and reads the peer's file.
# The file is only a bootstrap: a server stores it when it holds no bundle of that trust domain
# yet, and every later bundle, rotations included, comes from the bundle endpoint. Running it
# again (a later `docker compose up`) rewrites the files with the current bundles.
# SPINDLE, CONFIG, DATA_DIR and OUT can be overridden (the lab test runs this script outside Docker).
set -eu
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
CONFIG="${CONFIG:-/etc/spindle/server.yaml}"
DATA_DIR="${DATA_DIR:-/var/lib/spindle/server}"
OUT="${OUT:-/run/federation}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

td=$(sed -n 's/^trust_domain: *//p' "$CONFIG")
[ -n "$td" ] || { echo "bundle-init: $CONFIG has no trust_domain line" >&2; exit 1; }
# The config without its federation block (a top-level key ends it) and with a health listener on
# a free loopback port: the CA and the datastore settings stay exactly the real server's.
awk '/^[^ #]/ { skip = ($0 ~ /^(federation|health_address):/) } !skip' "$CONFIG" > "$TMP/server.yaml"
echo "health_address: 127.0.0.1:0" >> "$TMP/server.yaml"

$SPINDLE server run --config "$TMP/server.yaml" --data-dir "$DATA_DIR" --bind 127.0.0.1:0 --admin-socket "$TMP/admin.sock" > "$TMP/server.log" 2>&1 &
pid=$!
i=0
until $SPINDLE healthcheck --admin-socket "$TMP/admin.sock" > /dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 120 ] || ! kill -0 "$pid" 2> /dev/null; then
    echo "bundle-init: the $td server did not become healthy:" >&2
    cat "$TMP/server.log" >&2
    kill "$pid" 2> /dev/null || true
    exit 1
  fi
  sleep 0.5
done
mkdir -p "$OUT"
$SPINDLE bundle show --admin-socket "$TMP/admin.sock" --format spiffe > "$OUT/$td.json.tmp"
mv "$OUT/$td.json.tmp" "$OUT/$td.json"
kill "$pid"
wait "$pid"
echo "bundle-init: wrote $OUT/$td.json"
