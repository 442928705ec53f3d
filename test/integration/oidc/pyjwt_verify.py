"""A second, independent relying party: PyJWT's PyJWKClient on the jwks_uri named by the discovery
document, trusting only the CA file given. argv: issuer audience token ca_file. Prints the claims
as JSON; exits 1 when the token is refused."""
import json
import ssl
import sys
import urllib.request

import jwt

issuer, audience, token, ca_file = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca_file)
try:
    with urllib.request.urlopen(issuer.rstrip("/") + "/.well-known/openid-configuration", context=ctx) as res:
        discovery = json.load(res)
    if discovery["issuer"] != issuer:
        raise ValueError(f"discovery issuer {discovery['issuer']} is not {issuer}")
    client = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=ctx, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
except Exception as err:  # noqa: BLE001 - the test reads the reason from stderr
    print(f"PyJWT refused the token: {type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"kid": key.key_id, "claims": claims}))
