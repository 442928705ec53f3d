// What the admin service needs from the rest of the server. Declared here, by the consumer, so
// handlers are testable over an in-memory transport with real (cheap) implementations.
import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import type { CertificateAuthority } from "../contracts.js";
import type { Datastore } from "../datastore/index.js";
import type { Registration } from "../registration/index.js";
import type { FederationManager } from "../federation/index.js";

export type AuthorityKind = "x509" | "jwt";

export interface AuthorityInfo {
  kind: AuthorityKind;
  /** X.509: hex SKI; JWT: kid. */
  id: string;
  state: "prepared" | "active" | "old";
  notBefore: number;
  notAfter: number;
  tainted: boolean;
  serverId: string;
  /** Epoch ms from which activation leaves federated peers time to fetch it (rotation publication lead). */
  safeToActivateAt: number;
}

/** The result of a management action; `warning` when it went ahead against advice. */
export interface AuthorityActionResult {
  authority: AuthorityInfo;
  warning?: string;
}

/** Operator control of the CA's authorities (docs/commands/authority.md). */
export interface AuthorityControl {
  list(): Promise<AuthorityInfo[]>;
  prepare(kind: AuthorityKind): Promise<AuthorityInfo>;
  activate(kind: AuthorityKind): Promise<AuthorityActionResult>;
  taint(kind: AuthorityKind, id: string): Promise<AuthorityInfo>;
  revoke(kind: AuthorityKind, id: string): Promise<AuthorityInfo>;
}

export interface OwnBundle {
  /** X.509 authorities, DER. */
  x509Authorities: Buffer[];
  /** SPIFFE bundle JSON. */
  spiffeJson: string;
  sequence: number;
}

/** One SVID issuance, for the audit log and metrics. */
export interface IssuanceEvent {
  type: "x509" | "jwt";
  /** The registration entry the SVID was issued for, "" when minted without one. */
  entryId: string;
  spiffeId: string;
  requester: string;
  /** X.509 serial (hex); "" for JWT-SVIDs. */
  serial: string;
  /** The signing JWT authority, for JWT-SVIDs. */
  kid?: string;
  expiresAt: number;
}

export interface AdminServiceDeps {
  trustDomain: string;
  serverId: string;
  version: string;
  registration: Registration;
  datastore: Datastore;
  ca: Pick<CertificateAuthority, "mintX509Svid" | "mintJwtSvid">;
  ownBundle(): Promise<OwnBundle>;
  authorities: AuthorityControl;
  /** Federation relationships and their refreshers; undefined answers ERR_UNAVAILABLE. */
  federation?: FederationManager;
  onIssued(event: IssuanceEvent): void;
  /** Called after an entry write, so gauges can be refreshed. */
  onEntriesChanged?(): void;
  isReady(): boolean;
  limits: { maxX509SvidTtl: number; maxJwtSvidTtl: number };
  clock: Clock;
  logger: Logger;
}
