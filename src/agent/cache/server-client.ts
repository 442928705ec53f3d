// What the agent's entry sync, SVID cache and agent SVID manager need from the server, declared by
// their consumer. The real implementation is the agent API transport (gRPC over mTLS,
// proto/spindle/agent/v1); tests implement it over an in-process CA. Every method rejects with
// ERR_AGENT_SERVER_UNREACHABLE when the server cannot be reached, so callers can tell "down" from
// "refused".
import type { Bundle } from "../../spiffe/bundle.js";
import type { Selector } from "../../spiffe/selector.js";

/** At most this many CSRs per signCsrs call: docs/design/wire-facts.md, "Rotation and sync numbers". */
export const MAX_CSR_BATCH = 500;

/** A registration entry as delivered to the agent that is (an ancestor of) its parent. */
export interface AgentEntry {
  readonly id: string;
  /** `spiffe://<td>/<path>`. */
  readonly spiffeId: string;
  /** Every one must be among a workload's selectors. */
  readonly selectors: readonly Selector[];
  /** Bumped by the server whenever anything delivered to agents changes; the sync diffs by it. */
  readonly revision: number;
  /** Operator label for the Workload API; empty for none. */
  readonly hint: string;
  readonly dnsNames: readonly string[];
  /** Trust domain names (no scheme). */
  readonly federatesWith: readonly string[];
  /** Seconds; 0 = the server's default. Only the server applies them; kept for logs. */
  readonly x509SvidTtl: number;
  readonly jwtSvidTtl: number;
}

export interface SyncBundles {
  readonly own: Bundle;
  /** Every federated bundle the server knows; one absent from the list is dropped by the agent. */
  readonly federated: readonly Bundle[];
}

export interface SyncEntriesResult {
  /** Entries that are new or whose revision differs from the one the agent sent. */
  readonly changed: readonly AgentEntry[];
  /** IDs the agent sent that it must drop (deleted, expired, or no longer for this node). */
  readonly removed: readonly string[];
  /** The current bundles (own and federated). */
  readonly bundles: SyncBundles;
  /**
   * X.509 authority ids (MintedX509Svid.authorityId / CsrSignResult.authorityId) that are tainted
   * or no longer published: every SVID they signed must be re-issued now.
   */
  readonly taintedAuthorities: readonly string[];
}

export interface CsrRequest {
  readonly entryId: string;
  /** PKCS#10 DER, URI SAN = the entry's SPIFFE ID, signed by the workload key. */
  readonly csrDer: Uint8Array;
}

export type CsrSignResult =
  | {
      readonly entryId: string;
      readonly ok: true;
      /** Leaf first, then intermediates, no root; DER. */
      readonly chainDer: readonly Uint8Array[];
      /** Id of the X.509 authority that signed it (compared with SyncEntriesResult.taintedAuthorities). */
      readonly authorityId: string;
    }
  | {
      readonly entryId: string;
      readonly ok: false;
      /** A Spindle error code (docs/errors.md) and a message, as the server reported them. */
      readonly code: string;
      readonly message: string;
    };

export interface JwtSvidResult {
  /** Compact JWS. */
  readonly token: string;
  /** Epoch ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface AgentSvidResult {
  /** Leaf first, then intermediates, no root; DER. */
  readonly chainDer: readonly Uint8Array[];
  /** Id of the X.509 authority that signed it. */
  readonly authorityId: string;
}

export interface ServerClient {
  /** The entries and bundles that changed since `knownRevisions` (entry id -> revision). */
  syncEntries(knownRevisions: ReadonlyMap<string, number>): Promise<SyncEntriesResult>;
  /** Signs up to MAX_CSR_BATCH CSRs; one result per request, in any order, matched by entryId. */
  signCsrs(batch: readonly CsrRequest[]): Promise<readonly CsrSignResult[]>;
  /** A JWT-SVID for the entry's SPIFFE ID with these audiences. */
  mintJwtSvid(entryId: string, audience: readonly string[]): Promise<JwtSvidResult>;
  /** Renews the agent's own SVID from a CSR signed by its new key. */
  renewAgentSvid(csrDer: Uint8Array): Promise<AgentSvidResult>;
}
