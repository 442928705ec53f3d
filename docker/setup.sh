#!/bin/sh
# Lab setup job: runs once the server is healthy. Writes the trust bundle and a join token for the
# agent into the shared volume and registers the lab's workloads under the SPIFFE ID the agent
# will get when it attests with that token (printed by `spindle token generate`).
# SPINDLE, ADMIN_SOCKET and OUT can be overridden (the lab test runs this script outside Docker).
set -eu
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
ADMIN_SOCKET="${ADMIN_SOCKET:-/run/spindle-server/admin.sock}"
OUT="${OUT:-/run/lab}"
TD=example.org

mkdir -p "$OUT"
$SPINDLE bundle show --admin-socket "$ADMIN_SOCKET" --format pem > "$OUT/bundle.pem.tmp"
mv "$OUT/bundle.pem.tmp" "$OUT/bundle.pem"
generated=$($SPINDLE token generate --admin-socket "$ADMIN_SOCKET" --ttl 1h)
token=$(printf '%s\n' "$generated" | sed -n 's/^Token: //p')
agent=$(printf '%s\n' "$generated" | sed -n 's/^Agent SPIFFE ID: //p')
[ -n "$token" ] && [ -n "$agent" ] || { echo "setup: spindle token generate printed no Token or Agent SPIFFE ID line" >&2; exit 1; }
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
# The federated gateway (envoy-configs/federated-gateway): partner.test's bundle comes with it (the
# ALL validation context), and the DNS SAN lets the partner's curl check the host name.
register "spiffe://$TD/partner-gateway" 1103 --dns partner-gateway --federates-with partner.test
echo "setup: done"
