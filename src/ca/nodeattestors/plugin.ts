// The contract between the agent API and one server-side node attestor plugin (one folder per
// plugin). A plugin turns the agent's evidence, plus any challenge rounds it asks for, into the
// agent's SPIFFE ID and node selectors, or rejects with ERR_NODE_ATTESTATION_FAILED.
import type { Selector } from "../../spiffe/index.js";

/** Sends a challenge to the agent and resolves with its answer (one round of the Attest stream). */
export type ChallengeFn = (challenge: Uint8Array) => Promise<Uint8Array>;

export interface NodeAttestation {
  /** `spiffe://<td>/spindle/agent/<plugin>/...`. */
  readonly agentId: string;
  readonly selectors: readonly Selector[];
  /** True when the same evidence may attest the node again (false for single-use join tokens). */
  readonly canReattest: boolean;
}

export interface NodeAttestorPlugin {
  readonly name: string;
  /**
   * Verifies `payload`. `beforeCommit` runs once the agent ID is known and before any single-use
   * evidence is consumed, so the caller can refuse a banned agent without burning a join token.
   */
  attest(payload: Uint8Array, challenge: ChallengeFn, beforeCommit: (agentId: string) => Promise<void>): Promise<NodeAttestation>;
}

/** Path prefix of every agent SPIFFE ID; only these may call the agent API after attestation. */
export const AGENT_PATH_PREFIX = "/spindle/agent/";
