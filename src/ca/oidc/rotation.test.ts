// JWT authority rotation as a relying party sees it: a jose remote JWKS (fetched over HTTPS from
// the OIDC endpoint, trusting only the test CA) on a CA driven by a fake clock. The new key's
// tokens verify, the old key's tokens verify until they expire, then the old key leaves the JWKS.
import assert from "node:assert/strict";
import { request } from "node:https";
import { after, before, test } from "node:test";
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify, errors, type FetchImplementation } from "jose";
import { createSilentLogger } from "../../common/index.js";
import { createTestCa, type TestCa } from "../../../test/support/tls-test-ca.js";
import { harness, newCa, START } from "../../../test/support/authority.js";
import { startOidcEndpoint, type OidcEndpoint } from "./index.js";

const ISSUER = "https://localhost";
const AUD = "sts.example.com";
const SUB = "spiffe://example.org/ns/web";

let ca: TestCa;
let endpoint: OidcEndpoint | undefined;
before(() => {
  ca = createTestCa();
});
after(async () => {
  await endpoint?.close();
  ca.cleanup();
});

/** fetch for jose that trusts only the test CA and always connects to the endpoint's port. */
const fetchVia =
  (port: number): FetchImplementation =>
  (url) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: "127.0.0.1", port, path: u.pathname, headers: { host: u.host }, ca: ca.caPem, servername: "localhost", agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: { "content-type": String(res.headers["content-type"]) } })));
      });
      req.on("error", reject);
      req.end();
    });

test("rotation: new-key and old-key tokens verify, the old one until it expires; then its key leaves the JWKS", async () => {
  // CA lifetime 600 s: the next JWT key is prepared at 300 s, activated at 500 s, the first
  // expires at 600 s (rotation fractions as in docs/oidc.md). JWT-SVIDs live 60 s.
  const h = harness({ caTtlSeconds: 600, x509SvidTtlSeconds: 60, jwtSvidTtlSeconds: 60, jwtIssuer: ISSUER, jwtKeyType: "rsa-2048" });
  const theCa = await newCa(h);
  const tls = ca.issue("localhost", ["localhost"]);
  endpoint = await startOidcEndpoint(
    { address: { host: "127.0.0.1", port: 0 }, tls, insecureHttp: false, issuer: ISSUER, pathPrefix: "/", setKeyUse: false, domains: ["localhost"] },
    { keys: theCa, clock: h.clock, logger: createSilentLogger() },
  );
  const fetchImpl = fetchVia(endpoint.address.port);
  // no-store on the JWKS: this relying party re-reads it on every verification (cacheMaxAge 0).
  const jwks = createRemoteJWKSet(new URL(endpoint.jwksUri), { cacheMaxAge: 0, cooldownDuration: 0, [customFetch]: fetchImpl });
  const verify = (token: string) => jwtVerify(token, jwks, { issuer: ISSUER, audience: AUD, currentDate: new Date(h.clock.now()), algorithms: ["RS256"] });
  const kids = async () => ((await (await fetchImpl(endpoint!.jwksUri, {} as never)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  const oldKid = theCa.show().jwt[0]!.kid;
  assert.deepEqual(await kids(), [oldKid]);

  h.clock.set(START + 300_000);
  await theCa.tick();
  const prepared = theCa.show().jwt.find((r) => r.state === "prepared")!;
  assert.deepEqual((await kids()).sort(), [oldKid, prepared.kid].sort(), "the prepared key is published before it signs");

  h.clock.set(START + 495_000);
  const oldToken = (await theCa.mintJwtSvid({ spiffeId: SUB, audience: [AUD] })).token;
  assert.equal(decodeProtectedHeader(oldToken).kid, oldKid);

  h.clock.set(START + 500_000);
  await theCa.tick();
  const newToken = (await theCa.mintJwtSvid({ spiffeId: SUB, audience: [AUD] })).token;
  assert.equal(decodeProtectedHeader(newToken).kid, prepared.kid, "the prepared key is now the signer");

  h.clock.set(START + 530_000);
  assert.equal((await verify(newToken)).payload.sub, SUB);
  assert.equal((await verify(oldToken)).payload.sub, SUB, "an old-key token verifies while it is live");

  h.clock.set(START + 557_000);
  await assert.rejects(verify(oldToken), errors.JWTExpired, "the old-key token expired at 555 s");
  assert.equal((await verify(newToken)).payload.sub, SUB);

  // The old authority expires at 600 s, when no token it signed can still be live (SVIDs never
  // outlive their authority); from then on its key is gone.
  h.clock.set(START + 600_000);
  await theCa.tick();
  const after600 = await kids();
  assert.ok(!after600.includes(oldKid), "the expired authority's key is no longer published");
  assert.ok(after600.includes(prepared.kid), "the active key stays (next to the one prepared for the next rotation)");
  await assert.rejects(
    jwtVerify(oldToken, jwks, { issuer: ISSUER, audience: AUD, currentDate: new Date(START + 530_000) }),
    errors.JWKSNoMatchingKey,
    "with the key gone, the old token cannot verify even at a time it was valid",
  );
  const later = (await theCa.mintJwtSvid({ spiffeId: SUB, audience: [AUD] })).token;
  assert.equal(decodeProtectedHeader(later).kid, prepared.kid);
  assert.equal((await verify(later)).payload.sub, SUB);
});
