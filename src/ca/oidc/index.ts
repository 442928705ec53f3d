// OIDC discovery for JWT-SVIDs: the discovery document and JWKS served by `spindle server`.
export { startOidcEndpoint, oidcUrls, DISCOVERY_PATH, JWKS_PATH, type OidcOptions, type OidcEndpoint, type JwtKeySource } from "./endpoint.js";
export { buildDiscovery, buildJwks, algOf, type JwtAuthorityKey } from "./documents.js";
