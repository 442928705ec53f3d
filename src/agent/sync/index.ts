// Public surface of the agent's sync loop (entries, bundles, SVID renewal on a 5 s cadence).
export { createSyncLoop, DEFAULT_SYNC_INTERVAL_MS, type SyncLoop, type SyncLoopOptions, type SyncStatus } from "./sync-loop.js";
export { createAgentSvidManager, agentSvidOf, type AgentSvid, type AgentSvidManager, type AgentSvidManagerOptions } from "./agent-svid.js";
