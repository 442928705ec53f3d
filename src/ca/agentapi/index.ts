// The server's agent API (docs/node-attestation.md): node attestation, agent SVID renewal, entry
// sync, CSR batch signing and JWT-SVID minting over gRPC with TLS 1.3
// (proto/spindle/agent/v1/agent.proto).
export { startAgentApiServer, type AgentApiServer, type AgentApiServerOptions } from "./server.js";
export { createAgentServiceImpl } from "./service.js";
export {
  resolveAgentApi,
  PEER_CHAIN,
  MAX_SYNC_PAGE,
  MAX_CSR_BATCH,
  DEFAULT_ATTESTATIONS_PER_SECOND,
  DEFAULT_SIGNINGS_PER_SECOND,
  type AgentApiOptions,
  type ResolvedAgentApi,
  type IssuedEvent,
} from "./deps.js";
export { ERROR_CODE_HEADER, RETRY_AFTER_HEADER, toConnectError } from "./errors.js";
export { authorizedEntries, nodeAliases, MAX_PARENT_DEPTH } from "./authorized.js";
export { createRateLimiter, type RateLimiter, type RateLimiterOptions } from "./rate-limit.js";
export type { AgentStore, AttestedAgent, EntrySource } from "./stores.js";
export { createMemoryAgentStore, createMemoryEntrySource, createMemoryJoinTokens, type MemoryEntrySource, type MemoryJoinTokens } from "./memory-stores.js";
