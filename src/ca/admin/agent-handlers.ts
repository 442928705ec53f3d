// Operator control of attested agents: list, show, evict (delete the record, so the agent's SVID
// is refused and it must attest again), ban and unban. Each change writes one audit line.
import { create } from "@bufbuild/protobuf";
import { SpindleError, spindleError } from "../../common/errors.js";
import { AgentSchema, type Agent as PbAgent, type AgentFilter as PbAgentFilter, type AgentRequest, type ListAgentsRequest } from "../../gen/spindle/admin/v1/admin_pb.js";
import { entryMatches } from "../../spiffe/index.js";
import type { AttestedAgent } from "../agentapi/stores.js";
import { AGENT_PATH_PREFIX } from "../nodeattestors/plugin.js";
import { spiffeIdProblem, trustDomainOf } from "../registration/index.js";
import { selectorsFromProto } from "./convert.js";
import type { AdminServiceDeps } from "./deps.js";

export function agentToProto(a: AttestedAgent): PbAgent {
  return create(AgentSchema, {
    spiffeId: a.spiffeId,
    attestor: a.attestor,
    selectors: a.selectors.map((s) => ({ type: s.type, value: s.value })),
    serial: a.serial,
    expiresAt: BigInt(a.expiresAt),
    banned: a.banned,
    canReattest: a.canReattest,
    createdAt: BigInt(a.createdAt),
    updatedAt: BigInt(a.updatedAt),
  });
}

/** The request's agent ID, validated: a SPIFFE ID of our trust domain under /spindle/agent/. */
function agentIdOf(deps: AdminServiceDeps, req: AgentRequest): string {
  const id = req.spiffeId;
  if (id === "") throw spindleError("ERR_INVALID_ARGUMENT", "spiffe_id: the agent's SPIFFE ID is required");
  const p = spiffeIdProblem(id, true);
  if (p) throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id: ${p}`);
  if (trustDomainOf(id) !== deps.trustDomain) throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id: "${id}" is outside the trust domain "${deps.trustDomain}"`);
  if (!id.startsWith(`spiffe://${deps.trustDomain}${AGENT_PATH_PREFIX}`)) {
    throw spindleError("ERR_INVALID_ARGUMENT", `spiffe_id: "${id}" is not an agent SPIFFE ID (spiffe://${deps.trustDomain}${AGENT_PATH_PREFIX}...)`);
  }
  return id;
}

const notFound = (id: string) => spindleError("ERR_NOT_FOUND", `no attested agent ${id} (see \`spindle agent list\`)`, { details: { spiffeId: id } });

async function mustGet(deps: AdminServiceDeps, id: string): Promise<AttestedAgent> {
  const a = await deps.datastore.getAgent(id);
  if (a === undefined) throw notFound(id);
  return a;
}

function matcher(f: PbAgentFilter | undefined): (a: AttestedAgent) => boolean {
  if (!f) return () => true;
  const bad = f.selectors.find((s) => s.type === "" || s.value === "");
  if (bad) throw spindleError("ERR_SELECTOR_INVALID", `filter selector "${bad.type}:${bad.value}" needs a non-empty type and value`);
  const selectors = selectorsFromProto(f.selectors);
  // entryMatches is false for an empty list (entries must never match everything), so test it only when asked.
  const hasSelectors = (a: AttestedAgent) => selectors.length === 0 || entryMatches(selectors, a.selectors);
  return (a) => (f.attestor === "" || a.attestor === f.attestor) && (f.banned === undefined || a.banned === f.banned) && hasSelectors(a);
}

export function createAgentHandlers(deps: AdminServiceDeps) {
  const audit = (event: string, a: AttestedAgent, requester: string) =>
    deps.logger.info({ audit: event, spiffeId: a.spiffeId, attestor: a.attestor, requester }, `agent ${event.replace("agent_", "")}`);
  const setBanned = async (req: AgentRequest, banned: boolean, requester: string) => {
    const id = agentIdOf(deps, req);
    let a: AttestedAgent;
    try {
      a = await deps.datastore.setBanned(id, banned, deps.clock.now());
    } catch (err) {
      throw SpindleError.is(err, "ERR_NOT_FOUND") ? notFound(id) : err;
    }
    audit(banned ? "agent_banned" : "agent_unbanned", a, requester);
    return agentToProto(a);
  };
  return {
    listAgents: async (req: ListAgentsRequest) => {
      const keep = matcher(req.filter);
      return { agents: (await deps.datastore.listAgents()).filter(keep).map(agentToProto) };
    },
    getAgent: async (req: AgentRequest) => agentToProto(await mustGet(deps, agentIdOf(deps, req))),
    evictAgent: async (req: AgentRequest, requester: string) => {
      const a = await mustGet(deps, agentIdOf(deps, req));
      if (a.banned) {
        throw spindleError("ERR_AGENT_EVICT_BANNED", `agent ${a.spiffeId} is banned; evicting it would delete the ban and let it attest again (unban it first if that is what you want)`);
      }
      await deps.datastore.deleteAgent(a.spiffeId);
      audit("agent_evicted", a, requester);
      return agentToProto(a);
    },
    banAgent: (req: AgentRequest, requester: string) => setBanned(req, true, requester),
    unbanAgent: (req: AgentRequest, requester: string) => setBanned(req, false, requester),
  };
}
