// The AdminService implementation. Handlers translate messages, call registration / datastore /
// CA, and throw SpindleErrors; errors.ts turns those into statuses in one place.
import type { ServiceImpl } from "@connectrpc/connect";
import { spindleError, SpindleError } from "../../common/errors.js";
import { certsToPem } from "../../common/pem.js";
import { AdminService, type AuthorityRequest } from "../../gen/spindle/admin/v1/admin_pb.js";
import { trustDomainProblem, type BatchResult } from "../registration/index.js";
import { decodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";
import { entryInputFromProto, entryToProto, fieldsFromProto, filterFromProto } from "./convert.js";
import type { AdminServiceDeps, AuthorityInfo, AuthorityKind } from "./deps.js";
import { createAgentHandlers } from "./agent-handlers.js";
import { createFederationHandlers } from "./federation-handlers.js";
import { joinTokenAgentId } from "../nodeattestors/join-token/join-token.js";
import { REQUESTER } from "./requester.js";
import { mintJwt, mintX509 } from "./svid-handlers.js";

function batchResults(results: BatchResult[]) {
  return {
    results: results.map((r) =>
      r.ok ? { status: { code: "", message: "" }, entry: entryToProto(r.entry) } : { status: { code: r.error.code, message: r.error.message } },
    ),
  };
}

/** Response header carrying a warning about an accepted request (e.g. an unknown parent ID). */
export const WARNING_HEADER = "spindle-warning";

function authorityToProto(a: AuthorityInfo) {
  return { ...a, notBefore: BigInt(a.notBefore), notAfter: BigInt(a.notAfter), safeToActivateAt: BigInt(a.safeToActivateAt) };
}

function kindOf(req: AuthorityRequest): AuthorityKind {
  if (req.kind === "x509" || req.kind === "jwt") return req.kind;
  throw spindleError("ERR_INVALID_ARGUMENT", `kind must be "x509" or "jwt", got ${JSON.stringify(req.kind)}`);
}

function idOf(req: AuthorityRequest): string {
  if (req.id === "") throw spindleError("ERR_INVALID_ARGUMENT", "id: the authority id is required");
  return req.id;
}

function checkTrustDomain(td: string, own: string): void {
  const p = trustDomainProblem(td);
  if (p) throw spindleError("ERR_TRUST_DOMAIN_INVALID", `trust_domain: ${p}`);
  if (td === own) throw spindleError("ERR_INVALID_ARGUMENT", `trust_domain: "${td}" is the server's own trust domain`);
}

export function createAdminServiceImpl(deps: AdminServiceDeps): ServiceImpl<typeof AdminService> {
  const { registration: reg, datastore } = deps;
  const agents = createAgentHandlers(deps);
  const changed = <T>(v: T): T => {
    deps.onEntriesChanged?.();
    return v;
  };
  const log = deps.logger.child({ component: "admin" });
  /** Logs and returns (as the warning header) why the entries' parents look wrong, if they do. */
  const warnAboutParents = async (entries: readonly { id: string; spiffeId: string; parentId: string }[], header: Headers) => {
    const warnings: string[] = [];
    for (const parentId of new Set(entries.map((e) => e.parentId))) {
      const w = await reg.parentWarning(parentId);
      if (w === undefined) continue;
      warnings.push(w);
      log.warn({ parentId, entries: entries.filter((e) => e.parentId === parentId).map((e) => e.id) }, w);
    }
    // Header values are one line of visible ASCII; the message is built from validated IDs.
    if (warnings.length > 0) header.set(WARNING_HEADER, warnings.join("; "));
  };
  const allow = (req: { allowUnknownSelectors: boolean }) => ({ allowUnknownSelectors: req.allowUnknownSelectors });
  return {
    createEntry: async (req, ctx) => {
      const entry = await reg.createEntry(entryInputFromProto(req.entry), allow(req));
      await warnAboutParents([entry], ctx.responseHeader);
      return changed(entryToProto(entry));
    },
    batchCreateEntry: async (req, ctx) => {
      const inputs: ReturnType<typeof entryInputFromProto>[] = [];
      const early: (BatchResult | undefined)[] = req.entries.map((e, i) => {
        try {
          inputs[i] = entryInputFromProto(e);
          return undefined;
        } catch (err) {
          return { ok: false, error: SpindleError.from(err) };
        }
      });
      const created = await reg.batchCreate(inputs.filter((x) => x !== undefined), allow(req));
      await warnAboutParents(created.flatMap((r) => (r.ok ? [r.entry] : [])), ctx.responseHeader);
      let k = 0;
      return changed(batchResults(early.map((r) => r ?? created[k++]!)));
    },
    updateEntry: async (req, ctx) => {
      const input = entryInputFromProto(req.entry);
      const fields = fieldsFromProto(req.fields);
      const entry = await reg.updateEntry(req.entry!.id, input, fields, allow(req));
      if (fields.length === 0 || fields.includes("parentId")) await warnAboutParents([entry], ctx.responseHeader);
      return changed(entryToProto(entry));
    },
    batchUpdateEntry: async (req, ctx) => {
      const out: BatchResult[] = [];
      const reparented: { id: string; spiffeId: string; parentId: string }[] = [];
      for (const u of req.updates) {
        try {
          const input = entryInputFromProto(u.entry);
          const fields = fieldsFromProto(u.fields);
          const entry = await reg.updateEntry(u.entry!.id, input, fields, allow(u));
          if (fields.length === 0 || fields.includes("parentId")) reparented.push(entry);
          out.push({ ok: true, entry });
        } catch (err) {
          out.push({ ok: false, error: SpindleError.from(err) });
        }
      }
      await warnAboutParents(reparented, ctx.responseHeader);
      return changed(batchResults(out));
    },
    deleteEntry: async (req) => changed(entryToProto(await reg.deleteEntry(req.id))),
    batchDeleteEntry: async (req) => changed(batchResults(await reg.batchDelete(req.ids))),
    getEntry: async (req) => entryToProto(await reg.getEntry(req.id)),
    listEntries: async (req) => {
      if (req.pageSize < 0) throw spindleError("ERR_INVALID_ARGUMENT", `page_size must not be negative, got ${req.pageSize}`);
      const page = await reg.listEntries(filterFromProto(req.filter), { pageSize: req.pageSize, pageToken: req.pageToken });
      return { entries: page.entries.map(entryToProto), nextPageToken: page.nextPageToken };
    },
    countEntries: async (req) => ({ count: BigInt(await reg.countEntries(filterFromProto(req.filter))) }),

    getBundle: async () => {
      const b = await deps.ownBundle();
      return { trustDomain: deps.trustDomain, pem: certsToPem(b.x509Authorities), spiffeBundle: b.spiffeJson, sequence: BigInt(b.sequence) };
    },
    listFederatedBundles: async () => ({
      bundles: (await datastore.listFederatedBundles()).map((b) => ({ trustDomain: b.trustDomain, spiffeBundle: b.bundle, updatedAt: BigInt(b.updatedAt) })),
    }),
    setFederatedBundle: async (req) => {
      checkTrustDomain(req.trustDomain, deps.trustDomain);
      // Decoding validates the document (JWK Set shape, x5c, kids) before anything is stored.
      decodeSpiffeBundle(parseTrustDomain(req.trustDomain), req.spiffeBundle);
      const r = await datastore.setFederatedBundle(req.trustDomain, req.spiffeBundle);
      return { trustDomain: r.trustDomain, spiffeBundle: r.bundle, updatedAt: BigInt(r.updatedAt) };
    },
    deleteFederatedBundle: async (req) => {
      checkTrustDomain(req.trustDomain, deps.trustDomain);
      await datastore.deleteFederatedBundle(req.trustDomain);
      return {};
    },

    ...createFederationHandlers(deps.federation),

    mintX509SVID: (req, ctx) => mintX509(deps, req, ctx.values.get(REQUESTER)),
    mintJWTSVID: (req, ctx) => mintJwt(deps, req, ctx.values.get(REQUESTER)),

    generateJoinToken: async (req) => {
      const t = await reg.generateJoinToken(req.ttl === 0 ? undefined : req.ttl, req.spiffeId === "" ? undefined : req.spiffeId);
      const agentId = joinTokenAgentId(parseTrustDomain(deps.trustDomain), t.token);
      if (t.alias?.created === true) deps.onEntriesChanged?.();
      if (t.alias !== undefined) log.info({ agentId, alias: t.alias.entry.spiffeId, aliasEntryId: t.alias.entry.id, created: t.alias.created }, "join token generated with a node alias");
      return { token: t.token, expiresAt: BigInt(t.expiresAt), agentId, aliasEntryId: t.alias?.entry.id ?? "", aliasEntryCreated: t.alias?.created ?? false };
    },

    listAgents: (req) => agents.listAgents(req),
    getAgent: (req) => agents.getAgent(req),
    evictAgent: (req, ctx) => agents.evictAgent(req, ctx.values.get(REQUESTER)),
    banAgent: (req, ctx) => agents.banAgent(req, ctx.values.get(REQUESTER)),
    unbanAgent: (req, ctx) => agents.unbanAgent(req, ctx.values.get(REQUESTER)),

    showAuthorities: async () => ({ authorities: (await deps.authorities.list()).map(authorityToProto) }),
    prepareAuthority: async (req) => ({ authority: authorityToProto(await deps.authorities.prepare(kindOf(req))) }),
    activateAuthority: async (req) => {
      const r = await deps.authorities.activate(kindOf(req));
      return { authority: authorityToProto(r.authority), warning: r.warning ?? "" };
    },
    taintAuthority: async (req) => ({ authority: authorityToProto(await deps.authorities.taint(kindOf(req), idOf(req))) }),
    revokeAuthority: async (req) => ({ authority: authorityToProto(await deps.authorities.revoke(kindOf(req), idOf(req))) }),

    health: async () => ({
      ready: deps.isReady(),
      trustDomain: deps.trustDomain,
      serverId: deps.serverId,
      datastore: datastore.kind,
      version: deps.version,
    }),
  };
}
