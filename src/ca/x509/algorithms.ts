// Signature algorithms for CA keys (RFC 5758 section 3.2 for ECDSA, RFC 4055 section 5 for RSA
// PKCS#1 v1.5) and the one signing call the minting path makes.
import { constants, sign, type KeyObject } from "node:crypto";
import { nullValue, oid, sequence } from "./der.js";

export interface SignatureAlgorithm {
  name: "ecdsa-with-SHA256" | "ecdsa-with-SHA384" | "sha256WithRSAEncryption";
  /** node:crypto digest name. */
  hash: "sha256" | "sha384";
  rsa: boolean;
  /** AlgorithmIdentifier DER, identical in TBSCertificate.signature and Certificate.signatureAlgorithm. */
  identifierDer: Buffer;
}

// ECDSA identifiers carry no parameters (RFC 5758 3.2); RSA's carry an explicit NULL (RFC 4055 5).
const ECDSA_SHA256: SignatureAlgorithm = { name: "ecdsa-with-SHA256", hash: "sha256", rsa: false, identifierDer: sequence(oid("1.2.840.10045.4.3.2")) };
const ECDSA_SHA384: SignatureAlgorithm = { name: "ecdsa-with-SHA384", hash: "sha384", rsa: false, identifierDer: sequence(oid("1.2.840.10045.4.3.3")) };
const RSA_SHA256: SignatureAlgorithm = {
  name: "sha256WithRSAEncryption",
  hash: "sha256",
  rsa: true,
  identifierDer: sequence(oid("1.2.840.113549.1.1.11"), nullValue()),
};

/** The algorithm a CA key signs with: P-256 -> ES256-style, P-384 -> SHA-384, RSA (>= 2048 bits, e.g. an upstream CA) -> SHA-256. */
export function signatureAlgorithmFor(privateKey: KeyObject): SignatureAlgorithm {
  const d = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType === "ec" && d?.namedCurve === "prime256v1") return ECDSA_SHA256;
  if (privateKey.asymmetricKeyType === "ec" && d?.namedCurve === "secp384r1") return ECDSA_SHA384;
  if (privateKey.asymmetricKeyType === "rsa" && (d?.modulusLength ?? 0) >= 2048) return RSA_SHA256;
  throw new TypeError("a signing key must be EC P-256, EC P-384 or RSA of at least 2048 bits");
}

/** Signs `data`; ECDSA signatures come out as the DER Ecdsa-Sig-Value X.509 requires (RFC 5758 3.2). */
export function signData(alg: SignatureAlgorithm, privateKey: KeyObject, data: Uint8Array): Buffer {
  if (alg.rsa) return sign(alg.hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
  // DER is node's default dsaEncoding; passing the bare KeyObject skips option parsing (~10%).
  return sign(alg.hash, data, privateKey);
}
