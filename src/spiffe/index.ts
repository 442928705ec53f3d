// Public surface of the SPIFFE core: pure functions and immutable values, no I/O.
// Test helpers live in ./testing/index.js and are never exported from here.
export { TrustDomain, parseTrustDomain, isTrustDomain, SPIFFE_SCHEME_PREFIX } from "./trust-domain.js";
export { SpiffeId, parseSpiffeId, isSpiffeId, spiffeIdFromParts, spiffeIdFromPath, requireWorkloadId, MAX_SPIFFE_ID_BYTES } from "./spiffe-id.js";
export { createBundle, createBundleSet, BundleSet, type Bundle, type BundleSource, type CreateBundleOptions } from "./bundle.js";
export { decodeSpiffeBundle, encodeSpiffeBundle, encodeX509BundleDer, encodeJwtBundleJwks, USE_X509_SVID, USE_JWT_SVID } from "./bundle-codec.js";
export { KeyUsage, parseCertificate, type ParsedCertificate, type CertificateExtension } from "./certificate.js";
export { validateX509Svid, MAX_X509_CHAIN_LENGTH, type ValidateX509SvidOptions, type X509SvidInfo } from "./x509-svid.js";
export {
  validateJwtSvid,
  decodeJwtSvidParts,
  JWT_SVID_ALGORITHMS,
  DEFAULT_JWT_LEEWAY_SECONDS,
  MAX_JWT_LENGTH,
  type ValidateJwtSvidOptions,
  type JwtSvidInfo,
} from "./jwt-svid.js";
export { parseSelector, formatSelector, entryMatches, SelectorSet, type Selector } from "./selector.js";
export {
  selectorOf,
  selectorProblem,
  selectorKind,
  selectorKeys,
  selectorValueFormat,
  isKnownSelectorType,
  SELECTOR_TYPES,
  X509POP_SUBJECT_ATTRIBUTES,
  type X509PopSubjectAttribute,
  type SelectorType,
  type SelectorKey,
  type SelectorKind,
  type SelectorProblem,
} from "./selector-schema.js";
