// What the agent API needs from the datastore, declared by its consumer. The datastore of
// src/ca/datastore implements EntrySource and JoinTokenConsumer already; AgentStore (attested
// agents, bans, node selectors) is new. memory-stores.ts holds in-memory implementations.
import type { RegistrationEntry } from "../registration/entry.js";
import type { Selector } from "../../spiffe/index.js";

/** One attested node. Keyed by its agent SPIFFE ID. */
export interface AttestedAgent {
  readonly spiffeId: string;
  /** Node attestor that attested it ("join_token", "x509pop", "k8s_psat"). */
  readonly attestor: string;
  /** Node selectors from the last attestation; node-alias entries match against them. */
  readonly selectors: readonly Selector[];
  /** Hex serial of the current agent SVID, and of the one it replaced (still accepted until it expires). */
  readonly serial: string;
  readonly previousSerial: string;
  /** Epoch ms; notAfter of the current agent SVID. */
  readonly expiresAt: number;
  readonly canReattest: boolean;
  /** A banned agent may not attest (with any evidence yielding this ID) or call the API. */
  readonly banned: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface AgentStore {
  getAgent(spiffeId: string): Promise<AttestedAgent | undefined>;
  /**
   * Records a (re-)attestation: creates the agent or replaces its attestor, selectors, SVID
   * serial (previousSerial = "") and expiry. Never clears `banned`.
   */
  recordAttestation(a: Omit<AttestedAgent, "previousSerial" | "banned" | "createdAt" | "updatedAt">, now: number): Promise<AttestedAgent>;
  /**
   * After a renewal: the current serial becomes previousSerial. Atomic compare: only when the
   * stored serial still equals `expectedSerial` (else ERR_AGENT_NOT_ATTESTED).
   */
  recordRenewal(spiffeId: string, expectedSerial: string, serial: string, expiresAt: number, now: number): Promise<AttestedAgent>;
  /** Admin: ban (kept across re-attestation) or lift a ban. ERR_NOT_FOUND for an unknown agent. */
  setBanned(spiffeId: string, banned: boolean, now: number): Promise<AttestedAgent>;
  /**
   * Admin: evict (delete); the agent must attest again. ERR_NOT_FOUND for an unknown agent,
   * ERR_AGENT_EVICT_BANNED for a banned one (deleting it would delete the ban), decided in the
   * same statement as the delete so a ban made meanwhile is never lost.
   */
  deleteAgent(spiffeId: string): Promise<void>;
  listAgents(): Promise<AttestedAgent[]>;
}

/** Registration data the agent API reads (Datastore satisfies it). */
export interface EntrySource {
  /** Pages of entries with this parent (or any of these parents), ordered by id. */
  listEntries(filter: { parentId: string } | { parentIds: readonly string[] }, page?: { pageSize?: number; pageToken?: string }): Promise<{ entries: RegistrationEntry[]; nextPageToken: string }>;
  /** SPIFFE bundle JSON of a federated trust domain. */
  getFederatedBundle(trustDomain: string): Promise<{ bundle: string } | undefined>;
}
