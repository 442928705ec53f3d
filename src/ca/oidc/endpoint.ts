// OIDC discovery for JWT-SVIDs (docs/oidc.md): the discovery document and the JWKS of the trust
// domain's JWT authorities, on the server's public HTTPS listener. Every URL in the documents
// comes from the configured issuer, never from the request's Host or X-Forwarded-Host.
import { componentLogger, type Clock, type Logger } from "../../common/index.js";
import { startPublicListener, type HttpAnswer, type PublicListener } from "../../transport/index.js";
import type { HostPort } from "../../transport/http-endpoints.js";
import type { TlsFiles } from "../../transport/tls-files.js";
import { buildDiscovery, buildJwks, trimSlash, type JwtAuthorityKey } from "./documents.js";

export const DISCOVERY_PATH = "/.well-known/openid-configuration";
export const JWKS_PATH = "/keys";

export interface OidcOptions {
  address: HostPort;
  /** undefined only with insecureHttp (TLS terminated by a proxy in front). */
  tls: TlsFiles | undefined;
  insecureHttp: boolean;
  /** The public issuer URL; equal to the `iss` of every JWT-SVID. */
  issuer: string;
  /** Where this listener serves the documents; default the issuer URL's path. */
  pathPrefix: string;
  setKeyUse: boolean;
  /** Host allow-list (host names, no port). */
  domains: readonly string[];
  tlsReloadIntervalMs?: number;
}

/** What the endpoint needs from the CA: the JWT authorities currently in the bundle. */
export interface JwtKeySource {
  bundleContents(): { jwtAuthorities: readonly JwtAuthorityKey[] };
}

export interface OidcEndpoint {
  readonly address: HostPort;
  /** The public URLs, for logs and tests. */
  readonly discoveryUrl: string;
  readonly jwksUri: string;
  reloadTls(): boolean;
  close(): Promise<void>;
}

const HEADERS = {
  "content-type": "application/json",
  // Keys rotate: a relying party must re-read the JWKS rather than serve itself a stale copy.
  "cache-control": "no-cache, no-store, must-revalidate",
  // Browsers and browser-based tools may read public keys from any origin.
  "access-control-allow-origin": "*",
};

const NO_KEYS =
  "no JWT authority yet: the server has not created its first JWT signing key; retry shortly\n";

/** The public URLs derived from the issuer (OpenID Connect Discovery 1.0 section 4: trailing "/" removed before appending). */
export function oidcUrls(issuer: string): { discoveryUrl: string; jwksUri: string } {
  const base = trimSlash(issuer);
  return { discoveryUrl: `${base}${DISCOVERY_PATH}`, jwksUri: `${base}${JWKS_PATH}` };
}

export async function startOidcEndpoint(o: OidcOptions, deps: { keys: JwtKeySource; clock: Clock; logger: Logger }): Promise<OidcEndpoint> {
  const logger = componentLogger(deps.logger, "oidc");
  const { discoveryUrl, jwksUri } = oidcUrls(o.issuer);
  const prefix = trimSlash(o.pathPrefix);
  const publicPrefix = trimSlash(new URL(o.issuer).pathname);
  if (prefix !== publicPrefix) {
    logger.info({ pathPrefix: prefix, issuerPath: publicPrefix }, "path_prefix differs from the issuer's path: the proxy in front must map one to the other");
  }
  const currentJwks = () => buildJwks(deps.keys.bundleContents().jwtAuthorities, { setKeyUse: o.setKeyUse });
  const json = (value: unknown): HttpAnswer => ({ status: 200, headers: HEADERS, body: `${JSON.stringify(value)}\n` });
  const unavailable = (): HttpAnswer => ({ status: 503, headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8", "retry-after": "5" }, body: NO_KEYS });

  if (o.insecureHttp) {
    logger.warn(
      { address: o.address },
      "OIDC discovery is served over plain HTTP (insecure_http: true); only a TLS-terminating proxy may reach this address, relying parties must use the https issuer URL",
    );
  }
  const listener: PublicListener = await startPublicListener({
    address: o.address,
    tls: o.tls,
    ...(o.tlsReloadIntervalMs !== undefined ? { tlsReloadIntervalMs: o.tlsReloadIntervalMs } : {}),
    allowedHosts: o.domains,
    name: "OIDC discovery",
    startErrorCode: "ERR_SERVER_START",
    clock: deps.clock,
    logger,
    routes: {
      [`${prefix}${DISCOVERY_PATH}`]: () => {
        const jwks = currentJwks();
        return jwks.keys.length === 0 ? unavailable() : json(buildDiscovery(o.issuer, jwksUri, jwks));
      },
      [`${prefix}${JWKS_PATH}`]: () => {
        const jwks = currentJwks();
        return jwks.keys.length === 0 ? unavailable() : json(jwks);
      },
    },
    ready: () => (currentJwks().keys.length > 0 ? { ready: true } : { ready: false, reason: "no JWT authority yet" }),
  });
  logger.info({ address: listener.address, scheme: listener.scheme, discoveryUrl, jwksUri, domains: o.domains }, "OIDC discovery serving");
  return { address: listener.address, discoveryUrl, jwksUri, reloadTls: () => listener.reloadTls(), close: () => listener.close() };
}
