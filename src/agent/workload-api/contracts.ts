// What the SPIFFE Workload API service needs from the rest of the agent, declared here by their
// consumer: the agent wires its workload attestors and its SVID cache to these; tests
// implement them over test certificates. Nothing here imports the agent's cache or the server.
import type { PeerCredentials } from "../../transport/peer-cred.js";
import type { Bundle } from "../../spiffe/bundle.js";
import type { Selector } from "../../spiffe/selector.js";

/** Turns the kernel-reported credentials of a caller into its selectors. */
export interface WorkloadAttestor {
  /**
   * The selectors of the process behind `peer`. Must reject (ERR_WORKLOAD_ATTESTATION) when the
   * process cannot be attested or is no longer the process that connected (PID reuse).
   */
  attest(peer: PeerCredentials): Promise<readonly Selector[]>;
}

/** One X.509-SVID with its key, DER. The key never leaves memory and is never logged. */
export interface X509SvidMaterial {
  /** Leaf first, then intermediates; never the root (Workload API standard, section 5.1). */
  readonly certChainDer: readonly Uint8Array[];
  /** Unencrypted PKCS#8. */
  readonly privateKeyPkcs8Der: Uint8Array;
}

/** An identity a workload is entitled to (one registration entry matched its selectors). */
export interface WorkloadIdentity {
  /** `spiffe://<td>/<path>`. */
  readonly spiffeId: string;
  /** Operator-chosen label; made unique per response by the service. */
  readonly hint?: string;
  readonly x509Svid: X509SvidMaterial;
  /** Trust domain names (no scheme) whose bundles this identity's workload also receives. */
  readonly federatesWith: readonly string[];
  /** Registration entry ID, for logs only. */
  readonly entryId?: string;
}

/** The agent's trust material: its own trust domain's bundle and every federated one it knows. */
export interface TrustBundles {
  readonly own: Bundle;
  /** Keyed by trust domain name (no scheme). */
  readonly federated: ReadonlyMap<string, Bundle>;
}

/** A freshly signed JWT-SVID. Times are epoch milliseconds. */
export interface MintedJwtSvid {
  readonly token: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Why a caller whose selectors match entries has no identity to be served right now. */
export interface PendingIdentities {
  /** The matching entries without a valid SVID. */
  readonly entries: readonly { readonly entryId: string; readonly spiffeId: string; readonly svidExpiredAt?: number; readonly signRefused?: string }[];
  /** Epoch ms since when the server has been unreachable; undefined when the last sync succeeded. */
  readonly serverUnreachableSince?: number;
  /** Code of the last failed sync, when failing. */
  readonly serverError?: string;
}

/** The agent's view of identities, as the Workload API needs it. */
export interface IdentitySource {
  /** False until the agent completed its first sync with the server; never goes back to false. */
  readonly ready: boolean;
  /** The identities whose entries match `selectors`, default (first) identity first. */
  identitiesFor(selectors: readonly Selector[]): readonly WorkloadIdentity[];
  /**
   * Called when identitiesFor found nothing: undefined when no entry matches (PermissionDenied),
   * else the matching entries that have no valid SVID now and the server's state (Unavailable).
   * Also asks the agent to retry an unreachable server at once (rate-limited).
   */
  pendingFor?(selectors: readonly Selector[]): PendingIdentities | undefined;
  bundles(): TrustBundles;
  /** Signs a JWT-SVID for `spiffeId` (an identity the caller was found entitled to). */
  mintJwtSvid(spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid>;
  /** Called after any change of identities, SVIDs, bundles or readiness; returns the unsubscriber. */
  onChange(listener: () => void): () => void;
}
