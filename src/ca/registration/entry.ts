// The registration entry model. An entry says: a workload (or node) matching ALL `selectors`,
// running under the agent (or node) `parentId`, gets `spiffeId`.

export interface Selector {
  readonly type: string;
  readonly value: string;
}

export interface RegistrationEntry {
  readonly id: string;
  readonly spiffeId: string;
  readonly parentId: string;
  /** Sorted by type then value; every one must match. */
  readonly selectors: readonly Selector[];
  /** Seconds; 0 = the server's default X.509-SVID TTL. */
  readonly x509SvidTtl: number;
  /** Seconds; 0 = the server's default JWT-SVID TTL. */
  readonly jwtSvidTtl: number;
  readonly dnsNames: readonly string[];
  readonly hint: string;
  /** Trust domain names (no scheme) whose bundles are delivered with the SVID. */
  readonly federatesWith: readonly string[];
  /** The SVID may call the admin API. */
  readonly admin: boolean;
  /** Epoch ms after which the entry is ignored; 0 = never. */
  readonly expiresAt: number;
  /** Bumped when a field delivered to agents changes (REVISION_FIELDS); agents diff by it. */
  readonly revision: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What a caller supplies to create an entry (before validation and normalisation). */
export interface EntryInput {
  spiffeId: string;
  parentId: string;
  selectors: readonly Selector[];
  x509SvidTtl?: number;
  jwtSvidTtl?: number;
  dnsNames?: readonly string[];
  hint?: string;
  federatesWith?: readonly string[];
  admin?: boolean;
  expiresAt?: number;
}

export type EntryField = keyof EntryInput;

export const ENTRY_FIELDS: readonly EntryField[] = [
  "spiffeId",
  "parentId",
  "selectors",
  "x509SvidTtl",
  "jwtSvidTtl",
  "dnsNames",
  "hint",
  "federatesWith",
  "admin",
  "expiresAt",
];

/**
 * Fields whose change alters what an agent delivers (who gets the SVID, its contents, its hint,
 * its federated bundles). `admin` and `expiresAt` are enforced by the server alone, so changing
 * them does not bump the revision.
 */
export const REVISION_FIELDS: readonly EntryField[] = [
  "spiffeId",
  "parentId",
  "selectors",
  "x509SvidTtl",
  "jwtSvidTtl",
  "dnsNames",
  "hint",
  "federatesWith",
];

/** The canonical "type:value" form used for uniqueness and filters. */
export function selectorString(s: Selector): string {
  return `${s.type}:${s.value}`;
}

export function sortSelectors(selectors: readonly Selector[]): Selector[] {
  return [...selectors].sort((a, b) => (a.type === b.type ? cmp(a.value, b.value) : cmp(a.type, b.type)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The server's own SPIFFE ID: parent of node-alias entries. */
export function serverSpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/spindle/server`;
}
