// Which registration entries an agent may see and get SVIDs for: entries whose parent chain leads
// to the agent, directly or through a node alias (an entry parented by spiffe://<td>/spindle/server
// whose selectors are all among the agent's node selectors). Expired entries are left out.
import { entryMatches, type Selector } from "../../spiffe/index.js";
import { serverSpiffeId, type RegistrationEntry } from "../registration/entry.js";
import type { EntrySource } from "./stores.js";

/** Nested parents deeper than this are ignored (and cycles are cut by the visited set). */
export const MAX_PARENT_DEPTH = 8;
const PAGE = 1000;
/** Parent IDs per query: one query per level of the parent graph, not one per parent (an agent
 * with 10,000 entries made 10,000 queries per sync page before), within SQL parameter limits. */
const PARENTS_PER_QUERY = 500;

async function childrenOf(source: EntrySource, parentIds: readonly string[]): Promise<RegistrationEntry[]> {
  const out: RegistrationEntry[] = [];
  for (let i = 0; i < parentIds.length; i += PARENTS_PER_QUERY) {
    const chunk = parentIds.slice(i, i + PARENTS_PER_QUERY);
    let pageToken = "";
    do {
      const page = await source.listEntries(chunk.length === 1 ? { parentId: chunk[0]! } : { parentIds: chunk }, { pageSize: PAGE, pageToken });
      out.push(...page.entries);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }
  return out;
}

export interface AgentView {
  readonly spiffeId: string;
  readonly selectors: readonly Selector[];
}

/** The node aliases that apply to the agent (their SPIFFE IDs act as extra parents). */
export async function nodeAliases(source: EntrySource, trustDomain: string, agent: AgentView, now: number): Promise<RegistrationEntry[]> {
  const live = (e: RegistrationEntry) => e.expiresAt === 0 || e.expiresAt > now;
  return (await childrenOf(source, [serverSpiffeId(trustDomain)])).filter((e) => live(e) && entryMatches(e.selectors, agent.selectors));
}

/** Every entry authorized for the agent, sorted by id. Alias entries themselves are not included. */
export async function authorizedEntries(source: EntrySource, trustDomain: string, agent: AgentView, now: number): Promise<RegistrationEntry[]> {
  const live = (e: RegistrationEntry) => e.expiresAt === 0 || e.expiresAt > now;
  const aliases = await nodeAliases(source, trustDomain, agent, now);
  const visited = new Set<string>([serverSpiffeId(trustDomain)]);
  const found = new Map<string, RegistrationEntry>();
  let frontier = [agent.spiffeId, ...aliases.map((a) => a.spiffeId)];
  for (let depth = 0; depth < MAX_PARENT_DEPTH && frontier.length > 0; depth++) {
    const level = [...new Set(frontier)].filter((p) => !visited.has(p));
    for (const p of level) visited.add(p);
    const next: string[] = [];
    for (const e of await childrenOf(source, level)) {
      if (!live(e) || found.has(e.id)) continue;
      found.set(e.id, e);
      next.push(e.spiffeId);
    }
    frontier = next;
  }
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
