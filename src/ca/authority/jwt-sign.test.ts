// JWT-SVIDs signed with node:crypto verify with jose for every supported key type, and carry the
// header and claims the JWT-SVID standard (section 3) asks for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { compactVerify, decodeProtectedHeader, jwtVerify } from "jose";
import type { JwtAuthorityRecord } from "../contracts.js";
import { jwtSigner, signJwtSvid } from "./jwt-authority.js";

const record = { kid: "kid-1" } as JwtAuthorityRecord;
const keys = {
  ES256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  ES384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
  RS256: generateKeyPairSync("rsa", { modulusLength: 2048 }),
};

for (const [alg, pair] of Object.entries(keys)) {
  test(`${alg}: jose verifies the JWT-SVID and reads back its claims`, async () => {
    const signer = jwtSigner(record, pair.privateKey);
    assert.equal(signer.alg, alg);
    const now = Math.floor(Date.now() / 1000);
    const one = await signJwtSvid(signer, { spiffeId: "spiffe://example.org/web", audience: ["db"], issuedAt: now, expiresAt: now + 300, issuer: undefined });
    const { payload, protectedHeader } = await jwtVerify(one, pair.publicKey, { audience: "db", algorithms: [alg] });
    assert.deepEqual(protectedHeader, { alg, kid: "kid-1", typ: "JWT" });
    assert.equal(payload.sub, "spiffe://example.org/web");
    assert.equal(payload.aud, "db");
    assert.equal(payload.iat, now);
    assert.equal(payload.exp, now + 300);
    assert.equal(payload.iss, undefined);

    const two = await signJwtSvid(signer, { spiffeId: "spiffe://example.org/web", audience: ["a", "b"], issuedAt: now, expiresAt: now + 300, issuer: "https://oidc.example.org" });
    const verified = await jwtVerify(two, pair.publicKey, { audience: "b", issuer: "https://oidc.example.org" });
    assert.deepEqual(verified.payload.aud, ["a", "b"]);
    assert.equal(decodeProtectedHeader(two).alg, alg);

    // A changed payload no longer verifies.
    const [h, , s] = one.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: "spiffe://example.org/admin", aud: "db", iat: now, exp: now + 300 })).toString("base64url")}.${s}`;
    await assert.rejects(compactVerify(forged, pair.publicKey));
  });
}
