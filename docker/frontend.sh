#!/bin/sh
# Lab client, running as uid 1100 (spiffe://example.org/frontend): fetches its SVID from the agent
# socket and calls the web sidecar over mTLS every 5 s. GET is allowed by docker/policy.yaml, POST
# is denied by the RBAC filter the agent pushes over ECDS.
set -u
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
SOCKET="${SOCKET:-/run/spindle/agent/public/api.sock}"
DIR=$(mktemp -d)
while true; do
  if $SPINDLE api fetch x509 --socket-path "$SOCKET" --write "$DIR" > /dev/null; then
    for method in GET POST; do
      printf '%s -> ' "$method"
      curl -sS -X "$method" --cert "$DIR/svid.0.pem" --key "$DIR/svid.0.key" --cacert "$DIR/bundle.0.pem" \
        -w ' [HTTP %{http_code}]\n' https://web:8443/hello || true
    done
  fi
  sleep 5
done
