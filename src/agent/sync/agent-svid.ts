// The agent's own X.509-SVID (its mTLS identity towards the server): renewed at half of its
// lifetime +-10% (docs/design/wire-facts.md, "Rotation and sync numbers") with a fresh in-memory
// key, retried with backoff while the server is unreachable, renewed at once when its signing
// authority is reported tainted, and replaced through the re-attestation hook (node attestation
// again) when it expired or the server no longer accepts it.
import { createBackoff, jittered, type BackoffOptions } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { buildCsr } from "../cache/csr.js";
import type { ServerClient } from "../cache/server-client.js";
import { acceptSvid, RENEWAL_JITTER } from "../cache/svid-signer.js";
import { generateWorkloadKey, type WorkloadKey, type WorkloadKeyType } from "../cache/workload-key.js";

export interface AgentSvid {
  readonly spiffeId: string;
  /** Leaf first, then intermediates. */
  readonly chainDer: readonly Uint8Array[];
  readonly key: WorkloadKey;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly authorityId: string;
}

export interface AgentSvidManagerOptions {
  client: Pick<ServerClient, "renewAgentSvid">;
  /** The SVID node attestation produced. */
  initial: AgentSvid;
  /** Runs node attestation again; used when the SVID expired or the server refuses it. */
  reattest(): Promise<AgentSvid>;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  keyType?: WorkloadKeyType;
  /** Retry delays after a failed renewal; defaults: 1 s doubling to 60 s, +-20% jitter. */
  backoff?: Omit<BackoffOptions, "random">;
}

export interface AgentSvidManager {
  current(): AgentSvid;
  /** Epoch ms of the next scheduled renewal attempt; undefined when stopped or while an attempt runs. */
  readonly nextAttemptAt: number | undefined;
  /** Called with each new SVID (the transport reloads its TLS credentials). */
  onRotate(listener: (svid: AgentSvid) => void): () => void;
  /** Authority ids from the latest sync; renews at once when the current SVID's signer is among them. */
  setTainted(ids: readonly string[]): void;
  start(): void;
  stop(): void;
  /** One renewal attempt now (re-attesting when needed); resolves when it finished. */
  renewNow(): Promise<void>;
}

/** Codes with which the server says it no longer accepts this agent's identity. */
const REFUSED = new Set(["ERR_PERMISSION_DENIED", "ERR_UNAUTHENTICATED", "ERR_AGENT_SVID_EXPIRED"]);

export function createAgentSvidManager(options: AgentSvidManagerOptions): AgentSvidManager {
  const { clock, client } = options;
  const logger = options.logger.child({ component: "agent-svid" });
  const random = options.random ?? Math.random;
  const keyType = options.keyType ?? "ec-p256";
  const backoff = createBackoff({ initialMs: 1_000, maxMs: 60_000, jitter: 0.2, ...options.backoff, random });
  const listeners = new Set<(svid: AgentSvid) => void>();
  let svid = options.initial;
  let running = false;
  let cancelTimer: (() => void) | undefined;
  let nextAttemptAt: number | undefined;
  let inFlight: Promise<void> | undefined;
  let failing = false;

  const renewAtOf = (s: AgentSvid) => s.notBefore + jittered((s.notAfter - s.notBefore) / 2, RENEWAL_JITTER, random);

  function schedule(at: number): void {
    cancelTimer?.();
    cancelTimer = undefined;
    nextAttemptAt = undefined;
    if (!running) return;
    nextAttemptAt = at;
    cancelTimer = clock.setTimeout(() => {
      cancelTimer = undefined;
      nextAttemptAt = undefined;
      void renewNow();
    }, Math.max(0, at - clock.now()));
  }

  function install(next: AgentSvid, how: string): void {
    svid = next;
    backoff.reset();
    if (failing) logger.info({ spiffeId: next.spiffeId }, "agent SVID renewed again after failures");
    failing = false;
    const renewAt = renewAtOf(next);
    logger.info({ spiffeId: next.spiffeId, how, notAfter: new Date(next.notAfter).toISOString(), renewAt: new Date(renewAt).toISOString() }, "agent SVID rotated");
    for (const l of listeners) {
      try {
        l(next);
      } catch (err) {
        logger.error({ err }, "an agent SVID listener threw");
      }
    }
    schedule(renewAt);
  }

  async function renew(): Promise<AgentSvid> {
    const key = await generateWorkloadKey(keyType);
    const result = await client.renewAgentSvid(buildCsr({ spiffeId: svid.spiffeId }, key));
    const accepted = acceptSvid({ id: "agent", spiffeId: svid.spiffeId, revision: 0 }, key, result, clock.now(), random);
    return { spiffeId: accepted.spiffeId, chainDer: accepted.chainDer, key, notBefore: accepted.notBefore, notAfter: accepted.notAfter, authorityId: accepted.authorityId };
  }

  async function attempt(): Promise<void> {
    const expired = clock.now() >= svid.notAfter;
    try {
      if (expired) {
        logger.warn({ code: "ERR_AGENT_SVID_EXPIRED", notAfter: new Date(svid.notAfter).toISOString() }, "agent SVID expired before renewal: re-attesting");
        install(await options.reattest(), "re-attestation");
        return;
      }
      install(await renew(), "renewal");
    } catch (err) {
      const e = SpindleError.from(err);
      if (!expired && REFUSED.has(e.code)) {
        logger.warn({ code: e.code, reason: e.message }, "server refused to renew the agent SVID: re-attesting");
        try {
          install(await options.reattest(), "re-attestation");
          return;
        } catch (again) {
          return retry(SpindleError.from(again));
        }
      }
      retry(e);
    }
  }

  function retry(e: SpindleError): void {
    const delay = backoff.next();
    const fields = { code: e.code, reason: e.message, retryInMs: delay, notAfter: new Date(svid.notAfter).toISOString() };
    if (!failing) logger.warn(fields, "agent SVID renewal failed; retrying with backoff while the current SVID is still valid");
    else logger.debug(fields, "agent SVID renewal still failing");
    failing = true;
    const now = clock.now();
    // Never sleep past expiry: at expiry the next attempt re-attests.
    schedule(now < svid.notAfter ? Math.min(now + delay, svid.notAfter) : now + delay);
  }

  function renewNow(): Promise<void> {
    if (inFlight === undefined) {
      cancelTimer?.();
      cancelTimer = undefined;
      nextAttemptAt = undefined;
    }
    inFlight ??= attempt().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    current: () => svid,
    get nextAttemptAt() {
      return nextAttemptAt;
    },
    onRotate(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    setTainted(ids) {
      if (!ids.includes(svid.authorityId) || inFlight !== undefined) return;
      logger.warn({ authorityId: svid.authorityId }, "the authority that signed the agent SVID is tainted: renewing now");
      void renewNow();
    },
    start() {
      if (running) return;
      running = true;
      schedule(renewAtOf(svid));
    },
    stop() {
      running = false;
      cancelTimer?.();
      cancelTimer = undefined;
      nextAttemptAt = undefined;
    },
    renewNow,
  };
}

/** Builds the AgentSvid of a chain and key obtained by node attestation; throws ERR_AGENT_SVID_INVALID. */
export function agentSvidOf(spiffeId: string, chainDer: readonly Uint8Array[], key: WorkloadKey, authorityId: string, now: number): AgentSvid {
  const accepted = acceptSvid({ id: "agent", spiffeId, revision: 0 }, key, { chainDer, authorityId }, now, () => 0.5);
  return { spiffeId, chainDer: accepted.chainDer, key, notBefore: accepted.notBefore, notAfter: accepted.notAfter, authorityId };
}
