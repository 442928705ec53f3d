// The agent's admin socket: explain a pid's identities, list connected Envoys, status.
export { startAgentAdminServer, type AgentAdminServer, type AgentAdminHandlers } from "./server.js";
export { explainPid, type Explanation, type EntryExplanation, type ExplainDeps } from "./explain.js";
export { agentAdminGet } from "./client.js";
