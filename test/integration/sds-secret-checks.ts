// Checks on the Secrets SDS delivers, shared by the sds*.test.ts suites (every response
// decodes as Secret, its PEM parses and chains to the bundle). TLS certificates are validated as
// X.509-SVIDs with src/spiffe; validation contexts are decoded as Envoy's SPIFFE validator config.
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { parsePem } from "../../src/common/pem.js";
import type { Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { SPIFFECertValidatorConfigSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.js";
import { SPIFFE_VALIDATOR_CONFIG_TYPE_URL, SPIFFE_VALIDATOR_NAME } from "../../src/sds/type-urls.js";
import { createBundle, createBundleSet, parseSpiffeId, validateX509Svid } from "../../src/spiffe/index.js";

export const fingerprint = (der: Uint8Array): string => new X509Certificate(der).fingerprint256;

/** Every PEM block of `pem` (at least one), each labelled `label`. */
function pemDers(pem: string, label: string, what: string): Buffer[] {
  const blocks = parsePem(pem);
  assert.ok(blocks.length > 0, `${what}: no PEM block`);
  for (const b of blocks) assert.equal(b.label, label, `${what}: unexpected PEM block ${b.label}`);
  return blocks.map((b) => b.der);
}

const inlineText = (source: { specifier: { case: string | undefined; value?: unknown } } | undefined, what: string): string => {
  assert.equal(source?.specifier.case, "inlineBytes", `${what} is inline_bytes`);
  return Buffer.from(source.specifier.value as Uint8Array).toString();
};

export interface TlsSecretExpectation {
  /** The resource name the Secret must carry. */
  name: string;
  /** The SPIFFE ID of the SVID inside. */
  spiffeId: string;
  /** X.509 authorities (DER) of the SVID's trust domain: the chain must validate to them. */
  roots: readonly Uint8Array[];
  /** Certificates expected in the chain (leaf + intermediates); unchecked when absent. */
  chainLength?: number;
  /** Validation time, epoch ms (default now). */
  now?: number;
}

/**
 * Checks a tls_certificate Secret: the chain PEM parses (leaf first, no root), validates as an
 * X.509-SVID for the expected ID against `roots`, and the PKCS#8 key belongs to the leaf.
 */
export function checkTlsSecret(secret: Secret, expected: TlsSecretExpectation): X509Certificate {
  assert.equal(secret.name, expected.name);
  assert.equal(secret.type.case, "tlsCertificate", `${expected.name} is a tls_certificate`);
  const tls = secret.type.value;
  const chainPem = inlineText(tls.certificateChain, "certificate_chain");
  const keyPem = inlineText(tls.privateKey, "private_key");
  const chain = pemDers(chainPem, "CERTIFICATE", `${expected.name} certificate_chain`);
  const keys = pemDers(keyPem, "PRIVATE KEY", `${expected.name} private_key`);
  assert.equal(keys.length, 1, "one PKCS#8 private key");
  if (expected.chainLength !== undefined) assert.equal(chain.length, expected.chainLength, "certificates in the chain");
  const rootPrints = new Set(expected.roots.map(fingerprint));
  assert.ok(!chain.some((c) => rootPrints.has(fingerprint(c))), "the bundle root is not in the chain");
  const trustDomain = parseSpiffeId(expected.spiffeId).trustDomain;
  const info = validateX509Svid(chain, createBundleSet([createBundle({ trustDomain, x509Authorities: expected.roots })]), { now: expected.now ?? Date.now() });
  assert.equal(info.spiffeId.toString(), expected.spiffeId);
  const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ format: "der", type: "spki" });
  assert.deepEqual(spki(createPublicKey(createPrivateKey(keyPem))), spki(info.leaf.publicKey), "the private key belongs to the leaf");
  return new X509Certificate(chain[0]!);
}

/**
 * Checks a validation_context Secret using Envoy's SPIFFE validator: decodes the
 * SPIFFECertValidatorConfig, parses every trust bundle PEM, and returns trust domain -> the
 * SHA-256 fingerprints of its authorities.
 */
export function validationContextDomains(secret: Secret, name: string): Map<string, string[]> {
  assert.equal(secret.name, name);
  assert.equal(secret.type.case, "validationContext", `${name} is a validation_context`);
  const custom = secret.type.value.customValidatorConfig;
  assert.ok(custom !== undefined, `${name} uses custom_validator_config`);
  assert.equal(custom.name, SPIFFE_VALIDATOR_NAME);
  assert.equal(custom.typedConfig?.typeUrl, SPIFFE_VALIDATOR_CONFIG_TYPE_URL);
  const config = fromBinary(SPIFFECertValidatorConfigSchema, custom.typedConfig.value);
  assert.ok(config.trustDomains.length > 0, "never an empty trust_domains list");
  const domains = new Map<string, string[]>();
  for (const td of config.trustDomains) {
    assert.ok(!td.name.includes("://"), `trust domain name ${td.name} has no scheme`);
    assert.ok(!domains.has(td.name), `trust domain ${td.name} listed once`);
    const ders = pemDers(inlineText(td.trustBundle, `trust_bundle of ${td.name}`), "CERTIFICATE", `trust_bundle of ${td.name}`);
    domains.set(td.name, ders.map(fingerprint));
  }
  return domains;
}
