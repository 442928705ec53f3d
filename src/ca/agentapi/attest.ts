// The Attest stream: params (attestor, evidence, CSR) -> challenge rounds driven by the plugin ->
// the agent SVID. Rate limit and ban are checked once the agent ID is known, before any
// single-use evidence is consumed; the new SVID supersedes every earlier one of the same agent.
import { create } from "@bufbuild/protobuf";
import { spindleError } from "../../common/errors.js";
import { formatSelector } from "../../spiffe/index.js";
import { AgentSvidSchema, type AgentSvid, type AttestRequest, type AttestResponse } from "../../gen/spindle/agent/v1/agent_pb.js";
import { parseAndVerifyCsr, type ParsedCsr } from "../csr/index.js";
import type { NodeAttestation } from "../nodeattestors/plugin.js";
import { leafSerial, svidToProto } from "./convert.js";
import type { ResolvedAgentApi } from "./deps.js";

export const MAX_CHALLENGE_ROUNDS = 4;
/** An agent that does not answer a challenge within this time loses the stream. */
export const CHALLENGE_TIMEOUT_MS = 30_000;

const protocol = (why: string) => spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `attestation protocol error: ${why}`);

export function agentCsr(der: Uint8Array): ParsedCsr {
  const csr = parseAndVerifyCsr(der);
  if (csr.requestsCa) throw spindleError("ERR_CSR_INVALID", "the CSR asks for basicConstraints cA=true; an SVID is never a CA");
  return csr;
}

/** Records a freshly minted agent SVID (serial, notAfter) as the agent's current one. */
export type RecordAgentSvid = (serial: string, expiresAt: number) => Promise<void>;

/** Mints the agent SVID for an attested (or renewing) node and records it before answering. */
export async function issueAgentSvid(api: ResolvedAgentApi, attested: NodeAttestation, csr: ParsedCsr, record: RecordAgentSvid): Promise<AgentSvid> {
  const svid = api.ca.mintX509Svid({ spiffeId: attested.agentId, publicKey: csr.publicKey, ttlSeconds: api.agentSvidTtlSeconds });
  const serial = leafSerial(svid);
  await record(serial, svid.notAfter);
  api.onIssued?.({ type: "agent", entryId: "", spiffeId: svid.spiffeId, agentId: svid.spiffeId, serial, expiresAt: svid.notAfter });
  return create(AgentSvidSchema, {
    svid: svidToProto(svid),
    selectors: attested.selectors.map(formatSelector),
    bundle: { trustDomain: api.trustDomain, spiffeBundle: await api.ownBundleJson() },
    canReattest: attested.canReattest,
  });
}

export function createAttestHandler(api: ResolvedAgentApi) {
  return async function* attest(requests: AsyncIterable<AttestRequest>): AsyncGenerator<AttestResponse> {
    const it = requests[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done === true || first.value.step.case !== "params") throw protocol("the first message must carry params");
    const params = first.value.step.value;
    const plugin = api.attestors.get(params.attestor);
    if (plugin === undefined) {
      throw spindleError("ERR_NODE_ATTESTOR_UNKNOWN", `node attestor ${JSON.stringify(params.attestor)} is not enabled on this server (enabled: ${[...api.attestors.keys()].join(", ") || "none"})`);
    }
    const csr = agentCsr(params.csr);

    const outbox: AttestResponse[] = [];
    let wake: (() => void) | undefined;
    let rounds = 0;
    const challenge = async (c: Uint8Array): Promise<Uint8Array> => {
      if (++rounds > MAX_CHALLENGE_ROUNDS) throw protocol(`more than ${MAX_CHALLENGE_ROUNDS} challenge rounds`);
      outbox.push({ $typeName: "spindle.agent.v1.AttestResponse", step: { case: "challenge", value: c } });
      wake?.();
      let cancel: (() => void) | undefined;
      const timeout = new Promise<never>((_, reject) => {
        cancel = api.clock.setTimeout(() => reject(protocol(`no challenge response within ${CHALLENGE_TIMEOUT_MS / 1000} s`)), CHALLENGE_TIMEOUT_MS);
      });
      const next = await Promise.race([it.next(), timeout]).finally(() => cancel?.());
      if (next.done === true) throw protocol("the stream ended before the challenge was answered");
      if (next.value.step.case !== "challengeResponse") throw protocol("expected a challenge_response");
      return next.value.step.value;
    };
    const beforeCommit = async (agentId: string) => {
      api.attestLimiter.take(agentId);
      const known = await api.agents.getAgent(agentId);
      if (known?.banned === true) throw spindleError("ERR_AGENT_BANNED", `agent ${agentId} is banned`);
    };

    let outcome: { ok: true; svid: AgentSvid } | { ok: false; err: unknown } | undefined;
    void plugin
      .attest(params.payload, challenge, beforeCommit)
      .then((attested) =>
        issueAgentSvid(api, attested, csr, async (serial, expiresAt) => {
          const a = { spiffeId: attested.agentId, attestor: plugin.name, selectors: attested.selectors, serial, expiresAt, canReattest: attested.canReattest };
          await api.agents.recordAttestation(a, api.clock.now());
        }),
      )
      .then(
        (svid) => (outcome = { ok: true, svid }),
        (err: unknown) => (outcome = { ok: false, err }),
      )
      .finally(() => wake?.());
    for (;;) {
      const msg = outbox.shift();
      if (msg !== undefined) {
        yield msg;
        continue;
      }
      if (outcome !== undefined) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (!outcome.ok) throw outcome.err;
    api.logger.info({ agentId: outcome.svid.svid?.spiffeId, attestor: plugin.name }, "agent attested");
    yield { $typeName: "spindle.agent.v1.AttestResponse", step: { case: "result", value: outcome.svid } };
  };
}
