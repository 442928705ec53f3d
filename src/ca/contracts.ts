// Contracts between the CA's parts (key managers, authorities, minting) and their consumers
// (datastore, admin API, agent API). Implementations live in their own folders under src/ca/.
import type { KeyObject } from "node:crypto";

/** Key algorithms for CA keys, JWT keys and workload keys (docs/design/wire-facts.md). */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048";

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Holds CA and JWT signing keys. `disk` writes 0600 files in the data dir; `memory` never writes. */
export interface KeyManager {
  readonly kind: "disk" | "memory";
  /** Generates (replacing any previous) and stores a key under `id`. */
  generateKey(id: string, type: KeyType): Promise<KeyPair>;
  /** Stores an existing key (an upstream CA key, for example). */
  importKey(id: string, privateKey: KeyObject): Promise<KeyPair>;
  getKey(id: string): Promise<KeyPair | undefined>;
  deleteKey(id: string): Promise<void>;
}

/** Lifecycle of an authority (docs/design/wire-facts.md, "Rotation and sync numbers"). */
export type AuthorityState = "prepared" | "active" | "old";

export interface X509AuthorityRecord {
  /** Stable id (hex SKI of the CA certificate). */
  id: string;
  state: AuthorityState;
  /** KeyManager id of the CA private key. */
  keyId: string;
  /** CA certificate, base64 DER. */
  certDer: string;
  /** Upstream intermediates above certDer (base64 DER, nearest first), excluding the root. */
  upstreamChainDer: string[];
  /** Epoch ms. */
  notBefore: number;
  notAfter: number;
  /** Tainted: everything it signed must be re-issued; it signs nothing new. */
  tainted: boolean;
  /** The server replica that owns this authority (HA: one CA per replica). */
  serverId: string;  /**
   * Epoch ms at which it was created, i.e. first published in the bundle (absent in records
   * written before it existed: notBefore stands in). Activation waits for the publication lead.
   */
  preparedAt?: number;
}

export interface JwtAuthorityRecord {
  /** JWT `kid`. */
  kid: string;
  state: AuthorityState;
  keyId: string;
  /** Public key as a JWK (JSON object), without `kid`/`use`. */
  publicKeyJwk: Record<string, unknown>;
  notBefore: number;
  notAfter: number;
  tainted: boolean;
  serverId: string;  /**
   * Epoch ms at which it was created, i.e. first published in the bundle (absent in records
   * written before it existed: notBefore stands in). Activation waits for the publication lead.
   */
  preparedAt?: number;
}

export interface AuthorityJournal {
  x509: X509AuthorityRecord[];
  jwt: JwtAuthorityRecord[];
  /**
   * Grows by one on every save of this replica's journal (absent in journals written before it
   * existed: 0). The sum over all replicas' journals is the bundle's spiffe_sequence, so every
   * replica that has read the same journals publishes the same document under the same number.
   */
  revision?: number;
}

/** Where the authority journal is persisted (the datastore, or memory in tests). */
export interface AuthorityJournalStore {
  load(serverId: string): Promise<AuthorityJournal | undefined>;
  save(serverId: string, journal: AuthorityJournal): Promise<void>;
  /** Every replica's journal, so each replica's bundle includes all authorities (HA). */
  loadAll(): Promise<AuthorityJournal[]>;
}

export interface MintX509SvidRequest {
  spiffeId: string;
  publicKey: KeyObject;
  /** Default: the CA's configured X.509-SVID TTL. Capped at the issuing CA's notAfter. */
  ttlSeconds?: number;
  dnsNames?: readonly string[];
}

export interface MintedX509Svid {
  spiffeId: string;
  /** Leaf first, then intermediates up to (excluding) the root; DER. */
  chain: Buffer[];
  /** Hex serial number of the leaf. */
  serial: string;
  notAfter: number;
  /** X509AuthorityRecord.id of the signer. */
  authorityId: string;
}

export interface MintJwtSvidRequest {
  spiffeId: string;
  audience: readonly string[];
  ttlSeconds?: number;
}

export interface MintedJwtSvid {
  spiffeId: string;
  token: string;
  kid: string;
  expiresAt: number;
}

/** The trust domain's own authorities as published in its bundle. */
export interface OwnBundleContents {
  /** CA certificates, DER (every non-revoked X.509 authority, including prepared ones). */
  x509Authorities: Buffer[];
  /** JWT authorities (JWK with kid). */
  jwtAuthorities: { kid: string; publicKeyJwk: Record<string, unknown> }[];
  /**
   * spiffe_sequence of this content (SPIFFE_Trust_Domain_and_Bundle section 4.1.1): the sum of
   * every replica's journal revision, derived from stored state, so it grows on every authority
   * change and HA replicas agree on it.
   */
  sequence: number;
}

export interface CertificateAuthority {
  readonly trustDomain: string;
  mintX509Svid(req: MintX509SvidRequest): MintedX509Svid;
  mintJwtSvid(req: MintJwtSvidRequest): Promise<MintedJwtSvid>;
  bundleContents(): OwnBundleContents;
  /** Called after any authority change (prepare, activate, expiry, taint, revoke). */
  onChange(listener: () => void): () => void;
}
