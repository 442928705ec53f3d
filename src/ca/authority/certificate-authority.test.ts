import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { SpindleError } from "../../common/index.js";
import type { KeyManager } from "../contracts.js";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDiskKeyManager, createMemoryKeyManager } from "../keys/index.js";
import { assertCaRules, assertLeafRules, px } from "../../../test/support/x509-checks.js";
import { X509Certificate } from "node:crypto";
import { START, assertChainsToBundle, assertSpiffeValid, harness, newCa, workloadKey } from "../../../test/support/authority.js";

const isCode = (code: Parameters<typeof SpindleError.is>[1], re?: RegExp) => (e: unknown) => SpindleError.is(e, code) && (re === undefined || re.test(e.message));

test("a new CA has one active X.509 and one active JWT authority, saved to the journal store", async () => {
  const h = harness();
  const ca = await newCa(h);
  const j = ca.show();
  assert.equal(j.x509.length, 1);
  assert.equal(j.x509[0]!.state, "active");
  assert.equal(j.x509[0]!.serverId, "server-a");
  assert.equal(j.x509[0]!.notAfter - START, 24 * 3600_000, "CA TTL defaults to 24 h");
  assert.equal(j.jwt.length, 1);
  assert.equal(j.jwt[0]!.state, "active");
  assert.deepEqual(await h.journalStore.load("server-a"), j);
  const cert = assertCaRules(Buffer.from(j.x509[0]!.certDer, "base64"), "spiffe://example.org");
  assert.equal(cert.getExtension(px.SubjectKeyIdentifierExtension)?.keyId, j.x509[0]!.id, "authority id = hex SKI");
  assert.equal(cert.notBefore.getTime(), START - 10_000);
  assert.equal(ca.bundleContents().x509Authorities.length, 1);
  assert.equal(ca.bundleContents().jwtAuthorities[0]!.kid, j.jwt[0]!.kid);
});

test("an X.509-SVID follows every leaf rule, chains to the bundle and names its authority", async () => {
  const h = harness();
  const ca = await newCa(h);
  const svid = ca.mintX509Svid({ spiffeId: "spiffe://example.org/ns/web", publicKey: workloadKey(), dnsNames: ["web.internal"] });
  const record = ca.show().x509[0]!;
  assert.equal(svid.authorityId, record.id);
  assert.equal(svid.chain.length, 1, "self-signed mode: the chain is the leaf only; the root is in the bundle");
  const leaf = assertLeafRules(svid.chain[0]!, { spiffeId: "spiffe://example.org/ns/web", dnsNames: ["web.internal"], issuerSki: record.id });
  assert.equal(leaf.serialNumber, svid.serial);
  assert.equal(leaf.notBefore.getTime(), START - 10_000, "backdated 10 s");
  assert.equal(leaf.notAfter.getTime(), START + 3600_000, "default X.509-SVID TTL 1 h");
  assert.equal(svid.notAfter, START + 3600_000);
  assertChainsToBundle(svid.chain, ca.bundleContents(), h.clock.now());
  await assertSpiffeValid(ca.bundleContents(), h.clock.now(), { x509: svid.chain });
});

test("a JWT-SVID verifies with the bundle's JWK by kid and carries the section 3 claims", async () => {
  const h = harness({ jwtIssuer: "https://oidc.example.org" });
  const ca = await newCa(h);
  const minted = await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/ns/web", audience: ["db", "cache"] });
  const header = decodeProtectedHeader(minted.token);
  assert.deepEqual(header, { alg: "ES256", kid: minted.kid, typ: "JWT" });
  const jwks = createLocalJWKSet({ keys: ca.bundleContents().jwtAuthorities.map((a) => ({ ...a.publicKeyJwk, kid: a.kid })) });
  const { payload } = await jwtVerify(minted.token, jwks, { audience: "db", currentDate: new Date(h.clock.now()) });
  assert.equal(payload.sub, "spiffe://example.org/ns/web");
  assert.deepEqual(payload.aud, ["db", "cache"]);
  assert.equal(payload.iat, START / 1000);
  assert.equal(payload.exp, START / 1000 + 300, "default JWT-SVID TTL 5 min");
  assert.equal(payload.iss, "https://oidc.example.org");
  assert.equal(minted.expiresAt, START + 300_000);
  const single = await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/x", audience: ["db"], ttlSeconds: 60 });
  const p2 = (await jwtVerify(single.token, jwks, { currentDate: new Date(h.clock.now()) })).payload;
  assert.equal(p2.aud, "db", "one audience is a plain string");
  assert.equal(p2.iss, "https://oidc.example.org");
  await assertSpiffeValid(ca.bundleContents(), h.clock.now(), { jwt: { token: minted.token, audience: "cache" } });
});

test("RSA and P-384 key types mint SVIDs with matching algorithms", async () => {
  const h = harness({ keyType: "rsa-2048", jwtKeyType: "ec-p384" });
  const ca = await newCa(h);
  const rsaWorkload = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
  const svid = ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: rsaWorkload });
  assertLeafRules(svid.chain[0]!, { spiffeId: "spiffe://example.org/a", issuerSki: svid.authorityId, rsaKey: true });
  assertChainsToBundle(svid.chain, ca.bundleContents(), h.clock.now());
  const jwt = await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/a", audience: ["x"] });
  assert.equal(decodeProtectedHeader(jwt.token).alg, "ES384");
});

test("TTL: requests are capped at the issuing authority's notAfter", async () => {
  const h = harness({ caTtlSeconds: 6000, x509SvidTtlSeconds: 1000, jwtSvidTtlSeconds: 1000 });
  const ca = await newCa(h);
  const caNotAfter = ca.show().x509[0]!.notAfter;
  const long = ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: workloadKey(), ttlSeconds: 100_000 });
  assert.equal(long.notAfter, caNotAfter);
  assert.equal(new X509Certificate(long.chain[0]!).validTo, new X509Certificate(Buffer.from(ca.show().x509[0]!.certDer, "base64")).validTo);
  const jwt = await ca.mintJwtSvid({ spiffeId: "spiffe://example.org/a", audience: ["x"], ttlSeconds: 100_000 });
  assert.equal(jwt.expiresAt, ca.show().jwt[0]!.notAfter);
  const short = ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: workloadKey(), ttlSeconds: 30 });
  assert.equal(short.notAfter, START + 30_000);
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: workloadKey(), ttlSeconds: 0 }), isCode("ERR_INVALID_ARGUMENT", /ttlSeconds/));
});

test("config: an SVID TTL above CA TTL / 6 is refused with ERR_CONFIG_INVALID, listing every problem", async () => {
  const h = harness();
  await assert.rejects(newCa(h, { caTtlSeconds: 600, x509SvidTtlSeconds: 101 }), isCode("ERR_CONFIG_INVALID", /x509SvidTtlSeconds: 101 s exceeds caTtlSeconds \/ 6 = 100 s/));
  await assert.rejects(newCa(h, { caTtlSeconds: 600, x509SvidTtlSeconds: 100, jwtSvidTtlSeconds: 101 }), isCode("ERR_CONFIG_INVALID", /jwtSvidTtlSeconds/));
  // Defaults (24 h CA, 1 h SVID) are fine; a 5 h CA with the default 1 h SVID is not.
  await assert.rejects(newCa(h, { caTtlSeconds: 5 * 3600 }), isCode("ERR_CONFIG_INVALID", /x509SvidTtlSeconds: 3600 s exceeds/));
  await assert.rejects(
    newCa(h, { trustDomain: "Bad.Domain", serverId: "", keyType: "ec-p521" as never }),
    (e: unknown) => SpindleError.is(e, "ERR_CONFIG_INVALID") && (e.details.problems as string[]).length === 3,
  );
  assert.equal(h.journalStore.saves, 0, "nothing was created");
});

test("mint requests are validated: trust domain, workload path, DNS names, key type, audience", async () => {
  const ca = await newCa(harness());
  const key = workloadKey();
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://other.org/a", publicKey: key }), isCode("ERR_SPIFFE_ID_WRONG_TRUST_DOMAIN"));
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://example.org", publicKey: key }), isCode("ERR_SPIFFE_ID_NOT_WORKLOAD"));
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: key, dnsNames: ["bad name"] }), isCode("ERR_INVALID_ARGUMENT", /DNS name/));
  const ed = generateKeyPairSync("ed25519").publicKey;
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: ed }), isCode("ERR_KEY_UNSUPPORTED"));
  const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
  assert.throws(() => ca.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: small }), isCode("ERR_KEY_UNSUPPORTED"));
  await assert.rejects(ca.mintJwtSvid({ spiffeId: "spiffe://example.org/a", audience: [] }), isCode("ERR_INVALID_ARGUMENT", /audience/));
  await assert.rejects(ca.mintJwtSvid({ spiffeId: "spiffe://other.org/a", audience: ["x"] }), isCode("ERR_SPIFFE_ID_WRONG_TRUST_DOMAIN"));
});

test("memory key manager lost on restart: the keyless authority is demoted, a new one signs, the old cert stays published", async () => {
  const h = harness();
  const first = await newCa(h);
  const oldId = first.show().x509[0]!.id;
  const restarted = await newCa(h, { keyManager: createMemoryKeyManager() });
  const j = restarted.show();
  assert.equal(j.x509.find((r) => r.id === oldId)?.state, "old");
  const active = j.x509.find((r) => r.state === "active");
  assert.ok(active && active.id !== oldId);
  assert.equal(restarted.bundleContents().x509Authorities.length, 2);
  const svid = restarted.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: workloadKey() });
  assert.equal(svid.authorityId, active.id);
  assert.equal(j.jwt.filter((r) => r.state === "active").length, 1);
});

test("disk keys: a restart resumes the same CA from disk; a loosened key file stops the CA from starting", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "spindle-ca-keys-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const h = harness({ keyManager: createDiskKeyManager({ dir: join(dir, "keys") }) });
  const first = await newCa(h);
  const record = first.show().x509[0]!;
  const again = await newCa(h, { keyManager: createDiskKeyManager({ dir: join(dir, "keys") }) });
  assert.equal(again.mintX509Svid({ spiffeId: "spiffe://example.org/a", publicKey: workloadKey() }).authorityId, record.id);
  const file = join(dir, "keys", `${record.keyId}.key.pem`);
  await chmod(file, 0o644);
  await assert.rejects(
    newCa(h, { keyManager: createDiskKeyManager({ dir: join(dir, "keys") }) }),
    (e: unknown) => SpindleError.is(e, "ERR_KEY_FILE_PERMISSIONS") && e.message.includes(file) && e.message.includes("0644"),
  );
});

test("a change that fails half-way is still persisted: nothing is lost from the journal", async () => {
  const h = harness();
  const ca = await newCa(h);
  const pending = await ca.prepare("x509");
  const km = h.keyManager;
  const failingKm: KeyManager = {
    kind: km.kind,
    getKey: (id) => km.getKey(id),
    deleteKey: (id) => km.deleteKey(id),
    importKey: (id, key) => km.importKey(id, key),
    generateKey: async () => Promise.reject(new Error("disk full")),
  };
  // prepare() first removes the pending prepared authority, then fails to create the new one:
  // the removal must still reach the store.
  const restarted = await newCa(h, { keyManager: failingKm });
  await assert.rejects(restarted.prepare("x509"), /disk full/);
  const saved = await h.journalStore.load("server-a");
  assert.ok(saved && !saved.x509.some((r) => r.id === pending.id), "the removed authority is gone from the store too");
  assert.deepEqual(saved, restarted.show());
  assert.equal(restarted.show().x509.filter((r) => r.state === "active").length, 1, "the active authority is untouched");
});
