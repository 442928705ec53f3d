// Node attestation from the agent side: the Attest stream (proto/spindle/agent/v1/agent.proto)
// with the configured plugin's evidence and a CSR for a fresh in-memory key, answering every
// challenge with the plugin, then checking the returned SVID against the returned bundle.
import { create } from "@bufbuild/protobuf";
import { spindleError } from "../../common/errors.js";
import { AttestRequestSchema, type AttestRequest, type AgentSvid as AgentSvidMessage } from "../../gen/spindle/agent/v1/agent_pb.js";
import { createBundleSet, validateX509Svid, type Bundle } from "../../spiffe/index.js";
import { buildCsr } from "../cache/csr.js";
import { generateWorkloadKey, type WorkloadKeyType } from "../cache/workload-key.js";
import type { AgentNodeAttestor } from "../nodeattestors/plugin.js";
import { agentSvidOf, type AgentSvid } from "../sync/agent-svid.js";
import { decodeDeliveredBundle } from "./client.js";
import type { ServerConnection } from "./connection.js";

export interface AttestationResult {
  readonly svid: AgentSvid;
  /** The server's own trust domain bundle, as delivered with the SVID. */
  readonly bundle: Bundle;
  /** Node selectors the server derived ("type:value"). */
  readonly selectors: readonly string[];
  readonly canReattest: boolean;
}

export interface AttestOptions {
  connection: ServerConnection;
  attestor: AgentNodeAttestor;
  trustDomain: string;
  now: () => number;
  keyType?: WorkloadKeyType;
  /** Skip verifying the server's certificate (no trust bundle yet; explicitly allowed by the operator). */
  insecure?: boolean;
  /** At most this many challenge rounds (a misbehaving server cannot loop us forever). */
  maxRounds?: number;
}

export async function attestAgent(options: AttestOptions): Promise<AttestationResult> {
  const { attestor, trustDomain } = options;
  const key = await generateWorkloadKey(options.keyType ?? "ec-p256");
  // The server ignores the CSR's names and assigns the agent ID; this placeholder only fills the SAN.
  const csr = buildCsr({ spiffeId: `spiffe://${trustDomain}/spindle/agent` }, key);
  const payload = await attestor.payload();
  const maxRounds = options.maxRounds ?? 16;

  const result = await options.connection.call(
    "Attest",
    async (client, callOptions) => {
      const outbox = createOutbox<AttestRequest>();
      outbox.push(create(AttestRequestSchema, { step: { case: "params", value: { attestor: attestor.name, payload, csr } } }));
      let rounds = 0;
      try {
        for await (const res of client.attest(outbox.iterate(), callOptions)) {
          if (res.step.case === "challenge") {
            if (++rounds > maxRounds) throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${attestor.name}: the server sent more than ${maxRounds} challenges`);
            outbox.push(create(AttestRequestSchema, { step: { case: "challengeResponse", value: await attestor.answer(res.step.value) } }));
          } else if (res.step.case === "result") {
            return res.step.value;
          }
        }
      } finally {
        outbox.end();
      }
      throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${attestor.name}: the server ended the attestation without a result`);
    },
    { anonymous: true, insecure: options.insecure === true },
  );
  return acceptAttestation(result, key, trustDomain, options.now());
}

function acceptAttestation(msg: AgentSvidMessage, key: Awaited<ReturnType<typeof generateWorkloadKey>>, trustDomain: string, now: number): AttestationResult {
  const svid = msg.svid;
  if (svid === undefined || msg.bundle === undefined) throw spindleError("ERR_AGENT_SVID_INVALID", "Attest: the server's result lacks the SVID or the bundle");
  if (msg.bundle.trustDomain !== trustDomain) {
    throw spindleError("ERR_AGENT_SVID_INVALID", `Attest: the server is for trust domain ${msg.bundle.trustDomain}, this agent for ${trustDomain}`);
  }
  const bundle = decodeDeliveredBundle(msg.bundle);
  const agent = agentSvidOf(svid.spiffeId, svid.certChain, key, svid.authorityId, now);
  try {
    validateX509Svid(agent.chainDer, createBundleSet([bundle]), { now });
  } catch (err) {
    throw spindleError("ERR_AGENT_SVID_INVALID", `Attest: the agent SVID does not chain to the delivered bundle: ${(err as Error).message}`, { cause: err });
  }
  return Object.freeze({ svid: agent, bundle, selectors: Object.freeze([...msg.selectors]), canReattest: msg.canReattest });
}

/** A push-driven async iterable: the request side of a bidi stream. */
function createOutbox<T>(): { push(m: T): void; end(): void; iterate(): AsyncGenerator<T> } {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    push(m) {
      queue.push(m);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *iterate() {
      for (;;) {
        const m = queue.shift();
        if (m !== undefined) yield m;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    },
  };
}
