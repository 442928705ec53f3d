// The agent's side of the agent API: connection with failover and mTLS, node attestation, the
// ServerClient the sync loop and caches use, and the agent's state in its data directory.
export { createServerConnection, serverAnswer, isTransientServerAnswer, retryAfterMs, ERROR_CODE_TRAILER, type ServerConnection, type ServerConnectionOptions, type AgentIdentity } from "./connection.js";
export { createAgentServerClient, toAgentEntry, type AgentServerClientOptions } from "./client.js";
export { attestAgent, type AttestationResult, type AttestOptions } from "./attest.js";
export { createAgentStateStore, type AgentStateStore } from "./state.js";
export { chooseServerTrust, type TrustChoice, type TrustSource } from "./bootstrap-trust.js";
