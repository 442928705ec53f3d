// The real ServerClient (src/agent/cache/server-client.ts) over the agent API: entry sync with
// paging, CSR batches, JWT-SVID minting and agent SVID renewal. Every sync refreshes the trust
// bundle the connection verifies the server with, so a rotated CA does not lock the agent out.
import { create } from "@bufbuild/protobuf";
import { spindleError } from "../../common/errors.js";
import {
  BatchSignX509SvidRequestSchema,
  MintJwtSvidRequestSchema,
  RenewAgentRequestSchema,
  SyncEntriesRequestSchema,
  type Bundle as BundleMessage,
  type Entry,
} from "../../gen/spindle/agent/v1/agent_pb.js";
import { decodeSpiffeBundle, parseTrustDomain, type Bundle } from "../../spiffe/index.js";
import { MAX_CSR_BATCH, type AgentEntry, type ServerClient, type SyncEntriesResult } from "../cache/server-client.js";
import type { ServerConnection } from "./connection.js";

export interface AgentServerClientOptions {
  connection: ServerConnection;
  trustDomain: string;
}

export function createAgentServerClient(options: AgentServerClientOptions): ServerClient {
  const { connection } = options;
  const ownTd = parseTrustDomain(options.trustDomain);

  return {
    async syncEntries(known) {
      const knownWire: Record<string, bigint> = {};
      for (const [id, rev] of known) knownWire[id] = BigInt(rev);
      const seen = new Set<string>();
      const changed: AgentEntry[] = [];
      let pageToken = "";
      let bundles: BundleMessage[] = [];
      let tainted: string[] = [];
      // Pages of at most 500 (docs/design/wire-facts.md, "Rotation and sync numbers"); the last one
      // carries bundles and taints.
      for (let page = 0; ; page++) {
        if (page > 10_000) throw spindleError("ERR_INTERNAL", "SyncEntries: the server keeps returning pages");
        const res = await connection.call("SyncEntries", (c, o) => c.syncEntries(create(SyncEntriesRequestSchema, { known: knownWire, pageToken }), o));
        for (const r of res.revisions) seen.add(r.id);
        changed.push(...res.entries.map(toAgentEntry));
        if (res.nextPageToken === "") {
          bundles = res.bundles;
          tainted = res.taintedAuthorities;
          break;
        }
        pageToken = res.nextPageToken;
      }
      const removed = [...known.keys()].filter((id) => !seen.has(id));
      const result: SyncEntriesResult = { changed, removed, bundles: splitBundles(bundles, ownTd.name), taintedAuthorities: tainted };
      connection.setTrust(result.bundles.own.x509Authorities);
      return result;
    },

    async signCsrs(batch) {
      if (batch.length > MAX_CSR_BATCH) throw new TypeError(`signCsrs: at most ${MAX_CSR_BATCH} CSRs per batch`);
      const res = await connection.call("BatchSignX509Svid", (c, o) =>
        c.batchSignX509Svid(create(BatchSignX509SvidRequestSchema, { requests: batch.map((r) => ({ entryId: r.entryId, csr: r.csrDer })) }), o),
      );
      return res.results.map((r, i) => {
        const entryId = r.entryId === "" ? batch[i]!.entryId : r.entryId;
        const code = r.status?.code ?? "";
        if (code === "" && r.svid !== undefined) return { entryId, ok: true as const, chainDer: r.svid.certChain, authorityId: r.svid.authorityId };
        return { entryId, ok: false as const, code: code === "" ? "ERR_INTERNAL" : code, message: r.status?.message ?? "no SVID in the answer" };
      });
    },

    async mintJwtSvid(entryId, audience) {
      const res = await connection.call("MintJwtSvid", (c, o) => c.mintJwtSvid(create(MintJwtSvidRequestSchema, { entryId, audience: [...audience] }), o));
      return { token: res.token, issuedAt: Number(res.issuedAt), expiresAt: Number(res.expiresAt) };
    },

    async renewAgentSvid(csrDer) {
      const res = await connection.call("RenewAgent", (c, o) => c.renewAgent(create(RenewAgentRequestSchema, { csr: csrDer }), o));
      const svid = res.result?.svid;
      if (svid === undefined) throw spindleError("ERR_AGENT_SVID_INVALID", "RenewAgent: the server's answer holds no SVID");
      return { chainDer: svid.certChain, authorityId: svid.authorityId };
    },
  };
}

export function toAgentEntry(e: Entry): AgentEntry {
  return Object.freeze({
    id: e.id,
    spiffeId: e.spiffeId,
    selectors: Object.freeze(e.selectors.map((s) => Object.freeze({ type: s.type, value: s.value }))),
    revision: Number(e.revision),
    hint: e.hint,
    dnsNames: Object.freeze([...e.dnsNames]),
    federatesWith: Object.freeze([...e.federatesWith]),
    x509SvidTtl: e.x509SvidTtl,
    jwtSvidTtl: e.jwtSvidTtl,
  });
}

/** Decodes one delivered bundle; a malformed one is the server's fault (ERR_BUNDLE_INVALID). */
export function decodeDeliveredBundle(b: BundleMessage): Bundle {
  return decodeSpiffeBundle(parseTrustDomain(b.trustDomain), b.spiffeBundle);
}

function splitBundles(list: readonly BundleMessage[], ownTd: string): SyncEntriesResult["bundles"] {
  const own = list.find((b) => b.trustDomain === ownTd);
  if (own === undefined) throw spindleError("ERR_BUNDLE_INVALID", `SyncEntries: the server sent no bundle for its own trust domain ${ownTd}`);
  return { own: decodeDeliveredBundle(own), federated: list.filter((b) => b.trustDomain !== ownTd).map(decodeDeliveredBundle) };
}
