#!/bin/sh
# The partner's client, running as uid 1104 (spiffe://partner.test/checkout) next to partner-agent:
# fetches its SVID and the federated example.org bundle, and calls example.org's federated gateway
# (envoy-configs/federated-gateway) over mTLS every 5 s. The gateway accepts only this SPIFFE ID,
# verifying it with the partner.test bundle its agent serves in the ALL validation context, and
# forwards /orders/ to the web sidecar.
set -u
SPINDLE="${SPINDLE:-node /opt/spindle/bin/spindle.js}"
SOCKET="${SOCKET:-/run/spindle/agent/public/api.sock}"
DIR=$(mktemp -d)
while true; do
  # federated_bundle.0.0.pem: the first (here the only) federated bundle, example.org's.
  if $SPINDLE api fetch x509 --socket-path "$SOCKET" --write "$DIR" > /dev/null && [ -s "$DIR/federated_bundle.0.0.pem" ]; then
    printf 'GET /orders/42 -> '
    curl -sS --cert "$DIR/svid.0.pem" --key "$DIR/svid.0.key" --cacert "$DIR/federated_bundle.0.0.pem" \
      -w ' [HTTP %{http_code}]\n' https://partner-gateway:8443/orders/42 || true
  else
    echo "checkout: no SVID or no example.org bundle yet"
  fi
  sleep 5
done
