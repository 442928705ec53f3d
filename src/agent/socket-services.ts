// The agent's ONE public socket (docs/design/agent-socket.md): the SPIFFE Workload API, Envoy SDS,
// ECDS for the compiled authz policy (when configured) and gRPC health, all fed by the identity
// cache and one workload attestor, on a grpc-js server that reads each caller's kernel credentials.
import type * as grpc from "@grpc/grpc-js";
import type { Clock } from "../common/clock.js";
import { createGrpcSocketServer } from "../transport/grpc-socket-server.js";
import { spindleError } from "../common/errors.js";
import { createIdentityLog } from "../common/identity-log.js";
import type { Logger } from "../common/logger.js";
import { createEcdsService, createSdsService, type SecretAliases, type XdsMetrics } from "../sds/index.js";
import { parseSelector } from "../spiffe/selector.js";
import { toCallerAttestor } from "./attestors/index.js";
import { createPolicySource } from "./authz/policy-source.js";
import { createSdsSecretSource, createWorkloadApiIdentitySource, type IdentityCache, type ServerReachability } from "./cache/index.js";
import { createHealthService } from "./health-service.js";
import { addWorkloadApi, type WorkloadAttestor } from "./workload-api/index.js";

export interface AgentSocketOptions {
  socketPath: string;
  cache: IdentityCache;
  /** The sync loop's view of the server, for callers whose SVIDs expired during an outage. */
  reachability?: ServerReachability;
  attestor: WorkloadAttestor;
  xdsMetrics: XdsMetrics;
  /** Sees every call's end (src/agent/rpc-metrics.ts). */
  rpcObserver?: grpc.ServerInterceptor;
  authzPolicyPath?: string;
  authzFilter?: "http" | "network";
  sdsAliases?: Partial<SecretAliases>;
  spiffeValidator?: boolean;
  /** Window of the identity granted/refused lines (default 60 s, docs/logging.md). */
  identityLogWindowMs?: number | undefined;
  logger: Logger;
  clock: Clock;
}

/** Starts the socket; the returned function stops it and everything it started. */
export async function startAgentSocket(o: AgentSocketOptions): Promise<() => Promise<void>> {
  const { cache, logger } = o;
  const cleanups: (() => void | Promise<void>)[] = [];
  const stop = async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  };
  try {
    const callerAttestor = toCallerAttestor(o.attestor);
    // Mode 0777: callers are told apart by SO_PEERCRED, never by file permissions.
    const socket = createGrpcSocketServer({ socketPath: o.socketPath, mode: 0o777, logger: logger.child({ component: "agent-socket" }), observer: o.rpcObserver });
    const peerCredentials = socket.peerCredentials.bind(socket);
    // One identity log for every service: a caller's grants and refusals share one rate limit.
    const identityLog = createIdentityLog({ logger, clock: o.clock, windowMs: o.identityLogWindowMs });
    addWorkloadApi(socket, { source: createWorkloadApiIdentitySource(cache, o.reachability), attestor: o.attestor, logger, clock: o.clock, identityLog });
    const sds = createSdsService({
      source: createSdsSecretSource(cache),
      attestor: callerAttestor,
      logger,
      metrics: o.xdsMetrics,
      peerCredentials,
      identityLog,
      ...(o.sdsAliases ? { aliases: o.sdsAliases } : {}),
      ...(o.spiffeValidator !== undefined ? { spiffeValidator: o.spiffeValidator } : {}),
    });
    socket.addService(sds.definition, sds.implementation);
    cleanups.push(() => sds.close());
    const services = ["SpiffeWorkloadAPI", "envoy.service.secret.v3.SecretDiscoveryService"];
    if (o.authzPolicyPath !== undefined) {
      const policy = createPolicySource({
        path: o.authzPolicyPath,
        logger,
        filter: o.authzFilter ?? "http",
        // An Envoy's service is its default (first) SPIFFE ID. Before the first sync that is not
        // known: the stream ends Unavailable and Envoy retries, keeping its fail-closed default.
        serviceFor: (caller) => {
          if (!cache.ready) throw spindleError("ERR_WORKLOAD_API_NOT_READY", "the agent has not completed its first sync with the server yet; retry");
          return cache.identitiesFor(caller.selectors.map(parseSelector))[0]?.spiffeId;
        },
      });
      await policy.start();
      cleanups.push(() => policy.close());
      // A sync can change which service an Envoy is: a new entry counts once its SVID exists, so
      // every cache change (entries and SVIDs; empty ones are never emitted) re-resolves.
      cleanups.push(cache.onChange(() => policy.callersChanged()));
      const ecds = createEcdsService({ source: policy, attestor: callerAttestor, logger, metrics: o.xdsMetrics, peerCredentials, identityLog });
      socket.addService(ecds.definition, ecds.implementation);
      cleanups.push(() => ecds.close());
      services.push("envoy.service.extension.v3.ExtensionConfigDiscoveryService");
    }
    const listeners = new Set<() => void>();
    cleanups.push(cache.onChange((c) => c.ready && listeners.forEach((l) => l())));
    const health = createHealthService({
      services,
      serving: () => cache.ready,
      onChange: (l) => (listeners.add(l), () => void listeners.delete(l)),
    });
    socket.addService(health.definition, health.implementation);
    await socket.start();
    cleanups.push(() => socket.close(1000));
    return stop;
  } catch (err) {
    await stop();
    throw err;
  }
}
