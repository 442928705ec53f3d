// The resolved, validated options of one server instance (built by the CLI's config pipeline).
import type { LevelWithSilent } from "pino";
import type { KeyType } from "../contracts.js";
import type { DatastoreLocation } from "../datastore/index.js";
import type { OidcOptions } from "../oidc/index.js";
import type { BundleEndpointConfig } from "../federation/bundle-endpoint.js";
import type { FederationTiming, ValidatedRelationship } from "../federation/index.js";

export { formatHostPort, type HostPort } from "../../transport/http-endpoints.js";
import type { HostPort } from "../../transport/http-endpoints.js";

export interface UpstreamAuthorityFiles {
  certFile: string;
  keyFile: string;
  /** Further certificates of the upstream PKI (intermediates, root); optional. */
  bundleFile?: string;
}

export interface ServerOptions {
  trustDomain: string;
  /** This replica's id (HA: each replica owns its own authorities). */
  serverId: string;
  dataDir: string;
  /** Agent API address (gRPC over TLS 1.3); port 0 picks a free port (dev mode, tests). */
  bindAddress: HostPort;
  /**
   * The raw `node_attestors` block (plugin name -> plugin config), parsed by src/ca/nodeattestors
   * at start; undefined enables join_token only.
   */
  nodeAttestors?: unknown;
  adminSocket: string;
  datastore: DatastoreLocation;
  caTtlSeconds: number;
  x509SvidTtlSeconds: number;
  jwtSvidTtlSeconds: number;
  keyManager: "disk" | "memory";
  caKeyType: KeyType;
  jwtKeyType: KeyType;
  jwtIssuer?: string;
  upstreamAuthority?: UpstreamAuthorityFiles;
  logLevel: LevelWithSilent;
  /** Serves /live and /ready (and /metrics unless metricsAddress is set). */
  healthAddress: HostPort;
  metricsAddress?: HostPort;
  /**
   * spiffe_refresh_hint of the published bundle (everywhere: admin API, agents, bundle endpoint);
   * federation.bundle_endpoint.refresh_hint when the endpoint is configured. Rotation publishes a
   * prepared authority for 3 hints before activating it.
   */
  bundleRefreshHintSeconds: number;
  /** Federation settings of this server. */
  federation?: FederationOptions;
  /** Non-fatal config findings, logged at start (warn). */
  configWarnings?: readonly string[];
  /** How often the other replicas' authorities are re-read from the datastore (HA). Default 5 s. */
  peerRefreshIntervalSeconds?: number;
  /**
   * Start even though the data dir has held a trust domain and the datastore is empty or another
   * one (`--allow-new-datastore`; src/ca/server/datastore-guard.ts). Never read from a config file.
   */
  allowNewDatastore?: boolean;
  /** `federation.federates_with`, validated (bootstrap bundles read and re-encoded). */
  federatesWith?: readonly ValidatedRelationship[];
  /** Refresher timing overrides (tests); unset = docs/federation.md defaults. */
  federationTiming?: Partial<FederationTiming>;
  /** Agent API limits and the agent SVID TTL; unset values take the agent API's defaults. */
  agentApi?: AgentApiLimits;
  /** OIDC discovery for JWT-SVIDs (docs/oidc.md); off when unset. Its issuer must equal jwtIssuer. */
  oidc?: OidcOptions;
}

export interface AgentApiLimits {
  /** Node attestations per second per agent identity (default 1). */
  attestationsPerSecond?: number;
  /** Signings (renewals, CSRs, JWT-SVIDs) per second per agent (default 500). */
  signingsPerSecond?: number;
  /** Agent SVID TTL (default: x509SvidTtlSeconds); at most caTtlSeconds / 6. */
  agentSvidTtlSeconds?: number;
}


export interface FederationOptions {
  /** The bundle endpoint served to other trust domains; off when unset. */
  bundleEndpoint?: BundleEndpointConfig;
}
