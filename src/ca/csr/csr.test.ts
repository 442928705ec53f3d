import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { SpindleError } from "../../common/index.js";
import { px } from "../../../test/support/x509-checks.js";
import { parseAndVerifyCsr } from "./index.js";

const subtle = webcrypto.subtle;
type Alg = { name: string; namedCurve?: string; modulusLength?: number; publicExponent?: Uint8Array; hash: string };
const P256: Alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const P384: Alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
const RSA = (bits: number): Alg => ({ name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" });

/** A CSR built by @peculiar/x509 (an independent encoder), optionally with SANs and cA=true. */
async function makeCsr(alg: Alg, opts: { uris?: string[]; dns?: string[]; ca?: boolean } = {}): Promise<Buffer> {
  const keys = (await subtle.generateKey(alg as never, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const extensions: InstanceType<typeof px.Extension>[] = [];
  const names = [...(opts.uris ?? []).map((value) => ({ type: "url" as const, value })), ...(opts.dns ?? []).map((value) => ({ type: "dns" as const, value }))];
  if (names.length > 0) extensions.push(new px.SubjectAlternativeNameExtension(names));
  if (opts.ca !== undefined) extensions.push(new px.BasicConstraintsExtension(opts.ca, undefined, true));
  const csr = await px.Pkcs10CertificateRequestGenerator.create({ name: "O=Agent", keys, signingAlgorithm: alg, extensions }, webcrypto as never);
  return Buffer.from(csr.rawData);
}

const isCode = (code: Parameters<typeof SpindleError.is>[1]) => (e: unknown) => SpindleError.is(e, code);

test("parses and verifies P-256, P-384 and RSA-2048 CSRs, reporting SANs and the public key", async () => {
  for (const alg of [P256, P384, RSA(2048)]) {
    const der = await makeCsr(alg, { uris: ["spiffe://example.org/w"], dns: ["w.example.org"] });
    const csr = parseAndVerifyCsr(der);
    assert.deepEqual(csr.uriSans, ["spiffe://example.org/w"]);
    assert.deepEqual(csr.dnsNames, ["w.example.org"]);
    assert.equal(csr.requestsCa, false);
    assert.equal(csr.publicKey.asymmetricKeyType, alg.name === "ECDSA" ? "ec" : "rsa");
    assert.deepEqual(csr.publicKey.export({ format: "der", type: "spki" }), csr.publicKeySpkiDer);
  }
  const bare = parseAndVerifyCsr(await makeCsr(P256));
  assert.deepEqual([bare.uriSans, bare.dnsNames, bare.requestsCa], [[], [], false]);
});

test("reports a request for cA=true", async () => {
  assert.equal(parseAndVerifyCsr(await makeCsr(P256, { ca: true })).requestsCa, true);
  assert.equal(parseAndVerifyCsr(await makeCsr(P256, { ca: false })).requestsCa, false);
});

test("refuses a CSR whose signature does not verify", async () => {
  const der = await makeCsr(P256, { uris: ["spiffe://example.org/w"] });
  // Flip one byte of the signed CertificationRequestInfo (inside the URI) so the content no
  // longer matches the signature while the DER structure stays intact.
  const i = der.indexOf(Buffer.from("example.org"));
  der[i] = "E".charCodeAt(0);
  assert.throws(() => parseAndVerifyCsr(der), isCode("ERR_CSR_SIGNATURE"));
});

test("refuses weak or unsupported keys: RSA-1024, P-521", async () => {
  const rsa1024 = await makeCsr(RSA(1024));
  assert.throws(() => parseAndVerifyCsr(rsa1024), (e: unknown) => SpindleError.is(e, "ERR_KEY_UNSUPPORTED") && /1024 bits/.test(e.message));
  const p521 = await makeCsr({ name: "ECDSA", namedCurve: "P-521", hash: "SHA-512" });
  assert.throws(() => parseAndVerifyCsr(p521), (e: unknown) => SpindleError.is(e, "ERR_KEY_UNSUPPORTED") && /secp521r1/.test(e.message));
});

test("refuses SHA-1 signatures, garbage and trailing bytes with ERR_CSR_INVALID", async () => {
  const sha1 = await makeCsr({ ...P256, hash: "SHA-1" });
  assert.throws(() => parseAndVerifyCsr(sha1), (e: unknown) => SpindleError.is(e, "ERR_CSR_INVALID") && /signature algorithm/.test(e.message));
  assert.throws(() => parseAndVerifyCsr(Buffer.from("not der")), isCode("ERR_CSR_INVALID"));
  const good = await makeCsr(P256);
  assert.throws(() => parseAndVerifyCsr(Buffer.concat([good, Buffer.from([0])])), isCode("ERR_CSR_INVALID"));
  assert.throws(() => parseAndVerifyCsr(good.subarray(0, good.length - 5)), isCode("ERR_CSR_INVALID"));
});

