// Public surface of the agent's identity cache: entries diffed by revision, workload keys and
// CSRs, X.509-SVIDs renewed at half-life, bundles, JWT-SVIDs, and the adapters that expose the
// cache to the Workload API and to SDS. The server is reached only through ServerClient.
export { createIdentityCache, type IdentityCache, type IdentityCacheOptions, type CacheChange, type CachedIdentity, type UnservedEntry } from "./identity-cache.js";
export { createWorkloadApiIdentitySource, type ServerReachability } from "./workload-api-source.js";
export { createSdsSecretSource } from "./sds-source.js";
export type { BundleSnapshot } from "./bundle-state.js";
export type { EntryDiff } from "./entry-index.js";
export type { RenewSummary } from "./renewer.js";
export { RENEWAL_JITTER, type CachedSvid, type RenewalReason } from "./svid-signer.js";
export { buildCsr, type CsrSubject } from "./csr.js";
export { generateWorkloadKey, isWorkloadKeyType, WORKLOAD_KEY_TYPES, DEFAULT_WORKLOAD_KEY_TYPE, type WorkloadKey, type WorkloadKeyType } from "./workload-key.js";
export {
  MAX_CSR_BATCH,
  type ServerClient,
  type AgentEntry,
  type SyncEntriesResult,
  type SyncBundles,
  type CsrRequest,
  type CsrSignResult,
  type JwtSvidResult,
  type AgentSvidResult,
} from "./server-client.js";
