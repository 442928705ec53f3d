#!/bin/sh
# Lab federation bootstrap, run once both servers are healthy (docs/federation.md, "The lab").
# Each server's config federates with the other through https_spiffe bundle endpoints, but an
# https_spiffe endpoint is authenticated with its trust domain's bundle, which a server only has
# once someone gave it a first copy (SPIFFE_Federation section 5.2.2.2). Neither CA exists before
# its server first starts, so instead of a trust_domain_bundle_path file this job copies each
# server's bundle into the other once (`spindle bundle show` / `spindle bundle set`) and then asks
# both to fetch now (`spindle federation refresh`). From then on every bundle, rotations included,
# arrives through the bundle endpoints. Running it again (a later `docker compose up`) only
# re-copies the current bundles.
# SPINDLE, ADMIN_SOCKET, PARTNER_ADMIN_SOCKET and TRIES can be overridden (the lab test runs this
# script outside Docker).
set -eu
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
ADMIN_SOCKET="${ADMIN_SOCKET:-/run/spindle-server/admin.sock}"
PARTNER_ADMIN_SOCKET="${PARTNER_ADMIN_SOCKET:-/run/partner-server/admin.sock}"
TRIES="${TRIES:-30}"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

$SPINDLE bundle show --admin-socket "$ADMIN_SOCKET" --format spiffe > "$DIR/example.org.json"
$SPINDLE bundle show --admin-socket "$PARTNER_ADMIN_SOCKET" --format spiffe > "$DIR/partner.test.json"
$SPINDLE bundle set --admin-socket "$PARTNER_ADMIN_SOCKET" --id example.org --path "$DIR/example.org.json"
$SPINDLE bundle set --admin-socket "$ADMIN_SOCKET" --id partner.test --path "$DIR/partner.test.json"
echo "federation-setup: bootstrap bundles copied (example.org -> partner-server, partner.test -> spindle-server)"

refresh() { # admin-socket trust-domain: fetch through the bundle endpoint now, retrying while it starts
  i=0
  until $SPINDLE federation refresh --admin-socket "$1" --trust-domain "$2" > /dev/null 2> "$DIR/error"; do
    i=$((i + 1))
    if [ "$i" -ge "$TRIES" ]; then
      echo "federation-setup: fetching $2's bundle failed $TRIES times:" >&2
      cat "$DIR/error" >&2
      exit 1
    fi
    sleep 1
  done
  echo "federation-setup: $2's bundle fetched through its bundle endpoint"
}
refresh "$ADMIN_SOCKET" partner.test
refresh "$PARTNER_ADMIN_SOCKET" example.org
echo "federation-setup: done"
