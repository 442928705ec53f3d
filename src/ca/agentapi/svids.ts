// Renewal of the agent SVID, CSR batch signing and JWT-SVID minting for authorized entries.
import { create } from "@bufbuild/protobuf";
import { SpindleError, spindleError } from "../../common/errors.js";
import {
  BatchSignX509SvidResponseSchema,
  MintJwtSvidResponseSchema,
  RenewAgentResponseSchema,
  type BatchSignX509SvidRequest,
  type MintJwtSvidRequest,
  type RenewAgentRequest,
  type SignResult,
} from "../../gen/spindle/agent/v1/agent_pb.js";
import type { RegistrationEntry } from "../registration/entry.js";
import { agentCsr, issueAgentSvid } from "./attest.js";
import { SIGN_SNAPSHOT_MAX_AGE_MS } from "./authorized-cache.js";
import { svidToProto } from "./convert.js";
import { MAX_CSR_BATCH, type ResolvedAgentApi } from "./deps.js";
import { clientMessage, isInternal } from "../../transport/wire-errors.js";
import type { AuthenticatedAgent } from "./peer.js";

export async function renewAgent(api: ResolvedAgentApi, caller: AuthenticatedAgent, req: RenewAgentRequest) {
  const { agent } = caller;
  api.signLimiter.take(agent.spiffeId);
  const csr = agentCsr(req.csr);
  const attested = { agentId: agent.spiffeId, selectors: agent.selectors, canReattest: agent.canReattest };
  const svid = await issueAgentSvid(api, attested, csr, async (serial, expiresAt) => {
    await api.agents.recordRenewal(agent.spiffeId, agent.serial, serial, expiresAt, api.clock.now());
  });
  return create(RenewAgentResponseSchema, { result: svid });
}

async function authorizedById(api: ResolvedAgentApi, caller: AuthenticatedAgent): Promise<Map<string, RegistrationEntry>> {
  const list = await api.authorized.get(caller.agent, SIGN_SNAPSHOT_MAX_AGE_MS);
  return new Map(list.map((e) => [e.id, e]));
}

function notAuthorized(entryId: string, agentId: string) {
  return spindleError("ERR_ENTRY_NOT_AUTHORIZED", `entry ${JSON.stringify(entryId)} is not authorized for agent ${agentId}`);
}

export async function batchSign(api: ResolvedAgentApi, caller: AuthenticatedAgent, req: BatchSignX509SvidRequest) {
  const agentId = caller.agent.spiffeId;
  if (req.requests.length > MAX_CSR_BATCH) throw spindleError("ERR_INVALID_ARGUMENT", `at most ${MAX_CSR_BATCH} CSRs per batch, got ${req.requests.length}`);
  api.signLimiter.take(agentId, Math.max(1, req.requests.length));
  const authorized = await authorizedById(api, caller);
  const results: SignResult[] = req.requests.map((r) => {
    try {
      const entry = authorized.get(r.entryId);
      if (entry === undefined) throw notAuthorized(r.entryId, agentId);
      const csr = agentCsr(r.csr);
      if (csr.uriSans.length !== 1 || csr.uriSans[0] !== entry.spiffeId) {
        throw spindleError("ERR_ENTRY_NOT_AUTHORIZED", `the CSR must carry exactly one URI SAN, ${entry.spiffeId} (entry ${entry.id}); it carries [${csr.uriSans.join(", ")}]`);
      }
      const svid = api.ca.mintX509Svid({
        spiffeId: entry.spiffeId,
        publicKey: csr.publicKey,
        dnsNames: entry.dnsNames,
        ...(entry.x509SvidTtl > 0 ? { ttlSeconds: entry.x509SvidTtl } : {}),
      });
      api.onIssued?.({ type: "x509", entryId: entry.id, spiffeId: svid.spiffeId, agentId, serial: svid.serial, expiresAt: svid.notAfter });
      return { $typeName: "spindle.agent.v1.SignResult", entryId: r.entryId, status: { $typeName: "spindle.agent.v1.Status", code: "", message: "" }, svid: svidToProto(svid) };
    } catch (err) {
      const e = SpindleError.from(err);
      if (isInternal(e)) api.logger.error({ err, agentId, entryId: r.entryId }, "CSR signing failed");
      const message = clientMessage(e, "server");
      return { $typeName: "spindle.agent.v1.SignResult", entryId: r.entryId, status: { $typeName: "spindle.agent.v1.Status", code: e.code, message } };
    }
  });
  return create(BatchSignX509SvidResponseSchema, { results });
}

export async function mintJwt(api: ResolvedAgentApi, caller: AuthenticatedAgent, req: MintJwtSvidRequest) {
  const agentId = caller.agent.spiffeId;
  api.signLimiter.take(agentId);
  const entry = (await authorizedById(api, caller)).get(req.entryId);
  if (entry === undefined) throw notAuthorized(req.entryId, agentId);
  const issuedAt = Math.floor(api.clock.now() / 1000) * 1000;
  const jwt = await api.ca.mintJwtSvid({ spiffeId: entry.spiffeId, audience: req.audience, ...(entry.jwtSvidTtl > 0 ? { ttlSeconds: entry.jwtSvidTtl } : {}) });
  api.onIssued?.({ type: "jwt", entryId: entry.id, spiffeId: jwt.spiffeId, agentId, serial: "", kid: jwt.kid, expiresAt: jwt.expiresAt });
  return create(MintJwtSvidResponseSchema, { spiffeId: jwt.spiffeId, token: jwt.token, expiresAt: BigInt(jwt.expiresAt), issuedAt: BigInt(issuedAt) });
}
