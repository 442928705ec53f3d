// Mutated inputs to every parser of untrusted text or bytes. "Correct failure" per parser: it
// either accepts the input or throws a SpindleError (a typed, coded error for the caller); a
// TypeError, RangeError or any other exception is a bug. loadPolicy reports problems instead of
// throwing, so for it any exception is a bug. The seed is printed; FUZZ_SEED reproduces a run.
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { buildCsr } from "../../src/agent/cache/csr.js";
import { generateWorkloadKey } from "../../src/agent/cache/workload-key.js";
import { loadPolicy } from "../../src/authz/policy-load.js";
import { parseAndVerifyCsr } from "../../src/ca/csr/parse-csr.js";
import { parsePem, pemToDers, splitConcatenatedDer } from "../../src/common/pem.js";
import { createBundleSet } from "../../src/spiffe/bundle.js";
import { decodeSpiffeBundle, encodeSpiffeBundle } from "../../src/spiffe/bundle-codec.js";
import { validateJwtSvid } from "../../src/spiffe/jwt-svid.js";
import { validateX509Svid } from "../../src/spiffe/x509-svid.js";
import { parseSelector } from "../../src/spiffe/selector.js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { createTestBundle, createTestCa, createTestJwtAuthority, issueTestSvid, signTestJwtSvid } from "../support/spiffe/index.js";
import { parseTrustDomain } from "../../src/spiffe/trust-domain.js";
import { createParserFuzzer } from "./parser-fuzz.js";

const fuzz = createParserFuzzer("parsers");

const ca = createTestCa({ trustDomain: "example.org" });
const svid = issueTestSvid(ca, { spiffeId: "spiffe://example.org/web" });

it("SPIFFE IDs and trust domains", async () => {
  const ids = ["spiffe://example.org/web", "spiffe://example.org", "spiffe://a-b.c_d.org/ns/default/sa/x", "spiffe://example.org/a/b/c%41", "spiffe://xn--nxasmq6b.example/p"];
  await fuzz("spiffe-id", ids, (s) => parseSpiffeId(s));
  await fuzz("trust-domain", ["example.org", ...ids], (s) => parseTrustDomain(s));
});

it("selectors", async () => {
  await fuzz("selector", ["unix:uid:1000", "k8s:ns:default", "k8s:pod-label:app:web", "docker:label:com.example:x", "unix:gid:0", "k8s:sa:default"], (s) => parseSelector(s));
});

it("CSRs", async () => {
  const seeds = await Promise.all(
    (["ec-p256", "ec-p384", "rsa-2048"] as const).map(async (t) => buildCsr({ spiffeId: "spiffe://example.org/web", dnsNames: ["web.example"] }, await generateWorkloadKey(t))),
  );
  await fuzz("csr", seeds, (b) => parseAndVerifyCsr(b));
});

it("X.509-SVID chains (DER), PEM and PEM bundles", async () => {
  // parseCertificate is internal (it may throw node's own errors); untrusted chains enter through
  // validateX509Svid, which must answer every malformed one with a typed error.
  const bundles = createBundleSet([createTestBundle({ cas: [ca] })]);
  await fuzz("x509-svid-der", [svid.der, ca.der], (b) => validateX509Svid([b], bundles, { now: Date.now() }));
  await fuzz("pem", [svid.chainPem, svid.privateKeyPem, ca.pem + svid.pem], (s) => parsePem(s));
  // PEM bundles (an agent's trust_bundle) and the Workload API's concatenated-DER bundles and
  // chains, through to chain validation.
  await fuzz("bundle-pem", [ca.pem, ca.pem + svid.pem], (s) => validateX509Svid(pemToDers(s, "CERTIFICATE"), bundles, { now: Date.now() }));
  await fuzz("concatenated-der", [Buffer.concat([svid.der, ca.der]), svid.der], (b) => validateX509Svid(splitConcatenatedDer(b), bundles, { now: Date.now() }));
});

it("SPIFFE bundles (JSON)", async () => {
  const td = parseTrustDomain("example.org");
  const bundle = createTestBundle({ cas: [ca], jwtAuthorities: [createTestJwtAuthority()], sequenceNumber: 3 });
  const seeds = [encodeSpiffeBundle(bundle), encodeSpiffeBundle(createTestBundle({ cas: [ca] })), '{"keys":[]}', '{"keys":[],"spiffe_sequence":1,"spiffe_refresh_hint":60}'];
  await fuzz("bundle-json", seeds, (s) => decodeSpiffeBundle(td, s));
});

it("JWT-SVIDs", async () => {
  const authority = createTestJwtAuthority();
  const bundles = createBundleSet([createTestBundle({ cas: [ca], jwtAuthorities: [authority] })]);
  const seeds = [
    await signTestJwtSvid(authority, { sub: "spiffe://example.org/web", aud: "db" }),
    await signTestJwtSvid(authority, { sub: "spiffe://example.org/web", aud: ["db", "cache"] }),
  ];
  await fuzz("jwt-svid", seeds, (s) => validateJwtSvid(s, bundles, { audience: "db", now: Date.now() }));
});

it("authz policies", async () => {
  const seeds = ["conf/policy.yaml", "conf/policy-minimal.yaml", "src/authz/testdata/invalid-policy.yaml"].map((f) => readFileSync(f, "utf8"));
  await fuzz("authz-policy", seeds, (s) => loadPolicy(s, "policy.yaml"), "any-throw-is-a-bug");
});
