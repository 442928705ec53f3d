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

function authorityToProto(a: AuthorityInfo) {
  return { ...a, notBefore: BigInt(a.notBefore), notAfter: BigInt(a.notAfter) };
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
  return {
    createEntry: async (req) => changed(entryToProto(await reg.createEntry(entryInputFromProto(req.entry)))),
    batchCreateEntry: async (req) => {
      const inputs: ReturnType<typeof entryInputFromProto>[] = [];
      const early: (BatchResult | undefined)[] = req.entries.map((e, i) => {
        try {
          inputs[i] = entryInputFromProto(e);
          return undefined;
        } catch (err) {
          return { ok: false, error: SpindleError.from(err) };
        }
      });
      const created = await reg.batchCreate(inputs.filter((x) => x !== undefined));
      let k = 0;
      return changed(batchResults(early.map((r) => r ?? created[k++]!)));
    },
    updateEntry: async (req) => {
      const input = entryInputFromProto(req.entry);
      return changed(entryToProto(await reg.updateEntry(req.entry!.id, input, fieldsFromProto(req.fields))));
    },
    batchUpdateEntry: async (req) => {
      const out: BatchResult[] = [];
      for (const u of req.updates) {
        try {
          const input = entryInputFromProto(u.entry);
          out.push({ ok: true, entry: await reg.updateEntry(u.entry!.id, input, fieldsFromProto(u.fields)) });
        } catch (err) {
          out.push({ ok: false, error: SpindleError.from(err) });
        }
      }
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
      const t = await reg.generateJoinToken(req.ttl === 0 ? undefined : req.ttl);
      return { token: t.token, expiresAt: BigInt(t.expiresAt), agentId: joinTokenAgentId(parseTrustDomain(deps.trustDomain), t.token) };
    },

    listAgents: (req) => agents.listAgents(req),
    getAgent: (req) => agents.getAgent(req),
    evictAgent: (req, ctx) => agents.evictAgent(req, ctx.values.get(REQUESTER)),
    banAgent: (req, ctx) => agents.banAgent(req, ctx.values.get(REQUESTER)),
    unbanAgent: (req, ctx) => agents.unbanAgent(req, ctx.values.get(REQUESTER)),

    showAuthorities: async () => ({ authorities: (await deps.authorities.list()).map(authorityToProto) }),
    prepareAuthority: async (req) => ({ authority: authorityToProto(await deps.authorities.prepare(kindOf(req))) }),
    activateAuthority: async (req) => ({ authority: authorityToProto(await deps.authorities.activate(kindOf(req))) }),
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
