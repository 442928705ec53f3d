#!/bin/sh
# Setup job of the lab's second trust domain (partner.test), run once its server is healthy: writes
# partner.test's bundle and a join token for partner-agent into the partner-lab volume and
# registers the partner's client under the SPIFFE ID that token attests (as docker/setup.sh does
# for example.org).
# SPINDLE, ADMIN_SOCKET and OUT can be overridden (the lab test runs this script outside Docker).
set -eu
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
ADMIN_SOCKET="${ADMIN_SOCKET:-/run/partner-server/admin.sock}"
OUT="${OUT:-/run/lab}"
TD=partner.test

mkdir -p "$OUT"
$SPINDLE bundle show --admin-socket "$ADMIN_SOCKET" --format pem > "$OUT/bundle.pem.tmp"
mv "$OUT/bundle.pem.tmp" "$OUT/bundle.pem"
generated=$($SPINDLE token generate --admin-socket "$ADMIN_SOCKET" --ttl 1h)
token=$(printf '%s\n' "$generated" | sed -n 's/^Token: //p')
agent=$(printf '%s\n' "$generated" | sed -n 's/^Agent SPIFFE ID: //p')
[ -n "$token" ] && [ -n "$agent" ] || { echo "partner-setup: spindle token generate printed no Token or Agent SPIFFE ID line" >&2; exit 1; }
umask 077
printf %s "$token" > "$OUT/join-token"

register() { # spiffe-id uid [more entry create flags]
  id=$1 uid=$2
  shift 2
  $SPINDLE entry create --admin-socket "$ADMIN_SOCKET" --parent-id "$agent" --spiffe-id "$id" --selector "unix:uid:$uid" "$@" > /dev/null
  echo "partner-setup: $id <- unix:uid:$uid (parent $agent)"
}
# The partner's client (docker/checkout.sh) calls example.org's federated gateway: it needs
# example.org's bundle to verify the gateway, so its entry federates with example.org.
register "spiffe://$TD/checkout" 1104 --federates-with example.org
echo "partner-setup: done"
