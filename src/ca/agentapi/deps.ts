// Options of the agent API service, resolved once: defaults, limits, and the caches that several
// handlers share (the own bundle for client-certificate checks).
import { createContextKey } from "@connectrpc/connect";
import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import { createBundle, createBundleSet, encodeSpiffeBundle, parseTrustDomain, type BundleSet } from "../../spiffe/index.js";
import type { AuthorityJournal, CertificateAuthority } from "../contracts.js";
import type { NodeAttestorPlugin } from "../nodeattestors/plugin.js";
import { createRateLimiter, type RateLimiter } from "./rate-limit.js";
import type { AgentStore, EntrySource } from "./stores.js";
import { createAuthorizedCache, type AuthorizedCache } from "./authorized-cache.js";

/** docs/design/wire-facts.md, "Rotation and sync numbers". */
export const MAX_SYNC_PAGE = 500;
export const MAX_CSR_BATCH = 500;
export const DEFAULT_ATTESTATIONS_PER_SECOND = 1;
export const DEFAULT_SIGNINGS_PER_SECOND = 500;

/** The DER chain the TLS client presented (empty: none), set per request by the server. */
export const PEER_CHAIN = createContextKey<readonly Buffer[]>([], { description: "agent API peer certificate chain" });

export interface IssuedEvent {
  type: "agent" | "x509" | "jwt";
  /** The registration entry of a workload SVID; "" for agent SVIDs. */
  entryId: string;
  spiffeId: string;
  agentId: string;
  /** X.509 serial (hex, lower case); "" for JWT-SVIDs. */
  serial: string;
  /** The signing JWT authority, for JWT-SVIDs. */
  kid?: string;
  /** Unix ms. */
  expiresAt: number;
}

export interface AgentApiOptions {
  trustDomain: string;
  /** `show` (ManagedCertificateAuthority) lets sync report tainted authorities. */
  ca: CertificateAuthority & { show?(): AuthorityJournal };
  attestors: ReadonlyMap<string, NodeAttestorPlugin>;
  agents: AgentStore;
  entries: EntrySource;
  clock: Clock;
  logger: Logger;
  /** Agent SVID TTL; default: the CA's X.509-SVID TTL. */
  agentSvidTtlSeconds?: number;
  attestationsPerSecond?: number;
  signingsPerSecond?: number;
  /** The own bundle as SPIFFE JSON (with the published sequence); default: built from the CA. */
  ownBundleJson?: () => Promise<string>;
  /** Every SVID issued (metrics, audit). Never receives key material. */
  onIssued?: (e: IssuedEvent) => void;
}

export interface ResolvedAgentApi extends AgentApiOptions {
  attestLimiter: RateLimiter;
  signLimiter: RateLimiter;
  /** Our own trust domain's bundle only: client certificates of other domains find no bundle. */
  ownBundles(): BundleSet;
  ownBundleJson: () => Promise<string>;
  /** Snapshots of each agent's authorized entries (sync pages, CSR batches). */
  authorized: AuthorizedCache;
  /** Stops listening to CA changes. */
  dispose(): void;
}

export function resolveAgentApi(o: AgentApiOptions): ResolvedAgentApi {
  const td = parseTrustDomain(o.trustDomain);
  if (o.ca.trustDomain !== td.name) throw new TypeError(`agent API: CA trust domain ${o.ca.trustDomain} differs from ${td.name}`);
  let cached: BundleSet | undefined;
  const ownBundle = () => {
    const c = o.ca.bundleContents();
    return createBundle({ trustDomain: td, x509Authorities: c.x509Authorities, jwtAuthorities: c.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const) });
  };
  const dispose = o.ca.onChange(() => {
    cached = undefined;
  });
  const authorized = createAuthorizedCache({ entries: o.entries, trustDomain: o.trustDomain, clock: o.clock });
  return {
    authorized,
    ...o,
    attestLimiter: createRateLimiter({ perSecond: o.attestationsPerSecond ?? DEFAULT_ATTESTATIONS_PER_SECOND, clock: o.clock, what: "node attestations" }),
    signLimiter: createRateLimiter({ perSecond: o.signingsPerSecond ?? DEFAULT_SIGNINGS_PER_SECOND, clock: o.clock, what: "signings" }),
    ownBundles: () => (cached ??= createBundleSet([ownBundle()])),
    ownBundleJson: o.ownBundleJson ?? (async () => encodeSpiffeBundle(ownBundle())),
    dispose,
  };
}
