import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpindleError, certsToPem } from "../../common/index.js";
import { buildCaCertificate, encodeName, issuerFromCertificate } from "../x509/index.js";
import { assertCaRules, assertLeafRules } from "../../../test/support/x509-checks.js";
import { createUpstreamAuthority, loadUpstreamAuthority, prepareTime } from "./index.js";
import { START, assertChainsToBundle, assertSpiffeValid, harness, newCa, workloadKey } from "../../../test/support/authority.js";

const YEAR = 365 * 86_400_000;

/** An existing PKI: a P-384 root and an RSA intermediate that will sign Spindle's CAs. */
function upstreamPki(intermediateNotAfter = START + YEAR) {
  const rootKey = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const root = buildCaCertificate({
    publicKey: rootKey.publicKey,
    privateKey: rootKey.privateKey,
    subjectNameDer: encodeName([["C", "US"], ["O", "Corp"], ["CN", "Corp Root"]]),
    trustDomainId: "spiffe://corp.example",
    notBefore: START - YEAR,
    notAfter: START + 10 * YEAR,
  });
  const interKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const inter = buildCaCertificate({
    publicKey: interKey.publicKey,
    subjectNameDer: encodeName([["C", "US"], ["O", "Corp"], ["CN", "Corp Issuing CA"]]),
    trustDomainId: "spiffe://corp.example",
    notBefore: START - YEAR,
    notAfter: intermediateNotAfter,
    issuer: issuerFromCertificate(root.der, rootKey.privateKey, "root"),
  });
  return { root: root.der, rootSki: root.ski, inter: inter.der, interSki: inter.ski, interKey: interKey.privateKey as KeyObject, rootKey: rootKey.privateKey };
}

test("upstream mode: each CA is an intermediate under the upstream CA; SVIDs chain to the upstream root", async () => {
  const pki = upstreamPki();
  const upstream = createUpstreamAuthority({ certificate: pki.inter, privateKey: pki.interKey, bundle: [pki.root] });
  assert.deepEqual(upstream.roots, [pki.root]);
  assert.deepEqual(upstream.chain, [pki.inter]);
  const h = harness({ upstream });
  const ca = await newCa(h);
  assert.deepEqual(ca.bundleContents().x509Authorities, [pki.root], "the bundle holds the upstream root, not our intermediates");
  const record = ca.show().x509[0]!;
  assertCaRules(Buffer.from(record.certDer, "base64"), "spiffe://example.org", pki.interSki.toString("hex"));
  assert.deepEqual(record.upstreamChainDer, [pki.inter.toString("base64")]);

  const svid = ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() });
  assert.equal(svid.chain.length, 3, "leaf, our intermediate, the upstream intermediate");
  assert.deepEqual(svid.chain[1], Buffer.from(record.certDer, "base64"));
  assert.deepEqual(svid.chain[2], pki.inter);
  assertLeafRules(svid.chain[0]!, { spiffeId: "spiffe://example.org/w", issuerSki: record.id });
  assertChainsToBundle(svid.chain, ca.bundleContents(), h.clock.now());
  await assertSpiffeValid(ca.bundleContents(), h.clock.now(), { x509: svid.chain });

  // Rotation keeps working and never changes the published roots.
  h.clock.set(prepareTime(record));
  await ca.tick();
  assert.equal(ca.show().x509.length, 2);
  assert.deepEqual(ca.bundleContents().x509Authorities, [pki.root]);
});

test("upstream mode with a root as the upstream CA: chain is leaf + our intermediate", async () => {
  const pki = upstreamPki();
  const upstream = createUpstreamAuthority({ certificate: pki.root, privateKey: pki.rootKey });
  assert.deepEqual(upstream.chain, []);
  const ca = await newCa(harness({ upstream }));
  const svid = ca.mintX509Svid({ spiffeId: "spiffe://example.org/w", publicKey: workloadKey() });
  assert.equal(svid.chain.length, 2);
  assertChainsToBundle(svid.chain, ca.bundleContents(), START);
});

test("upstream CA notAfter caps our CA's lifetime", async () => {
  const pki = upstreamPki(START + 3 * 3600_000);
  const upstream = createUpstreamAuthority({ certificate: pki.inter, privateKey: pki.interKey, bundle: [pki.root] });
  const ca = await newCa(harness({ upstream }));
  assert.equal(ca.show().x509[0]!.notAfter, START + 3 * 3600_000);
  assert.equal(new X509Certificate(Buffer.from(ca.show().x509[0]!.certDer, "base64")).validTo, new X509Certificate(pki.inter).validTo);
});

test("upstream material is checked: missing root, wrong key", () => {
  const pki = upstreamPki();
  assert.throws(
    () => createUpstreamAuthority({ certificate: pki.inter, privateKey: pki.interKey }),
    (e: unknown) => SpindleError.is(e, "ERR_CONFIG_INVALID") && /no issuer for .*Corp Issuing CA/s.test(e.message),
  );
  assert.throws(
    () => createUpstreamAuthority({ certificate: pki.inter, privateKey: pki.rootKey, bundle: [pki.root] }),
    (e: unknown) => SpindleError.is(e, "ERR_CONFIG_INVALID") && /does not match/.test(e.message),
  );
});

test("loadUpstreamAuthority reads PEM cert, key and bundle files", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "spindle-upstream-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = upstreamPki();
  await writeFile(join(dir, "ca.pem"), certsToPem([pki.inter]));
  await writeFile(join(dir, "ca.key"), pki.interKey.export({ format: "pem", type: "pkcs1" }), { mode: 0o600 });
  await writeFile(join(dir, "bundle.pem"), certsToPem([pki.root]));
  const upstream = await loadUpstreamAuthority({ certFile: join(dir, "ca.pem"), keyFile: join(dir, "ca.key"), bundleFile: join(dir, "bundle.pem") });
  assert.deepEqual(upstream.roots, [pki.root]);
  await assert.rejects(loadUpstreamAuthority({ certFile: join(dir, "missing.pem"), keyFile: join(dir, "ca.key") }), (e: unknown) => SpindleError.is(e, "ERR_CONFIG_READ") && e.message.includes("missing.pem"));
  await writeFile(join(dir, "bad.key"), "garbage");
  await assert.rejects(loadUpstreamAuthority({ certFile: join(dir, "ca.pem"), keyFile: join(dir, "bad.key") }), (e: unknown) => SpindleError.is(e, "ERR_KEY_FILE_INVALID") && e.message.includes("bad.key"));
});
