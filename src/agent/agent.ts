// Composition of one node agent: node attestation (or the agent SVID saved in the data dir) ->
// agent SVID manager -> identity cache fed by the sync loop -> ONE public Unix socket serving the
// SPIFFE Workload API, Envoy SDS, ECDS (compiled authz policy, optional) and gRPC health; plus
// /live /ready /metrics over HTTP and a private admin socket. start() either brings everything up
// or tears down what it started and rejects with the reason; stop() is clean and idempotent. A
// stop() while start() is still running makes start() tear down and reject with ERR_AGENT_START,
// and stop() resolves only once nothing is left running.
import { join } from "node:path";
import { Registry, collectDefaultMetrics } from "prom-client";
import type { Clock } from "../common/clock.js";
import { SpindleError, spindleError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { createXdsMetrics, type SecretAliases } from "../sds/index.js";
import type { Selector } from "../spiffe/selector.js";
import { startAgentAdminServer, explainPid } from "./admin/index.js";
import { createWorkloadAttestor, type WorkloadAttestorPlugin } from "./attestors/index.js";
import { createIdentityCache, type IdentityCache, type ServerClient } from "./cache/index.js";
import type { AgentEntry } from "./cache/server-client.js";
import type { WorkloadKeyType } from "./cache/workload-key.js";
import { startHttpEndpoints, type HttpEndpoints } from "../transport/http-endpoints.js";
import { registerAgentMetrics } from "./metrics.js";
import { createRpcMetricsInterceptor } from "./rpc-metrics.js";
import type { AgentNodeAttestor } from "./nodeattestors/plugin.js";
import { chooseServerTrust, createAgentStateStore, type AgentStateStore } from "./server-client/index.js";
import { startAgentSocket } from "./socket-services.js";
import { createAgentSvidManager, createSyncLoop, type AgentSvid, type AgentSvidManager, type SyncLoop } from "./sync/index.js";
import { attestUntilAnswered, createAgentApiTransport, type AgentTransport } from "./transport.js";

export type { AgentTransport } from "./transport.js";

export interface AgentOptions {
  trustDomain: string;
  /** `host:port` of each server replica, tried in order (failover). */
  serverAddresses: readonly string[];
  /** Public socket (Workload API, SDS, ECDS, health), mode 0777. */
  socketPath: string;
  /** Private admin socket (explain, envoys, status); undefined disables it. */
  adminSocketPath?: string;
  /** Holds the agent SVID, its key (0600) and the last trust bundle; created 0700. */
  dataDir: string;
  nodeAttestor: AgentNodeAttestor;
  /** X.509 authorities of the trust domain, to verify the server on first contact (later starts use the data dir's bundle; see server-client/bootstrap-trust.ts). */
  trustBundleDer?: readonly Uint8Array[];
  /** Attest without verifying the server when no trust bundle is known (logged loudly). */
  insecureBootstrap?: boolean;
  workloadAttestors: readonly WorkloadAttestorPlugin[];
  /** Policy file served over ECDS (spindle.authz.* filters); undefined disables ECDS. */
  authzPolicyPath?: string;
  /** RBAC filter type served over ECDS (default http). */
  authzFilter?: "http" | "network";
  /** /live /ready /metrics; undefined disables them. */
  healthAddress?: { host: string; port: number };
  syncIntervalMs?: number;
  keyType?: WorkloadKeyType;
  sdsAliases?: Partial<SecretAliases>;
  spiffeValidator?: boolean;
  /** Window of the identity granted/refused lines (default 60 s, docs/logging.md). */
  identityLogWindowMs?: number;
  logger: Logger;
  clock: Clock;
  /** Replaces the agent API transport (tests): attestation and the ServerClient. */
  transport?: AgentTransport;
}

export interface AgentStatus {
  readonly agentId: string | undefined;
  readonly ready: boolean;
  /** Why the agent is not ready (absent when it is). */
  readonly reason?: string;
  readonly entries: number;
  readonly agentSvidExpiresAt: string | undefined;
  readonly sync: { readonly failures: number; readonly lastSuccessAt?: string; readonly lastError?: { code: string; message: string } };
}

export interface Agent {
  /** Rejects with the reason when something cannot start, or with ERR_AGENT_START when stop() came first. */
  start(): Promise<void>;
  /** Stops everything, including a start() in progress; resolves when nothing is left running. */
  stop(): Promise<void>;
  status(): AgentStatus;
  /** Bound /live /ready /metrics address (after start). */
  healthAddress(): { host: string; port: number } | undefined;
  /** Resolves when the first sync made identities servable (tests, dev mode). */
  whenReady(): Promise<void>;
}

/** Server codes meaning "this agent identity is no longer accepted": renew now (which re-attests). */
const REFUSED_IDENTITY = new Set(["ERR_AGENT_NOT_ATTESTED", "ERR_AGENT_CLIENT_CERT_INVALID", "ERR_AGENT_BANNED", "ERR_PERMISSION_DENIED", "ERR_UNAUTHENTICATED"]);

export function createAgent(options: Readonly<AgentOptions>): Agent {
  const { clock } = options;
  const logger = options.logger.child({ component: "agent", trustDomain: options.trustDomain });
  const cleanups: (() => Promise<void> | void)[] = [];
  const entries = new Map<string, AgentEntry>();
  let cache: IdentityCache | undefined;
  let loop: SyncLoop | undefined;
  let agentSvid: AgentSvidManager | undefined;
  let http: HttpEndpoints | undefined;
  let stopping = false;
  let starting: Promise<void> | undefined;
  let readyResolve!: () => void;
  const readyPromise = new Promise<void>((r) => (readyResolve = r));

  async function stop(): Promise<void> {
    stopping = true;
    await runCleanups();
    // A start() in progress notices `stopping` after its current await, pushes what that await
    // started and rejects; its own teardown then runs what it pushed. Wait for it, then sweep.
    await starting?.catch(() => undefined);
    await runCleanups();
  }

  async function runCleanups(): Promise<void> {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, "error during shutdown");
      }
    }
  }

  function start(): Promise<void> {
    const p = (async () => {
      try {
        await startAll();
      } catch (err) {
        await runCleanups();
        throw err instanceof SpindleError ? err : spindleError("ERR_AGENT_START", `agent failed to start: ${(err as Error).message}`, { cause: err });
      }
    })();
    starting = p;
    return p;
  }

  /** After every await in startAll (once what it started has a cleanup): stop() came meanwhile. */
  function checkNotStopping(phase: string): void {
    if (stopping) throw spindleError("ERR_AGENT_START", `the agent was stopped while starting (${phase})`);
  }

  async function startAll(): Promise<void> {
    checkNotStopping("before start");
    const state = createAgentStateStore({ dir: options.dataDir, logger: options.logger });
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: "spindle_agent_process_" });
    const xdsMetrics = createXdsMetrics({ registry, clock });
    const metrics = registerAgentMetrics(registry, {
      ready: () => cache?.ready ?? false,
      entries: () => entries.size,
      agentSvidNotAfter: () => agentSvid?.current().notAfter,
      syncFailures: () => loop?.status().failures ?? 0,
      soonestWorkloadSvid: () => {
        let soonest: { spiffeId: string; notAfter: number } | undefined;
        for (const id of entries.keys()) {
          const svid = cache?.svidOf(id);
          if (svid !== undefined && (soonest === undefined || svid.notAfter < soonest.notAfter)) soonest = svid;
        }
        return soonest === undefined ? undefined : { spiffeId: soonest.spiffeId, notAfter: soonest.notAfter };
      },
      now: clock.now,
    });
    const attestor = createWorkloadAttestor({ plugins: options.workloadAttestors, logger: options.logger });

    const transport =
      options.transport ??
      createAgentApiTransport({
        serverAddresses: options.serverAddresses,
        trustDomain: options.trustDomain,
        nodeAttestor: options.nodeAttestor,
        trustBundleDer: startTrust(state),
        insecureBootstrap: options.insecureBootstrap === true,
        keyType: options.keyType,
        logger: options.logger,
        clock,
      });
    cleanups.push(() => transport.close());

    // Wraps the transport's client: entries are mirrored for `explain`, and a sync refused because
    // this agent's identity is no longer accepted triggers renewal (which re-attests) right away.
    const client: ServerClient = {
      ...transport.client,
      // The SVID manager re-attests on generic refusals; the agent API reports specific codes.
      renewAgentSvid: async (csr) => {
        try {
          return await transport.client.renewAgentSvid(csr);
        } catch (err) {
          const e = SpindleError.from(err);
          if (!REFUSED_IDENTITY.has(e.code) || e.code === "ERR_PERMISSION_DENIED" || e.code === "ERR_UNAUTHENTICATED") throw err;
          throw spindleError("ERR_PERMISSION_DENIED", `the server refused to renew the agent SVID (${e.code}): ${e.message}`, { cause: e, details: { serverCode: e.code } });
        }
      },
      signCsrs: async (batch) => {
        const results = await transport.client.signCsrs(batch);
        metrics.svidIssued("workload", results.filter((r) => r.ok).length);
        return results;
      },
      syncEntries: async (known) => {
        const syncStart = performance.now();
        try {
          const r = await transport.client.syncEntries(known);
          metrics.synced((performance.now() - syncStart) / 1000);
          for (const id of r.removed) entries.delete(id);
          for (const e of r.changed) entries.set(e.id, e);
          return r;
        } catch (err) {
          const e = SpindleError.from(err);
          metrics.synced((performance.now() - syncStart) / 1000, e.code);
          if (REFUSED_IDENTITY.has(e.code) && agentSvid !== undefined) {
            logger.warn({ code: e.code, reason: e.message }, "the server no longer accepts this agent's SVID: renewing (re-attesting if refused)");
            void agentSvid.renewNow();
          }
          throw err;
        }
      },
    };
    const theCache = createIdentityCache({ client, clock, logger: options.logger, keyType: options.keyType });
    cache = theCache;
    cleanups.push(() => theCache.close());
    const ownTd = options.trustDomain;
    cleanups.push(
      theCache.onChange((change) => {
        if (change.ready) {
          logger.info({ entries: theCache.entryCount }, "first sync complete: serving identities");
          readyResolve();
        }
        for (const td of change.trustDomains) if (td !== ownTd) metrics.federatedBundleUpdated(td);
        if (change.trustDomains.includes(ownTd)) {
          const own = theCache.bundles().own.x509Authorities;
          transport.setTrust(own);
          state.saveBundle(own);
        }
      }),
    );

    // The public socket comes up first: until the first sync, callers get Unavailable (retry).
    cleanups.push(
      await startAgentSocket({
        socketPath: options.socketPath,
        cache: theCache,
        // The loop starts after the socket: until then there is no failing streak to report.
        reachability: { status: () => loop?.status(), nudge: () => loop?.nudge() },
        attestor,
        xdsMetrics,
        rpcObserver: createRpcMetricsInterceptor({ registry }),
        authzPolicyPath: options.authzPolicyPath,
        authzFilter: options.authzFilter,
        sdsAliases: options.sdsAliases,
        spiffeValidator: options.spiffeValidator,
        identityLogWindowMs: options.identityLogWindowMs,
        logger: options.logger,
        clock,
      }),
    );
    checkNotStopping("public socket");

    if (options.healthAddress !== undefined) {
      // /ready answers 200 only once the first sync made identities servable.
      const h = await startHttpEndpoints({
        address: options.healthAddress,
        health: { ready: async () => readiness() },
        metrics: registry,
        logger,
        startErrorCode: "ERR_AGENT_START",
      });
      http = h;
      cleanups.push(() => h.close());
      checkNotStopping("health endpoints");
    }
    if (options.adminSocketPath !== undefined) {
      const admin = await startAgentAdminServer({
        socketPath: options.adminSocketPath,
        logger: options.logger,
        handlers: {
          explain: (pid) =>
            explainPid(pid, {
              attestor,
              entries: () => [...entries.values()],
              identitiesFor: (selectors: readonly Selector[]) => theCache.identitiesFor(selectors),
              ready: () => theCache.ready,
            }),
          envoys: () => ({ envoys: xdsMetrics.envoys() }),
          status: () => status(),
        },
      });
      cleanups.push(() => admin.close());
      checkNotStopping("admin socket");
    }

    const saved = state.loadSvid(options.trustDomain, clock.now());
    let initial: AgentSvid;
    if (saved !== undefined) {
      initial = saved;
    } else {
      const r = await attestUntilAnswered(transport, {
        logger: options.logger,
        clock,
        attestor: options.nodeAttestor.name,
        stopping: () => stopping,
        onWait: (cancel) => cleanups.push(cancel),
      });
      checkNotStopping("node attestation");
      initial = r.svid;
      transport.setTrust(r.bundle.x509Authorities);
      state.saveBundle(r.bundle.x509Authorities);
    }
    state.saveSvid(initial);
    transport.setIdentity(initial);
    const manager = createAgentSvidManager({
      client,
      initial,
      clock,
      logger: options.logger,
      keyType: options.keyType,
      reattest: async () => {
        const r = await transport.attest();
        logger.info({ agentId: r.svid.spiffeId }, "node attested again");
        transport.setTrust(r.bundle.x509Authorities);
        return r.svid;
      },
    });
    agentSvid = manager;
    cleanups.push(
      manager.onRotate((svid) => {
        metrics.svidIssued("agent");
        transport.setIdentity(svid);
        state.saveSvid(svid);
      }),
    );
    manager.start();
    cleanups.push(() => manager.stop());
    const theLoop = createSyncLoop({ client, cache: theCache, agentSvid: manager, clock, logger: options.logger, intervalMs: options.syncIntervalMs });
    loop = theLoop;
    theLoop.start();
    cleanups.push(() => theLoop.stop());
    logger.info({ agentId: initial.spiffeId, socketPath: options.socketPath, servers: options.serverAddresses, authz: options.authzPolicyPath ?? null }, "agent started");
  }

  /** The configured bundle is for first contact; the data dir's wins later (server-client/bootstrap-trust.ts). */
  function startTrust(state: AgentStateStore): readonly Uint8Array[] | undefined {
    const choice = chooseServerTrust({ configured: options.trustBundleDer, stored: state.loadBundle(), now: clock.now() });
    const fields = { source: choice.source, dataDirBundle: join(options.dataDir, "bundle.pem"), authorities: choice.ders?.length ?? 0 };
    if (choice.source === "stored+configured") {
      logger.warn(
        { ...fields, added: choice.added, ignored: choice.ignored },
        "the configured trust_bundle holds authorities newer than every one in the data dir's bundle: trusting them as well until the next sync brings the server's bundle",
      );
    } else if (choice.source === "stored" && options.trustBundleDer !== undefined) {
      logger.info(
        { ...fields, ignored: choice.ignored },
        choice.ignored.length > 0
          ? "verifying the server with the data dir's bundle (kept current by sync); the configured trust_bundle's authorities that the server no longer publishes are not trusted"
          : "verifying the server with the data dir's bundle (kept current by sync); the configured trust_bundle is only used on first contact",
      );
    } else if (choice.source !== "none") logger.info(fields, choice.source === "stored" ? "verifying the server with the data dir's trust bundle" : "first contact: verifying the server with the configured trust_bundle");
    return choice.ders;
  }

  function readiness(): { ready: boolean; reason?: string } {
    if (cache === undefined || agentSvid === undefined) return { ready: false, reason: "attesting" };
    if (!cache.ready) {
      const e = loop?.status().lastError;
      return { ready: false, reason: e ? `first sync pending (${e.code}: ${e.message})` : "first sync pending" };
    }
    return { ready: true };
  }

  function status(): AgentStatus {
    const s = loop?.status();
    const svid = agentSvid?.current();
    const r = readiness();
    return {
      agentId: svid?.spiffeId,
      ready: r.ready,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      entries: entries.size,
      agentSvidExpiresAt: svid ? new Date(svid.notAfter).toISOString() : undefined,
      sync: {
        failures: s?.failures ?? 0,
        ...(s?.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(s.lastSuccessAt).toISOString() } : {}),
        ...(s?.lastError ? { lastError: s.lastError } : {}),
      },
    };
  }

  return { start, stop, status, healthAddress: () => http?.address, whenReady: () => readyPromise };
}
