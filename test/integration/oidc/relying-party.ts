// A relying party written the way a cloud STS checks a federated token: read the discovery
// document at <issuer>/.well-known/openid-configuration, check its issuer, then verify the token
// with jose against the jwks_uri it names. Run as a child process with NODE_EXTRA_CA_CERTS set to
// the test CA, so Node's own fetch trusts the endpoint exactly as it would a Web PKI certificate.
// argv: issuer audience token. Prints {header, payload, discovery} as JSON; exits 1 on failure.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [issuer, audience, token] = process.argv.slice(2) as [string, string, string];
try {
  const res = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (res.status !== 200) throw new Error(`discovery answered ${res.status}: ${await res.text()}`);
  const discovery = (await res.json()) as { issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] };
  if (discovery.issuer !== issuer) throw new Error(`discovery issuer ${discovery.issuer} is not ${issuer}`);
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: discovery.id_token_signing_alg_values_supported,
    requiredClaims: ["iat", "exp", "sub", "aud", "iss"],
  });
  process.stdout.write(`${JSON.stringify({ header: protectedHeader, payload, discovery })}\n`);
} catch (err) {
  process.stderr.write(`relying party refused the token: ${(err as Error).name}: ${(err as Error).message}\n`);
  process.exit(1);
}
