// Agent side of join_token: sends the operator-provided token. Payload: {"token": "<token>"}.
import { jsonBytes, noChallenges, readAgentConfig, type AgentNodeAttestor } from "../plugin.js";

export const JOIN_TOKEN_PLUGIN = "join_token";

export interface JoinTokenAgentConfig {
  readonly token: string;
}

export function parseJoinTokenAgentConfig(raw: unknown, path = `node_attestor.${JOIN_TOKEN_PLUGIN}`): JoinTokenAgentConfig {
  const c = readAgentConfig(raw, path, { token: { required: true } }, `${JOIN_TOKEN_PLUGIN} node attestor`);
  return Object.freeze({ token: c["token"]! });
}

export function createJoinTokenAgentAttestor(config: JoinTokenAgentConfig): AgentNodeAttestor {
  return {
    name: JOIN_TOKEN_PLUGIN,
    payload: async () => jsonBytes({ token: config.token }),
    answer: noChallenges(JOIN_TOKEN_PLUGIN),
  };
}
