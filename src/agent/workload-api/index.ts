// Public surface of the SPIFFE Workload API service; the agent wires its attestors and SVID cache
// to the interfaces in contracts.ts and registers the service with addWorkloadApi().
export type { IdentitySource, MintedJwtSvid, TrustBundles, WorkloadAttestor, WorkloadIdentity, X509SvidMaterial } from "./contracts.js";
export { addWorkloadApi, createWorkloadApiService, type WorkloadApiService, type WorkloadApiServiceOptions } from "./service.js";
export { createJwtSvidCache, type JwtSvidCache, type JwtSvidCacheOptions } from "./jwt-svid-cache.js";
export { WORKLOAD_API_HEADER, WORKLOAD_API_HEADER_VALUE, checkWorkloadMetadata } from "./caller.js";
