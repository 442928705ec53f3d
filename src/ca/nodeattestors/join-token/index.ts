export { JOIN_TOKEN_PLUGIN, createJoinTokenAttestor, parseJoinTokenServerConfig, joinTokenId, joinTokenAgentId } from "./join-token.js";
export type { JoinTokenConsumer, JoinTokenAttestorOptions } from "./join-token.js";
