// SyncEntries: the entries authorized for the calling agent as id + revision, in pages of at most
// 500 sorted by id, with full entries only where the agent's revision differs. The last page adds
// the own bundle, the bundle of every federated domain those entries need, and tainted authorities.
import { create } from "@bufbuild/protobuf";
import { spindleError } from "../../common/errors.js";
import { SyncEntriesResponseSchema, type Bundle, type SyncEntriesRequest } from "../../gen/spindle/agent/v1/agent_pb.js";
import type { RegistrationEntry } from "../registration/entry.js";
import { SYNC_SNAPSHOT_MAX_AGE_MS } from "./authorized-cache.js";
import { entryToProto } from "./convert.js";
import { MAX_SYNC_PAGE, type ResolvedAgentApi } from "./deps.js";
import type { AuthenticatedAgent } from "./peer.js";

async function bundlesFor(api: ResolvedAgentApi, entries: readonly RegistrationEntry[]): Promise<Bundle[]> {
  const out: Bundle[] = [{ $typeName: "spindle.agent.v1.Bundle", trustDomain: api.trustDomain, spiffeBundle: await api.ownBundleJson() }];
  const domains = [...new Set(entries.flatMap((e) => e.federatesWith))].filter((td) => td !== api.trustDomain).sort();
  for (const td of domains) {
    const b = await api.entries.getFederatedBundle(td);
    // Entries can only federate with known bundles; one deleted meanwhile is simply not sent.
    if (b !== undefined) out.push({ $typeName: "spindle.agent.v1.Bundle", trustDomain: td, spiffeBundle: b.bundle });
  }
  return out;
}

function taintedAuthorities(api: ResolvedAgentApi): string[] {
  return api.ca.show?.().x509.filter((r) => r.tainted).map((r) => r.id) ?? [];
}

export async function syncEntries(api: ResolvedAgentApi, caller: AuthenticatedAgent, req: SyncEntriesRequest) {
  if (Object.keys(req.known).length > 100_000) throw spindleError("ERR_INVALID_ARGUMENT", "known: too many entries (at most 100,000)");
  // One snapshot per sync: the first page walks the parent graph, later pages reuse that walk.
  const all = req.pageToken === "" ? await api.authorized.refresh(caller.agent) : await api.authorized.get(caller.agent, SYNC_SNAPSHOT_MAX_AGE_MS);
  const start = req.pageToken === "" ? 0 : all.findIndex((e) => e.id > req.pageToken);
  const page = start === -1 ? [] : all.slice(start, start + MAX_SYNC_PAGE);
  const last = start === -1 || start + MAX_SYNC_PAGE >= all.length;
  const changed = page.filter((e) => req.known[e.id] !== BigInt(e.revision));
  return create(SyncEntriesResponseSchema, {
    revisions: page.map((e) => ({ id: e.id, revision: BigInt(e.revision) })),
    entries: changed.map(entryToProto),
    nextPageToken: last ? "" : page[page.length - 1]!.id,
    bundles: last ? await bundlesFor(api, all) : [],
    taintedAuthorities: last ? taintedAuthorities(api) : [],
  });
}
