// `spindle explain --pid N`: why a process gets the identities it gets, or none. The agent attests
// the pid exactly as it would for a Workload API call, then compares the selectors with every
// entry it holds: matching entries (and whether their SVID is signed yet) and, for the others,
// which selectors are missing. Read-only; no key material is involved.
import { SpindleError } from "../../common/errors.js";
import { formatSelector, type Selector } from "../../spiffe/selector.js";
import type { AgentEntry } from "../cache/server-client.js";
import type { WorkloadAttestor } from "../workload-api/contracts.js";

export interface ExplainDeps {
  attestor: WorkloadAttestor;
  /** Every entry the agent holds for its node. */
  entries(): readonly AgentEntry[];
  /** The SPIFFE IDs (with expiry) the workload would be served now, default first. */
  identitiesFor(selectors: readonly Selector[]): readonly { entryId: string; spiffeId: string; notAfter: number }[];
  ready(): boolean;
}

export interface EntryExplanation {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly selectors: readonly string[];
  /** Entry selectors the process does not have (empty: the entry matches). */
  readonly missing: readonly string[];
  /** For matching entries: "served", or "pending" while its SVID is not signed yet. */
  readonly svid?: "served" | "pending";
}

export interface Explanation {
  readonly pid: number;
  /** The agent finished its first sync (before that every call gets Unavailable). */
  readonly agentReady: boolean;
  readonly selectors: readonly string[];
  readonly attestationError?: { readonly code: string; readonly message: string };
  /** Identities served to this process now, default first. */
  readonly identities: readonly { readonly spiffeId: string; readonly entryId: string; readonly notAfter: string }[];
  /** Matching entries first, then the others by how few selectors they miss. */
  readonly entries: readonly EntryExplanation[];
  /** One line for humans. */
  readonly verdict: string;
}

export async function explainPid(pid: number, deps: ExplainDeps): Promise<Explanation> {
  const agentReady = deps.ready();
  let selectors: readonly Selector[];
  try {
    selectors = await deps.attestor.attest({ pid, uid: -1, gid: -1 });
  } catch (err) {
    const e = SpindleError.from(err);
    return {
      pid,
      agentReady,
      selectors: [],
      attestationError: { code: e.code, message: e.message },
      identities: [],
      entries: [],
      verdict: `pid ${pid} cannot be attested (${e.code}: ${e.message}); it gets no identity`,
    };
  }
  const have = new Set(selectors.map(formatSelector));
  const served = deps.identitiesFor(selectors);
  const servedIds = new Set(served.map((i) => i.entryId));
  const entries: EntryExplanation[] = deps.entries().map((e) => {
    const wanted = e.selectors.map(formatSelector);
    const missing = wanted.filter((s) => !have.has(s));
    return {
      entryId: e.id,
      spiffeId: e.spiffeId,
      selectors: wanted,
      missing,
      ...(missing.length === 0 && wanted.length > 0 ? { svid: servedIds.has(e.id) ? ("served" as const) : ("pending" as const) } : {}),
    };
  });
  entries.sort((a, b) => a.missing.length - b.missing.length || (a.spiffeId < b.spiffeId ? -1 : a.spiffeId > b.spiffeId ? 1 : 0));
  const identities = served.map((i) => ({ spiffeId: i.spiffeId, entryId: i.entryId, notAfter: new Date(i.notAfter).toISOString() }));
  return { pid, agentReady, selectors: [...have], identities, entries, verdict: verdictOf(pid, agentReady, identities, entries) };
}

function verdictOf(pid: number, ready: boolean, identities: Explanation["identities"], entries: readonly EntryExplanation[]): string {
  if (!ready) return `the agent has not completed its first sync with the server; pid ${pid} is told Unavailable for now`;
  if (identities.length > 0) return `pid ${pid} is served ${identities.map((i) => i.spiffeId).join(", ")} (default: ${identities[0]!.spiffeId})`;
  const pending = entries.filter((e) => e.svid === "pending");
  if (pending.length > 0) return `pid ${pid} matches ${pending.map((e) => e.spiffeId).join(", ")}, whose SVID is not signed yet`;
  const nearest = entries.find((e) => e.selectors.length > 0);
  if (nearest === undefined) return `pid ${pid} gets no identity: this agent holds no registration entries`;
  return `pid ${pid} gets no identity (PermissionDenied): no entry matches; closest is ${nearest.spiffeId} (entry ${nearest.entryId}), missing selector${nearest.missing.length > 1 ? "s" : ""} ${nearest.missing.join(", ")}`;
}
