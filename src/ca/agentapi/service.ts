// The AgentService implementation: authenticates the caller (all RPCs but Attest) and dispatches.
// Handlers throw SpindleErrors; errors.ts maps them to statuses in one place.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AgentService } from "../../gen/spindle/agent/v1/agent_pb.js";
import { createAttestHandler } from "./attest.js";
import { PEER_CHAIN, type ResolvedAgentApi } from "./deps.js";
import { authenticateAgent, type AuthenticatedAgent } from "./peer.js";
import { batchSign, mintJwt, renewAgent } from "./svids.js";
import { syncEntries } from "./sync.js";

export function createAgentServiceImpl(api: ResolvedAgentApi): ServiceImpl<typeof AgentService> {
  const caller = (ctx: HandlerContext): Promise<AuthenticatedAgent> =>
    authenticateAgent(ctx.values.get(PEER_CHAIN), api.ownBundles(), api.trustDomain, api.agents, api.clock.now());
  return {
    attest: createAttestHandler(api),
    renewAgent: async (req, ctx) => renewAgent(api, await caller(ctx), req),
    syncEntries: async (req, ctx) => syncEntries(api, await caller(ctx), req),
    batchSignX509Svid: async (req, ctx) => batchSign(api, await caller(ctx), req),
    mintJwtSvid: async (req, ctx) => mintJwt(api, await caller(ctx), req),
  };
}
