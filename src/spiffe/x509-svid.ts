// X.509-SVID validation (X509-SVID standard, section 5): pick the bundle by the leaf's trust
// domain, validate the chain to it (x509-chain.ts), then apply the leaf rules.
import type { KeyObject } from "node:crypto";
import { SpindleError, spindleError } from "../common/errors.js";
import type { BundleSource } from "./bundle.js";
import { KeyUsage, OID, parseCertificate, type ParsedCertificate } from "./certificate.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";
import { describeCertificate, verifyChain } from "./x509-chain.js";

/** Presented chains longer than this are refused before any signature work (a cheap DoS guard). */
export const MAX_X509_CHAIN_LENGTH = 16;

export interface ValidateX509SvidOptions {
  /** Epoch milliseconds. */
  now: number;
}

export interface X509SvidInfo {
  readonly spiffeId: SpiffeId;
  readonly leaf: {
    readonly der: Buffer;
    readonly serialNumber: string;
    readonly subject: string;
    readonly notBefore: number;
    readonly notAfter: number;
    readonly dnsNames: readonly string[];
    readonly publicKey: KeyObject;
  };
  /** The validated path: leaf first, then the intermediates used (DER; no bundle authority). */
  readonly chain: readonly Buffer[];
}

function parseAll(ders: readonly Uint8Array[], onError: (i: number, err: unknown) => never): ParsedCertificate[] {
  return ders.map((der, i) => {
    try {
      return parseCertificate(der);
    } catch (err) {
      return onError(i, err);
    }
  });
}

function leafRule(leaf: ParsedCertificate, why: string, cause?: unknown): never {
  throw spindleError("ERR_X509_SVID_LEAF_RULE", `X.509-SVID invalid: ${describeCertificate(leaf, "certificate 0 (leaf)")}: ${why}`, { cause });
}

/** Leaf rules of section 2 other than the URI SAN (checked first, since it picks the bundle). */
function checkLeafRules(leaf: ParsedCertificate): void {
  if (leaf.basicConstraints?.ca === true) leafRule(leaf, "basicConstraints cA is true; an X.509-SVID leaf must not be a CA");
  if (leaf.keyUsage === undefined) leafRule(leaf, "has no keyUsage extension; digitalSignature is required");
  if (leaf.extensions.find((e) => e.oid === OID.keyUsage)?.critical !== true) leafRule(leaf, "keyUsage extension is not marked critical");
  if ((leaf.keyUsage & KeyUsage.digitalSignature) === 0) leafRule(leaf, "keyUsage lacks digitalSignature");
  if (leaf.keyUsage & KeyUsage.keyCertSign) leafRule(leaf, "keyUsage has keyCertSign, which a leaf must not have");
  if (leaf.keyUsage & KeyUsage.cRLSign) leafRule(leaf, "keyUsage has cRLSign, which a leaf must not have");
}

/**
 * Validates an X.509-SVID chain (DER, leaf first) against the bundle of the leaf's own trust
 * domain. Throws SpindleError with ERR_X509_SVID_* (or ERR_BUNDLE_INVALID for a broken bundle).
 */
export function validateX509Svid(chainDer: readonly Uint8Array[], bundles: BundleSource, options: ValidateX509SvidOptions): X509SvidInfo {
  if (chainDer.length === 0) throw spindleError("ERR_X509_SVID_INVALID", "X.509-SVID invalid: the certificate chain is empty");
  if (chainDer.length > MAX_X509_CHAIN_LENGTH) {
    throw spindleError("ERR_X509_SVID_INVALID", `X.509-SVID invalid: ${chainDer.length} certificates presented, at most ${MAX_X509_CHAIN_LENGTH} are accepted`);
  }
  const presented = parseAll(chainDer, (i, err) => {
    throw spindleError("ERR_X509_SVID_INVALID", `X.509-SVID invalid: certificate ${i} (${i === 0 ? "leaf" : "intermediate"}) is not a DER certificate: ${(err as Error).message}`, { cause: err });
  });
  const leaf = presented[0]!;

  if (leaf.uris.length !== 1) leafRule(leaf, `has ${leaf.uris.length} URI SANs; an X.509-SVID has exactly one, its SPIFFE ID`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(leaf.uris[0]!);
  } catch (err) {
    leafRule(leaf, `URI SAN is not a valid SPIFFE ID (${err instanceof SpindleError ? err.code : "error"}): ${(err as Error).message}`, err);
  }
  const td = spiffeId.trustDomain;
  const bundle = bundles.getBundle(td);
  if (bundle === undefined) {
    throw spindleError("ERR_X509_SVID_NO_BUNDLE", `X.509-SVID ${spiffeId} cannot be validated: no bundle for trust domain "${td.name}"`, {
      details: { trustDomain: td.name },
    });
  }
  const anchors = parseAll(bundle.x509Authorities, (i, err) => {
    throw spindleError("ERR_BUNDLE_INVALID", `bundle of trust domain "${td.name}": X.509 authority ${i} is not a DER certificate`, { cause: err });
  });
  const { path } = verifyChain({ presented, anchors, trustDomain: td.name, now: options.now });
  checkLeafRules(leaf);
  return Object.freeze({
    spiffeId,
    leaf: Object.freeze({
      der: leaf.der,
      serialNumber: leaf.serialNumber,
      subject: leaf.subject,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      dnsNames: leaf.dnsNames,
      publicKey: leaf.x509.publicKey,
    }),
    chain: Object.freeze(path.map((c) => c.der)),
  });
}
