// The agent's link to the server as the composition sees it: node attestation plus the
// ServerClient, with the TLS material (trust bundle, agent SVID) fed in as it changes. The default
// implementation runs over the agent API (src/agent/server-client); tests may inject another.
import { createBackoff } from "../common/backoff.js";
import type { Clock } from "../common/clock.js";
import { SpindleError, spindleError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ServerClient } from "./cache/server-client.js";
import type { WorkloadKeyType } from "./cache/workload-key.js";
import type { AgentNodeAttestor } from "./nodeattestors/plugin.js";
import { attestAgent, createAgentServerClient, createServerConnection, isTransientServerAnswer, retryAfterMs, type AttestationResult } from "./server-client/index.js";
import type { AgentSvid } from "./sync/agent-svid.js";

export interface AgentTransport {
  attest(): Promise<AttestationResult>;
  readonly client: ServerClient;
  /** The agent's SVID changed (mTLS client certificate). */
  setIdentity(svid: AgentSvid): void;
  /** The trust domain's X.509 authorities changed (server verification). */
  setTrust(x509AuthoritiesDer: readonly Uint8Array[]): void;
  close(): void;
}

export interface AgentApiTransportOptions {
  serverAddresses: readonly string[];
  trustDomain: string;
  nodeAttestor: AgentNodeAttestor;
  /** Chosen by chooseServerTrust: the bundle saved by an earlier run, else --trust-bundle. */
  trustBundleDer: readonly Uint8Array[] | undefined;
  insecureBootstrap: boolean;
  keyType?: WorkloadKeyType;
  logger: Logger;
  clock: Clock;
}

export function createAgentApiTransport(o: AgentApiTransportOptions): AgentTransport {
  const logger = o.logger.child({ component: "agent" });
  const connection = createServerConnection({ addresses: o.serverAddresses, trustDomain: o.trustDomain, logger: o.logger });
  if (o.trustBundleDer !== undefined) connection.setTrust(o.trustBundleDer);
  else if (o.insecureBootstrap) {
    logger.warn(
      { servers: o.serverAddresses },
      "INSECURE BOOTSTRAP: no trust bundle, so the server's certificate is NOT verified during attestation. Anyone able to intercept this connection can impersonate the server. Pass --trust-bundle instead.",
    );
  } else {
    throw spindleError("ERR_AGENT_START", "no trust bundle to verify the server with: pass --trust-bundle <file> (the server's `spindle bundle show`), or --insecure-bootstrap to skip verification on first contact");
  }
  return {
    attest: () => attestAgent({ connection, attestor: o.nodeAttestor, trustDomain: o.trustDomain, now: o.clock.now, keyType: o.keyType, insecure: !connection.hasTrust }),
    client: createAgentServerClient({ connection, trustDomain: o.trustDomain }),
    setIdentity: (svid) => connection.setIdentity({ chainDer: svid.chainDer, key: svid.key }),
    setTrust: (ders) => connection.setTrust(ders),
    close: () => connection.close(),
  };
}

/**
 * First attestation: retried with backoff (1 s doubling to 60 s, +-20%) while no server answers
 * or the servers answer transiently (Unavailable, ResourceExhausted: isTransientServerAnswer),
 * waiting at least the server's retry-after hint; every retry is logged with its reason. A
 * definitive refusal is fatal (ERR_AGENT_START). `onWait` registers a canceller so stop() ends a
 * wait; a stop during the wait rejects with ERR_AGENT_START.
 */
export async function attestUntilAnswered(
  transport: AgentTransport,
  o: { logger: Logger; clock: Clock; attestor: string; stopping(): boolean; onWait(cancel: () => void): void },
): Promise<AttestationResult> {
  const logger = o.logger.child({ component: "agent" });
  const backoff = createBackoff({ initialMs: 1_000, maxMs: 60_000, jitter: 0.2 });
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await transport.attest();
      logger.info({ agentId: r.svid.spiffeId, attestor: o.attestor, selectors: r.selectors, canReattest: r.canReattest }, "node attested");
      return r;
    } catch (err) {
      const e = SpindleError.from(err);
      if (o.stopping()) throw spindleError("ERR_AGENT_START", "stopped before the node was attested", { cause: e });
      const unreachable = e.code === "ERR_AGENT_SERVER_UNREACHABLE";
      if (!unreachable && !isTransientServerAnswer(e)) throw spindleError("ERR_AGENT_START", `the server refused node attestation (${e.code}): ${e.message}`, { cause: e });
      const hint = retryAfterMs(e);
      const delay = Math.max(backoff.next(), hint ?? 0);
      logger.warn(
        { code: e.code, reason: e.message, attempt, retryInMs: delay, ...(hint !== undefined ? { retryAfterMs: hint } : {}) },
        unreachable ? "no server reachable for node attestation; retrying" : "the server cannot attest the node right now; retrying",
      );
      await new Promise<void>((resolve) => {
        const cancel = o.clock.setTimeout(resolve, delay);
        o.onWait(() => {
          cancel();
          resolve();
        });
      });
      if (o.stopping()) throw spindleError("ERR_AGENT_START", "stopped before the node was attested");
    }
  }
}
