// Table shapes for Kysely. Times are epoch ms in BIGINT columns (pg returns them as strings, so
// readers wrap them in Number()); booleans are 0/1 integers so both dialects agree.

export interface EntriesTable {
  id: string;
  /** sha256 of spiffe_id, parent_id and the sorted selectors: the uniqueness key. */
  entry_key: string;
  spiffe_id: string;
  parent_id: string;
  /** JSON array of {type, value}, sorted. */
  selectors: string;
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  /** JSON array of strings. */
  dns_names: string;
  hint: string;
  /** JSON array of trust domain names, sorted. */
  federates_with: string;
  admin: number;
  expires_at: number | string;
  revision: number | string;
  created_at: number | string;
  updated_at: number | string;
}

/** One row per selector of an entry: lets list/count filter by selector in SQL. */
export interface EntrySelectorsTable {
  entry_id: string;
  selector: string;
}

/** One row per federated trust domain of an entry; FK to federated_bundles keeps it honest. */
export interface EntryFederatesTable {
  entry_id: string;
  trust_domain: string;
}

export interface FederatedBundlesTable {
  trust_domain: string;
  /** SPIFFE bundle JSON as received. */
  bundle: string;
  updated_at: number | string;
}

export interface JoinTokensTable {
  /** sha256 hex of the token; the token itself is never stored. */
  token_hash: string;
  expires_at: number | string;
  created_at: number | string;
  used_at: number | string | null;
  /** The node alias SPIFFE ID the token's agent carries, or null. */
  spiffe_id: string | null;
}

export interface AuthorityJournalsTable {
  server_id: string;
  /** JSON AuthorityJournal. */
  journal: string;
  updated_at: number | string;
}

/** One row: the datastore's identity (see migration 0003). */
export interface DatastoreIdentityTable {
  singleton: string;
  datastore_id: string;
  trust_domain: string;
  created_at: number | string;
}

export interface CountersTable {
  name: string;
  value: number | string;
}

/** Attested agents (agent API): node selectors, current/previous SVID serial, ban flag. */
export interface AttestedAgentsTable {
  spiffe_id: string;
  attestor: string;
  /** JSON array of {type, value}. */
  selectors: string;
  serial: string;
  previous_serial: string;
  expires_at: number | string;
  can_reattest: number;
  banned: number;
  created_at: number | string;
  updated_at: number | string;
}

/** Federation relationships created through the admin API (config ones are never stored). */
export interface FederationRelationshipsTable {
  trust_domain: string;
  bundle_endpoint_url: string;
  /** "https_web" or "https_spiffe". */
  bundle_endpoint_profile: string;
  /** "" for https_web. */
  endpoint_spiffe_id: string;
  /** https_web: PEM roots file on the server; "" = system roots. */
  ca_file: string;
  created_at: number | string;
  updated_at: number | string;
}

export interface DatabaseSchema {
  entries: EntriesTable;
  entry_selectors: EntrySelectorsTable;
  entry_federates: EntryFederatesTable;
  federated_bundles: FederatedBundlesTable;
  join_tokens: JoinTokensTable;
  authority_journals: AuthorityJournalsTable;
  counters: CountersTable;
  datastore_identity: DatastoreIdentityTable;
  attested_agents: AttestedAgentsTable;
  federation_relationships: FederationRelationshipsTable;
}
