import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../common/errors.js";
import { splitConcatenatedDer } from "../common/pem.js";
import { createBundle, createBundleSet } from "./bundle.js";
import { decodeSpiffeBundle, encodeJwtBundleJwks, encodeSpiffeBundle, encodeX509BundleDer } from "./bundle-codec.js";
import { createTestBundle, createTestCa, createTestJwtAuthority } from "../../test/support/spiffe/index.js";
import { parseTrustDomain } from "./trust-domain.js";

const td = parseTrustDomain("example.org");
const caA = createTestCa({ trustDomain: td });
const caB = createTestCa({ trustDomain: td, keyType: "rsa-2048" });
const jwtA = createTestJwtAuthority({ kid: "kid-a" });
const jwtB = createTestJwtAuthority({ kid: "kid-b", alg: "RS256" });

function assertInvalid(doc: unknown, part: string): void {
  assert.throws(
    () => decodeSpiffeBundle(td, typeof doc === "string" ? doc : JSON.stringify(doc)),
    (err: unknown) => {
      assert.ok(err instanceof SpindleError);
      assert.equal(err.code, "ERR_BUNDLE_INVALID");
      assert.ok(err.message.includes(part), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(part)}`);
      assert.ok(err.message.includes('"example.org"'), err.message);
      return true;
    },
  );
}

test("encode -> decode round-trips authorities, sequence and refresh hint", () => {
  const bundle = createTestBundle({ cas: [caA, caB], jwtAuthorities: [jwtA, jwtB], sequenceNumber: 7, refreshHintSeconds: 300 });
  const json = encodeSpiffeBundle(bundle);
  const doc = JSON.parse(json) as { keys: Record<string, unknown>[]; spiffe_sequence: number; spiffe_refresh_hint: number };
  assert.equal(doc.spiffe_sequence, 7);
  assert.equal(doc.spiffe_refresh_hint, 300);
  const x509Keys = doc.keys.filter((k) => k["use"] === "x509-svid");
  assert.equal(x509Keys.length, 2);
  for (const k of x509Keys) {
    assert.equal(k["kid"], undefined, "section 4: x509 authorities carry no kid");
    assert.equal((k["x5c"] as string[]).length, 1);
  }
  assert.deepEqual(x509Keys.map((k) => k["kty"]), ["EC", "RSA"]);
  assert.deepEqual(doc.keys.filter((k) => k["use"] === "jwt-svid").map((k) => k["kid"]), ["kid-a", "kid-b"]);

  const back = decodeSpiffeBundle(td, json);
  assert.equal(back.trustDomain.name, "example.org");
  assert.deepEqual(back.x509Authorities.map((d) => Buffer.from(d).toString("hex")), [caA.rootDer.toString("hex"), caB.rootDer.toString("hex")]);
  assert.deepEqual(back.jwtAuthorities.get("kid-a"), jwtA.publicJwk);
  assert.deepEqual(back.jwtAuthorities.get("kid-b"), jwtB.publicJwk);
  assert.equal(back.sequenceNumber, 7);
  assert.equal(back.refreshHintSeconds, 300);
  assert.equal(encodeSpiffeBundle(back), json);
  // Bytes work as input too.
  assert.equal(decodeSpiffeBundle(td, Buffer.from(json)).jwtAuthorities.size, 2);
});

test("empty keys is a valid bundle that trusts nothing; sequence and hint are optional", () => {
  const b = decodeSpiffeBundle(td, '{"keys":[]}');
  assert.equal(b.x509Authorities.length, 0);
  assert.equal(b.jwtAuthorities.size, 0);
  assert.equal(b.sequenceNumber, undefined);
  assert.equal(b.refreshHintSeconds, undefined);
  assert.equal(encodeSpiffeBundle(b), '{"keys":[]}');
});

test("keys with an unknown use or kty are ignored; an x509 key with two x5c uses the first", () => {
  const doc = JSON.parse(encodeSpiffeBundle(createTestBundle({ cas: [caA], jwtAuthorities: [jwtA] }))) as { keys: Record<string, unknown>[] };
  const [x509Key, jwtKey] = doc.keys as [Record<string, unknown>, Record<string, unknown>];
  const extended = {
    keys: [
      { ...x509Key, x5c: [...(x509Key["x5c"] as string[]), caB.rootDer.toString("base64")] },
      jwtKey,
      { ...jwtKey, use: "wit-svid", kid: "w1" },
      { ...jwtKey, use: undefined, kid: "no-use" },
      { kty: "oct", use: "jwt-svid", kid: "sym", k: "c2VjcmV0" },
      { kty: "FUTURE", use: "jwt-svid", kid: "f1", x: "whatever" },
    ],
    unknown_member: true,
  };
  const b = decodeSpiffeBundle(td, JSON.stringify(extended));
  assert.deepEqual(b.x509Authorities.map((d) => Buffer.from(d).toString("hex")), [caA.rootDer.toString("hex")]);
  assert.deepEqual([...b.jwtAuthorities.keys()], ["kid-a"]);
});

test("garbage and broken keys are ERR_BUNDLE_INVALID with the JSON path", () => {
  const jwk = { ...jwtA.publicJwk, use: "jwt-svid", kid: "k" };
  assertInvalid("not json", "$: is not JSON");
  assertInvalid("[]", "must be a JSON object");
  assertInvalid({}, "$.keys: must be an array");
  assertInvalid({ keys: {} }, "$.keys: must be an array");
  assertInvalid({ keys: [42] }, "$.keys[0]: must be an object");
  assertInvalid({ keys: [{ kty: "EC", use: "x509-svid" }] }, "$.keys[0].x5c");
  assertInvalid({ keys: [{ kty: "EC", use: "x509-svid", x5c: [] }] }, "$.keys[0].x5c");
  assertInvalid({ keys: [{ kty: "EC", use: "x509-svid", x5c: ["%%%"] }] }, "$.keys[0].x5c[0]: is not a base64 string");
  assertInvalid({ keys: [{ kty: "EC", use: "x509-svid", x5c: ["AAAA"] }] }, "$.keys[0].x5c[0]: is not a DER certificate");
  assertInvalid({ keys: [{ ...jwk, kid: undefined }] }, "$.keys[0].kid");
  assertInvalid({ keys: [{ ...jwk, kid: "" }] }, "$.keys[0].kid");
  assertInvalid({ keys: [{ ...jwk, x: "AAAA" }] }, "$.keys[0]: is not a usable EC public key");
  assertInvalid({ keys: [jwk, jwk] }, '$.keys[1].kid: duplicate kid "k"');
  assertInvalid({ keys: [{ ...jwk, d: "AAAA" }] }, "private key members (d)");
  assertInvalid({ keys: [], spiffe_sequence: -1 }, "$.spiffe_sequence");
  assertInvalid({ keys: [], spiffe_sequence: "1" }, "$.spiffe_sequence");
  assertInvalid({ keys: [], spiffe_refresh_hint: 1.5 }, "$.spiffe_refresh_hint");
});

test("Workload API encodings: concatenated DER and a JWKS where every key has its kid", () => {
  const bundle = createTestBundle({ cas: [caA, caB], jwtAuthorities: [jwtA, jwtB] });
  const der = encodeX509BundleDer(bundle);
  assert.deepEqual(splitConcatenatedDer(der).map((d) => d.toString("hex")), [caA.rootDer.toString("hex"), caB.rootDer.toString("hex")]);
  const jwks = JSON.parse(encodeJwtBundleJwks(bundle)) as { keys: Record<string, unknown>[] };
  assert.deepEqual(jwks.keys.map((k) => k["kid"]), ["kid-a", "kid-b"]);
  assert.deepEqual({ ...jwks.keys[0], kid: undefined }, { ...jwtA.publicJwk, kid: undefined });
  assert.equal(encodeJwtBundleJwks(createBundle({ trustDomain: td })), '{"keys":[]}');
});

test("createBundle freezes its result and refuses programmer mistakes", () => {
  const b = createBundle({ trustDomain: td, jwtAuthorities: { k: { ...jwtA.publicJwk, kid: "k", use: "jwt-svid" } } });
  assert.ok(Object.isFrozen(b));
  assert.deepEqual(b.jwtAuthorities.get("k"), jwtA.publicJwk, "kid and use are not kept inside the JWK");
  assert.throws(() => createBundle({ trustDomain: td, jwtAuthorities: [["", jwtA.publicJwk]] }), TypeError);
  assert.throws(() => createBundle({ trustDomain: td, jwtAuthorities: [["k", { ...jwtA.publicJwk, d: "x" }]] }), /private members d/);
  assert.throws(
    () => createBundle({ trustDomain: td, jwtAuthorities: [["k", jwtA.publicJwk], ["k", jwtB.publicJwk]] }),
    /duplicate JWT authority kid "k"/,
  );
  assert.throws(() => createBundle({ trustDomain: td, sequenceNumber: -1 }), TypeError);
});

test("BundleSet looks bundles up by trust domain and is immutable", () => {
  const other = parseTrustDomain("other.org");
  const set = createBundleSet([createBundle({ trustDomain: td, sequenceNumber: 1 })]);
  assert.equal(set.getBundle(parseTrustDomain("example.org"))?.sequenceNumber, 1);
  assert.equal(set.getBundle(other), undefined);
  const next = set.with(createBundle({ trustDomain: other })).with(createBundle({ trustDomain: td, sequenceNumber: 2 }));
  assert.equal(set.size, 1);
  assert.equal(next.size, 2);
  assert.equal(next.getBundle(td)?.sequenceNumber, 2);
  assert.deepEqual([...next].map((b) => b.trustDomain.name).sort(), ["example.org", "other.org"]);
  assert.throws(() => createBundleSet([createBundle({ trustDomain: td }), createBundle({ trustDomain: td })]), /two bundles/);
});
