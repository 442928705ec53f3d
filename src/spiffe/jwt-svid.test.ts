import { test } from "node:test";
import assert from "node:assert/strict";
import { CompactSign } from "jose";
import { SpindleError, type ErrorCode } from "../common/errors.js";
import { createBundle, createBundleSet } from "./bundle.js";
import { validateJwtSvid, type ValidateJwtSvidOptions } from "./jwt-svid.js";
import { createTestBundle, createTestJwtAuthority, encodeTestJws, signRawTestJws, signTestJwtSvid, type TestJwtOptions } from "../../test/support/spiffe/index.js";
import { parseTrustDomain } from "./trust-domain.js";

const now = Date.UTC(2026, 0, 1);
const SUB = "spiffe://example.org/ns/web";
const AUD = "spiffe://example.org/ns/db";
const authority = createTestJwtAuthority({ kid: "k1" });
const bundles = createBundleSet([createTestBundle({ trustDomain: "example.org", jwtAuthorities: [authority] })]);
const opts: ValidateJwtSvidOptions = { audience: AUD, now };

async function assertRejects(token: string | Promise<string>, code: ErrorCode, part?: string, options = opts, source = bundles): Promise<void> {
  await assert.rejects(validateJwtSvid(await token, source, options), (err: unknown) => {
    assert.ok(err instanceof SpindleError, `expected a SpindleError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (part !== undefined) assert.ok(err.message.includes(part), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(part)}`);
    return true;
  });
}

const sign = (o: Partial<TestJwtOptions> = {}, a = authority) => signTestJwtSvid(a, { sub: SUB, aud: [AUD], now, ...o });

test("accepts a valid token and returns the ID, claims and header", async () => {
  const r = await validateJwtSvid(await sign({ claims: { jti: "j1" } }), bundles, opts);
  assert.equal(r.spiffeId.toString(), SUB);
  assert.equal(r.claims["jti"], "j1");
  assert.equal(r.header["kid"], "k1");
  assert.deepEqual(r.audience, [AUD]);
  assert.equal(r.expiresAt, now + 300_000);
  // A single-string aud, typ JOSE and an absent typ are all fine.
  assert.ok(await validateJwtSvid(await sign({ aud: AUD, header: { typ: "JOSE" } }), bundles, opts));
  assert.ok(await validateJwtSvid(await sign({ header: { typ: undefined } }), bundles, opts));
});

test("accepts every allowed algorithm family", async () => {
  for (const alg of ["RS256", "PS384", "ES384", "ES512"] as const) {
    const a = createTestJwtAuthority({ alg, kid: alg });
    const b = createBundleSet([createTestBundle({ trustDomain: "example.org", jwtAuthorities: [a] })]);
    assert.equal((await validateJwtSvid(await sign({}, a), b, opts)).header["alg"], alg);
  }
});

test("refuses alg none, HS256 and other algorithms outside section 3's list", async () => {
  const claims = { sub: SUB, aud: AUD, exp: now / 1000 + 300 };
  await assertRejects(encodeTestJws({ alg: "none", kid: "k1" }, claims), "ERR_JWT_ALG", '"none"');
  const hs = new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(Buffer.alloc(32, 1));
  await assertRejects(hs, "ERR_JWT_ALG", '"HS256"');
  await assertRejects(encodeTestJws({ alg: "EdDSA", kid: "k1" }, claims, "AAAA"), "ERR_JWT_ALG");
  await assertRejects(encodeTestJws({ kid: "k1" }, claims, "AAAA"), "ERR_JWT_ALG", "undefined");
  // An allowed alg that does not fit the bundle key (RS256 against an EC key).
  await assertRejects(encodeTestJws({ alg: "RS256", kid: "k1" }, claims, "AAAA"), "ERR_JWT_ALG", "EC key");
});

test("kid: missing, unknown, and looked up only in the bundle of sub's trust domain", async () => {
  await assertRejects(sign({ header: { kid: undefined } }), "ERR_JWT_KID_MISSING");
  await assertRejects(sign({ header: { kid: "" } }), "ERR_JWT_KID_MISSING");
  await assertRejects(sign({ header: { kid: "nope" } }), "ERR_JWT_KID_UNKNOWN", '"nope"');
  // other.org's bundle holds the signing key, but sub claims example.org: the key must not count.
  const other = createTestJwtAuthority({ kid: "k-other" });
  const both = createBundleSet([...bundles, createTestBundle({ trustDomain: "other.org", jwtAuthorities: [other] })]);
  await assertRejects(sign({}, other), "ERR_JWT_KID_UNKNOWN", '"example.org"', opts, both);
  await assertRejects(sign({ sub: "spiffe://unknown.org/w" }), "ERR_JWT_NO_BUNDLE", '"unknown.org"');
});

test("refuses a signature that does not verify", async () => {
  await assertRejects(sign({ signWith: createTestJwtAuthority().privateKey }), "ERR_JWT_SIGNATURE", '"k1"');
  const token = await sign();
  const [h, , s] = token.split(".");
  const forgedClaims = Buffer.from(JSON.stringify({ sub: SUB, aud: AUD, exp: now / 1000 + 9999 })).toString("base64url");
  await assertRejects(`${h}.${forgedClaims}.${s}`, "ERR_JWT_SIGNATURE");
});

test("required claims sub, aud, exp, each with its type", async () => {
  await assertRejects(sign({ claims: { sub: undefined } }), "ERR_JWT_CLAIM_MISSING", '"sub"');
  await assertRejects(sign({ claims: { sub: 42 } }), "ERR_JWT_CLAIM_MISSING", '"sub"');
  await assertRejects(sign({ claims: { aud: undefined } }), "ERR_JWT_CLAIM_MISSING", '"aud"');
  await assertRejects(sign({ claims: { aud: [] } }), "ERR_JWT_CLAIM_MISSING", '"aud"');
  await assertRejects(sign({ claims: { aud: [AUD, 7] } }), "ERR_JWT_CLAIM_MISSING", '"aud"');
  await assertRejects(sign({ claims: { exp: undefined } }), "ERR_JWT_CLAIM_MISSING", '"exp"');
  await assertRejects(sign({ claims: { exp: "soon" } }), "ERR_JWT_CLAIM_MISSING", '"exp"');
  await assertRejects(sign({ claims: { nbf: "x" } }), "ERR_JWT_CLAIM_MISSING", '"nbf"');
  await assertRejects(sign({ sub: "spiffe://example.org/a/" }), "ERR_SPIFFE_ID_TRAILING_SLASH", 'claim "sub"');
});

test("audience must contain the expected one", async () => {
  await assertRejects(sign({ aud: ["spiffe://example.org/other"] }), "ERR_JWT_AUDIENCE", AUD);
  assert.ok(await validateJwtSvid(await sign({ aud: ["x", AUD] }), bundles, opts));
  await assert.rejects(validateJwtSvid(await sign(), bundles, { now, audience: "" }), TypeError);
});

test("exp, nbf and iat against now with leeway", async () => {
  const token = await sign({ ttlSeconds: 300 });
  const exp = now + 300_000;
  await assertRejects(token, "ERR_JWT_EXPIRED", "expired at", { ...opts, now: exp + 30_000 });
  assert.ok(await validateJwtSvid(token, bundles, { ...opts, now: exp + 29_000 }));
  await assertRejects(token, "ERR_JWT_EXPIRED", undefined, { ...opts, now: exp, leewaySeconds: 0 });
  assert.ok(await validateJwtSvid(token, bundles, { ...opts, now: exp - 1000, leewaySeconds: 0 }));

  await assertRejects(sign({ claims: { nbf: now / 1000 + 60 } }), "ERR_JWT_NOT_YET_VALID", "nbf");
  assert.ok(await validateJwtSvid(await sign({ claims: { nbf: now / 1000 + 20 } }), bundles, opts));
  await assertRejects(sign({ claims: { iat: now / 1000 + 60 } }), "ERR_JWT_NOT_YET_VALID", "iat");
  await assertRejects(sign({ claims: { nbf: 1e20 } }), "ERR_JWT_NOT_YET_VALID", "100000000000000000000");
});

test("typ other than JWT/JOSE is refused", async () => {
  await assertRejects(sign({ header: { typ: "at+jwt" } }), "ERR_JWT_TYP", '"at+jwt"');
});

test("malformed tokens", async () => {
  for (const bad of ["", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.x"]) await assertRejects(bad, "ERR_JWT_MALFORMED");
  await assertRejects(`${Buffer.from("[1]").toString("base64url")}.e30.AAAA`, "ERR_JWT_MALFORMED", "header");
  await assertRejects(`${Buffer.from('{"alg":"ES256"}').toString("base64url")}.bm90anNvbg.AAAA`, "ERR_JWT_MALFORMED", "payload");
  await assertRejects("a".repeat(70_000), "ERR_JWT_MALFORMED", "at most");
  // jose rejects unknown critical header parameters after the key is found.
  const claims = { sub: SUB, aud: AUD, exp: now / 1000 + 300 };
  const crit = await new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader({ alg: "ES256", kid: "k1", crit: ["x-unknown"], "x-unknown": 1 })
    .sign(authority.privateKey, { crit: { "x-unknown": true } });
  await assertRejects(crit, "ERR_JWT_MALFORMED", "x-unknown");
});

test("a member named twice in the claims or the header is refused, even when signed (no last-value-wins)", async () => {
  const exp = now / 1000 + 300;
  const header = `{"alg":"ES256","kid":"k1","typ":"JWT"}`;
  const valid = signRawTestJws(authority, header, `{"sub":"${SUB}","aud":"${AUD}","exp":${exp}}`);
  assert.equal((await validateJwtSvid(valid, bundles, opts)).spiffeId.toString(), SUB, "the raw signer makes valid tokens");
  const cases: [string, string, string][] = [
    [header, `{"sub":"${SUB}","aud":"someone-else","exp":${exp},"aud":"${AUD}"}`, 'payload has the member "aud" more than once'],
    [header, `{"sub":"spiffe://example.org/ns/admin","aud":"${AUD}","exp":${exp},"sub":"${SUB}"}`, 'payload has the member "sub" more than once'],
    [header, `{"sub":"${SUB}","aud":"${AUD}","exp":1,"e\u0078p":${exp}}`, 'payload has the member "exp" more than once'],
    [`{"alg":"ES256","kid":"unknown","kid":"k1","typ":"JWT"}`, `{"sub":"${SUB}","aud":"${AUD}","exp":${exp}}`, 'header has the member "kid" more than once'],
    [`{"alg":"HS256","typ":"JWT","kid":"k1","alg":"ES256"}`, `{"sub":"${SUB}","aud":"${AUD}","exp":${exp}}`, 'header has the member "alg" more than once'],
  ];
  for (const [h, p, why] of cases) await assertRejects(signRawTestJws(authority, h, p), "ERR_JWT_MALFORMED", why);
  // The same name in different objects is not a duplicate.
  const nested = signRawTestJws(authority, header, `{"sub":"${SUB}","aud":"${AUD}","exp":${exp},"a":{"sub":1},"b":{"sub":2}}`);
  assert.deepEqual((await validateJwtSvid(nested, bundles, opts)).claims["b"], { sub: 2 });
});

test("a bundle key pinned to another alg is refused", async () => {
  const b = createBundleSet([
    createBundle({ trustDomain: parseTrustDomain("example.org"), jwtAuthorities: [["k1", { ...authority.publicJwk, alg: "ES384" }]] }),
  ]);
  await assertRejects(sign(), "ERR_JWT_ALG", "ES384", opts, b);
});
