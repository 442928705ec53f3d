#!/bin/sh
# Lab setup job: runs once the server is healthy. Writes the trust bundle and a join token for the
# agent into the shared volume and registers the lab's workloads under that agent's SPIFFE ID
# (the join_token agent ID ends in the first 32 hex digits of the token's SHA-256).
# SPINDLE, ADMIN_SOCKET and OUT can be overridden (the lab test runs this script outside Docker).
set -eu
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
ADMIN_SOCKET="${ADMIN_SOCKET:-/run/spindle-server/admin.sock}"
OUT="${OUT:-/run/lab}"
TD=example.org

mkdir -p "$OUT"
$SPINDLE bundle show --admin-socket "$ADMIN_SOCKET" --format pem > "$OUT/bundle.pem.tmp"
mv "$OUT/bundle.pem.tmp" "$OUT/bundle.pem"
token=$($SPINDLE token generate --admin-socket "$ADMIN_SOCKET" --ttl 1h --output json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "setup: no token in the output of spindle token generate" >&2; exit 1; }
agent="spiffe://$TD/spindle/agent/join_token/$(printf %s "$token" | sha256sum | cut -c1-32)"
umask 077
printf %s "$token" > "$OUT/join-token"

register() { # spiffe-id uid [more entry create flags]
  id=$1 uid=$2
  shift 2
  $SPINDLE entry create --admin-socket "$ADMIN_SOCKET" --parent-id "$agent" --spiffe-id "$id" --selector "unix:uid:$uid" "$@" > /dev/null
  echo "setup: $id <- unix:uid:$uid (parent $agent)"
}
# The web sidecar Envoy (envoy-configs/sidecar); the DNS SAN lets curl check the host name "web".
register "spiffe://$TD/web" 1101 --dns web
register "spiffe://$TD/frontend" 1100  # the demo client
echo "setup: done"
