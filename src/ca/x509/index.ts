// X.509 encoding and certificate building for the CA (X509-SVID standard, sections 3-4).
export * as der from "./der.js";
export { readElement, childrenOf, rawOf, contentOf, parseCertificateParts, spkiPublicKeyBits } from "./der-reader.js";
export type { DerElement, CertificateParts } from "./der-reader.js";
export { signatureAlgorithmFor, signData } from "./algorithms.js";
export type { SignatureAlgorithm } from "./algorithms.js";
export { OID, KeyUsageBit, keyIdentifier } from "./extensions.js";
export { encodeName, randomSerial, buildCaCertificate, issuerFromCertificate, signCertificate } from "./certificate.js";
export type { Issuer, NameAttribute, Serial, CaCertificateOptions, BuiltCaCertificate } from "./certificate.js";
export { createLeafMinter, LEAF_SUBJECT_DER, LEAF_BACKDATE_MS } from "./leaf-minter.js";
export type { LeafMinter, LeafParams, MintedLeaf } from "./leaf-minter.js";
export { encodeSpki } from "./spki.js";
export type { EncodedSpki } from "./spki.js";
