"""Interop client for Spindle's Workload API written with py-spiffe (PyPI `spiffe`).

Fetches the X.509 context from SPIFFE_ENDPOINT_SOCKET, checks the default SVID's SPIFFE ID and that
its chain leads, link by link, to an authority of its trust domain's bundle, then fetches and
validates a JWT-SVID through the Workload API. Prints one JSON object on stdout.
"""

import json
import sys

from cryptography.hazmat.primitives import serialization
from spiffe import SpiffeId, WorkloadApiClient


def main() -> int:
    expected_id, audience = sys.argv[1], sys.argv[2]
    with WorkloadApiClient(default_timeout=20) as client:
        ctx = client.fetch_x509_context()
        svid = ctx.default_svid
        bundle = ctx.x509_bundle_set.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
        if bundle is None:
            raise SystemExit("no bundle for " + str(svid.spiffe_id.trust_domain))
        chain = svid.cert_chain
        # Each certificate is signed by the next one; the last by an authority of the bundle.
        for child, parent in zip(chain, chain[1:]):
            child.verify_directly_issued_by(parent)
        anchors = [a for a in bundle.x509_authorities if _issued_by(chain[-1], a)]
        key_matches = svid.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == svid.leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

        jwt = client.fetch_jwt_svid(audience={audience}, subject=SpiffeId(expected_id))
        validated = client.validate_jwt_svid(jwt.token, audience)
        print(
            json.dumps(
                {
                    "spiffe_id": str(svid.spiffe_id),
                    "id_matches": str(svid.spiffe_id) == expected_id,
                    "chain_len": len(chain),
                    "chain_verified_to_bundle": len(anchors) == 1,
                    "key_matches_leaf": key_matches,
                    "svid_count": len(ctx.x509_svids),
                    "trust_domains": sorted(str(b.trust_domain) for b in ctx.x509_bundle_set.bundles),
                    "jwt_sub": str(validated.spiffe_id),
                    "jwt_audience": sorted(validated.audience),
                }
            )
        )
    return 0


def _issued_by(cert, authority) -> bool:
    try:
        cert.verify_directly_issued_by(authority)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not this authority"
        return False


if __name__ == "__main__":
    sys.exit(main())
