// RFC 5280 path building and validation from a presented chain to the X.509 authorities of ONE
// trust domain (never pool trust domains: SPIFFE Federation standard, section 7.3). Errors name the
// certificate (its index in the presented chain, or the bundle authority) and the rule it broke.
import { spindleError } from "../common/errors.js";
import { KeyUsage, OID, type ParsedCertificate } from "./certificate.js";

// Extensions we process; any other critical extension fails validation (RFC 5280 6.1.4 (o)).
// Name constraints and policies are not processed, so a critical one is refused, not ignored.
const PROCESSED_EXTENSIONS = new Set<string>([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.authorityKeyIdentifier,
  OID.extKeyUsage,
]);

// Signature algorithms accepted on certificates of a path (RFC 5758, 4055, 8410 OIDs). SHA-1 and
// MD5 based signatures are refused: a collision lets an attacker transplant a CA's signature.
const ACCEPTED_SIGNATURE_ALGORITHMS = new Set<string>([
  "1.2.840.10045.4.3.2", // ecdsa-with-SHA256
  "1.2.840.10045.4.3.3", // ecdsa-with-SHA384
  "1.2.840.10045.4.3.4", // ecdsa-with-SHA512
  "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
  "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
  "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
  "1.2.840.113549.1.1.10", // RSASSA-PSS (hash in its parameters; node checks it)
  "1.3.101.112", // Ed25519
]);

export interface ChainInput {
  /** Presented certificates, leaf first; the order of the rest does not matter. */
  readonly presented: readonly ParsedCertificate[];
  /** The trust domain's X.509 authorities. */
  readonly anchors: readonly ParsedCertificate[];
  readonly trustDomain: string;
  readonly now: number;
}

export interface VerifiedChain {
  /** Leaf first, then the intermediates used, in issuing order. */
  readonly path: readonly ParsedCertificate[];
  readonly anchor: ParsedCertificate;
}

/** `<role> [subject "...", serial ...]`, the way every chain error names a certificate. */
export function describeCertificate(cert: ParsedCertificate, role: string): string {
  return `${role} [subject ${JSON.stringify(cert.subject)}, serial ${cert.serialNumber}]`;
}

function describe(input: ChainInput, cert: ParsedCertificate): string {
  const i = input.presented.indexOf(cert);
  const role = i === 0 ? "certificate 0 (leaf)" : i > 0 ? `certificate ${i} (intermediate)` : `bundle authority ${input.anchors.indexOf(cert)} of "${input.trustDomain}"`;
  return describeCertificate(cert, role);
}

function chainError(input: ChainInput, cert: ParsedCertificate, why: string): never {
  throw spindleError("ERR_X509_SVID_CHAIN", `X.509-SVID chain invalid: ${describe(input, cert)}: ${why}`, {
    details: { trustDomain: input.trustDomain, serialNumber: cert.serialNumber },
  });
}

function checkValidity(input: ChainInput, cert: ParsedCertificate): void {
  const at = (ms: number) => new Date(ms).toISOString();
  if (input.now < cert.notBefore) {
    throw spindleError("ERR_X509_SVID_NOT_YET_VALID", `X.509-SVID chain invalid: ${describe(input, cert)}: not valid before ${at(cert.notBefore)} (now ${at(input.now)})`, {
      details: { trustDomain: input.trustDomain, serialNumber: cert.serialNumber },
    });
  }
  if (input.now > cert.notAfter) {
    throw spindleError("ERR_X509_SVID_EXPIRED", `X.509-SVID chain invalid: ${describe(input, cert)}: expired at ${at(cert.notAfter)} (now ${at(input.now)})`, {
      details: { trustDomain: input.trustDomain, serialNumber: cert.serialNumber },
    });
  }
}

function checkCriticalExtensions(input: ChainInput, cert: ParsedCertificate): void {
  const unknown = cert.extensions.find((e) => e.critical && !PROCESSED_EXTENSIONS.has(e.oid));
  if (unknown !== undefined) chainError(input, cert, `has critical extension ${unknown.oid} that is not supported`);
}

/** RFC 5280 6.1.4 (k), (l), (n): an issuer must be a CA allowed to sign certificates and deep enough. */
function checkIssuer(input: ChainInput, cert: ParsedCertificate, intermediatesBelow: number, isAnchor: boolean): void {
  if (cert.basicConstraints?.ca !== true) chainError(input, cert, "issues certificates but basicConstraints cA is not true");
  // Section 2 requires keyUsage on CA certificates; a bundle authority without keyUsage is
  // tolerated as RFC 5280 treats anchors as plain keys.
  if (cert.keyUsage === undefined) {
    if (!isAnchor) chainError(input, cert, "issues certificates but has no keyUsage extension (keyCertSign required)");
  } else if ((cert.keyUsage & KeyUsage.keyCertSign) === 0) {
    chainError(input, cert, "issues certificates but keyUsage lacks keyCertSign");
  }
  const max = cert.basicConstraints.pathLength;
  if (max !== undefined && intermediatesBelow > max) {
    chainError(input, cert, `pathLenConstraint ${max} allows ${max} intermediate(s) below it, the chain has ${intermediatesBelow}`);
  }
}

type IssuerSearch = { issuer: ParsedCertificate } | { nameMatches: number };

/** Candidates whose subject equals the child's issuer (and SKI matches AKI when both exist), verified by signature. */
function findIssuer(child: ParsedCertificate, candidates: readonly ParsedCertificate[]): IssuerSearch {
  let nameMatches = 0;
  for (const c of candidates) {
    if (!c.subjectDer.equals(child.issuerDer)) continue;
    if (child.authorityKeyId !== undefined && c.subjectKeyId !== undefined && !child.authorityKeyId.equals(c.subjectKeyId)) continue;
    nameMatches++;
    if (signedBy(child, c)) return { issuer: c };
  }
  return { nameMatches };
}

function signedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return child.x509.verify(issuer.x509.publicKey);
  } catch {
    return false; // a key type that cannot check this signature algorithm: not this issuer
  }
}

/** Builds the path leaf -> ... -> anchor and validates every link. Throws ERR_X509_SVID_*. */
export function verifyChain(input: ChainInput): VerifiedChain {
  const leaf = input.presented[0];
  if (leaf === undefined) throw new TypeError("verifyChain: empty chain");
  const path: ParsedCertificate[] = [leaf];
  const unused = new Set(input.presented.slice(1));
  let current = leaf;
  let intermediatesBelow = 0;
  for (;;) {
    checkValidity(input, current);
    checkCriticalExtensions(input, current);
    if (!ACCEPTED_SIGNATURE_ALGORITHMS.has(current.signatureAlgorithm)) {
      chainError(input, current, `is signed with algorithm ${current.signatureAlgorithm}, which is not accepted (SHA-1 or MD5 based, or unknown)`);
    }
    // Anchors first, so a presented copy of the root is never needed (or used).
    const viaAnchor = findIssuer(current, input.anchors);
    if ("issuer" in viaAnchor) {
      checkValidity(input, viaAnchor.issuer);
      checkIssuer(input, viaAnchor.issuer, intermediatesBelow, true);
      return { path, anchor: viaAnchor.issuer };
    }
    const viaPresented = findIssuer(current, [...unused]);
    if (!("issuer" in viaPresented)) {
      const matches = viaAnchor.nameMatches + viaPresented.nameMatches;
      chainError(
        input,
        current,
        matches > 0
          ? `its issuer name matches ${matches} certificate(s) but the signature verifies with none`
          : `no issuer found among the ${input.anchors.length} X.509 authorities of "${input.trustDomain}" or the presented intermediates`,
      );
    }
    const next = viaPresented.issuer;
    checkIssuer(input, next, intermediatesBelow, false);
    unused.delete(next);
    path.push(next);
    // RFC 5280 4.2.1.9: self-issued intermediates do not count against pathLenConstraint.
    if (!next.subjectDer.equals(next.issuerDer)) intermediatesBelow++;
    current = next;
  }
}
