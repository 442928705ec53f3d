// Composition of one server instance: datastore (migrated), key manager, CA, registration,
// admin API on its Unix socket, and the health/metrics endpoints. start() either brings up
// everything or tears down what it started and rejects with the reason.
import { guardBeforeMigrate, guardDatastore } from "./datastore-guard.js";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../common/clock.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import { componentLogger, type Logger } from "../../common/logger.js";
import { startAdminServer } from "../admin/index.js";
import { startAgentApiServer } from "../agentapi/index.js";
import { loadNodeAttestors } from "../nodeattestors/index.js";
import { parseTrustDomain } from "../../spiffe/index.js";
import { createCertificateAuthority, loadUpstreamAuthority, type ManagedCertificateAuthority } from "../authority/index.js";
import { createDatastore, describeLocation, type Datastore } from "../datastore/index.js";
import { createDiskKeyManager, createMemoryKeyManager } from "../keys/index.js";
import { createRegistration } from "../registration/index.js";
import { startOidcEndpoint, type OidcEndpoint } from "../oidc/index.js";
import { createFederationManager } from "../federation/index.js";
import { createAuditLog } from "./audit.js";
import { createAuthorityControl } from "./authority-control.js";
import { startHttpEndpoints, type HttpEndpoints } from "../../transport/http-endpoints.js";
import { createServerMetrics } from "./metrics.js";
import type { HostPort, ServerOptions } from "./options.js";
import { createOwnBundleSource } from "./own-bundle.js";
import { createServerSvidSource } from "../authority/server-svid.js";
import { startBundleEndpoint } from "../federation/bundle-endpoint.js";
import { serverSpiffeId } from "../registration/index.js";

export interface ServerDeps {
  logger: Logger;
  clock: Clock;
  version: string;
}

export interface Server {
  start(): Promise<void>;
  /** Stops everything started; safe to call more than once. */
  stop(): Promise<void>;
  /** The bound health address (after start). */
  healthAddress(): HostPort | undefined;
  /** The bound agent API address (after start). */
  agentApiAddress(): HostPort | undefined;
  /** The OIDC discovery endpoint (after start, when configured). */
  oidc(): OidcEndpoint | undefined;
  /** The bound federation bundle endpoint address (after start, when configured). */
  bundleEndpointAddress(): HostPort | undefined;
}

/** Node attestors enabled when the config has no `node_attestors` block. */
const DEFAULT_NODE_ATTESTORS = { join_token: {} };

const TOKEN_PRUNE_INTERVAL_MS = 10 * 60_000;

export function createServer(options: Readonly<ServerOptions>, deps: ServerDeps): Server {
  const logger = componentLogger(deps.logger, "server", { trustDomain: options.trustDomain, serverId: options.serverId });
  const cleanups: (() => Promise<void> | void)[] = [];
  let health: HttpEndpoints | undefined;
  let agentApi: HostPort | undefined;
  let oidc: OidcEndpoint | undefined;
  let bundleEndpoint: HostPort | undefined;
  let ready = false;

  async function stop(): Promise<void> {
    ready = false;
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, "error during shutdown");
      }
    }
  }

  async function start(): Promise<void> {
    try {
      await startAll();
    } catch (err) {
      await stop();
      throw err instanceof SpindleError ? err : spindleError("ERR_SERVER_START", `server failed to start: ${(err as Error).message}`, { cause: err });
    }
  }

  async function startAll(): Promise<void> {
    // The discovery document's issuer must be the tokens' `iss`, character for character
    // (OpenID Connect Discovery 1.0 section 4.3); the config loader checks it too.
    if (options.oidc && options.oidc.issuer !== options.jwtIssuer) {
      throw spindleError(
        "ERR_CONFIG_INVALID",
        `oidc.issuer ${JSON.stringify(options.oidc.issuer)} differs from jwt_issuer ${JSON.stringify(options.jwtIssuer ?? "(unset)")}: relying parties compare the discovery issuer with each token's iss exactly; set both to the same URL`,
      );
    }
    for (const w of options.configWarnings ?? []) logger.warn(`configuration: ${w}`);
    try {
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw spindleError("ERR_SERVER_START", `cannot create data dir ${options.dataDir}: ${(err as Error).message}`, { cause: err });
    }
    // Metrics are created first (the datastore reports errors to them) and read these at scrape time.
    const refs: { ca?: ManagedCertificateAuthority; datastore?: Datastore } = {};
    const metrics = createServerMetrics({
      countEntries: async () => (refs.datastore ? refs.datastore.countEntries({}) : 0),
      journal: () => refs.ca?.show() ?? { x509: [], jwt: [] },
      now: deps.clock.now,
    });
    const ds = await createDatastore({
      location: options.datastore,
      clock: deps.clock,
      beforeMigrate: ({ empty }) =>
        guardBeforeMigrate({ dataDir: options.dataDir, allowNewDatastore: options.allowNewDatastore === true, description: describeLocation(options.datastore), empty }),
      onError: (operation, err) => {
        metrics.datastoreErrors.inc({ operation });
        logger.error({ operation, err: err.cause ?? err }, "datastore operation failed");
      },
    });
    refs.datastore = ds;
    cleanups.push(() => ds.close());
    logger.info({ datastore: ds.description }, "datastore ready (migrations applied)");
    const identity = await guardDatastore({
      dataDir: options.dataDir,
      trustDomain: options.trustDomain,
      datastore: ds,
      allowNewDatastore: options.allowNewDatastore === true,
      logger: deps.logger,
      now: deps.clock.now,
    });
    logger.info({ datastoreId: identity.datastoreId }, "datastore belongs to this trust domain and data dir");

    const keyManager = options.keyManager === "disk" ? createDiskKeyManager({ dir: join(options.dataDir, "keys") }) : createMemoryKeyManager();
    const upstream = options.upstreamAuthority ? await loadUpstreamAuthority(options.upstreamAuthority) : undefined;
    const theCa = await createCertificateAuthority({
      trustDomain: options.trustDomain,
      serverId: options.serverId,
      keyManager,
      journalStore: ds.journal,
      clock: deps.clock,
      logger: deps.logger,
      caTtlSeconds: options.caTtlSeconds,
      x509SvidTtlSeconds: options.x509SvidTtlSeconds,
      jwtSvidTtlSeconds: options.jwtSvidTtlSeconds,
      keyType: options.caKeyType,
      jwtKeyType: options.jwtKeyType,
      ...(upstream ? { upstream } : {}),
      ...(options.jwtIssuer !== undefined ? { jwtIssuer: options.jwtIssuer } : {}),
      ...(options.peerRefreshIntervalSeconds !== undefined ? { peerRefreshIntervalMs: options.peerRefreshIntervalSeconds * 1000 } : {}),
      bundleRefreshHintSeconds: options.bundleRefreshHintSeconds,
    });
    refs.ca = theCa;
    cleanups.push(() => theCa.stop());
    theCa.start();
    const ownBundle = createOwnBundleSource(theCa, options.bundleRefreshHintSeconds);
    const serverSvid = createServerSvidSource({ ca: theCa, spiffeId: serverSpiffeId(options.trustDomain), clock: deps.clock, logger });
    cleanups.push(() => serverSvid.close());

    const maxSvidTtl = Math.floor(options.caTtlSeconds / 6);
    const registration = createRegistration({
      datastore: ds,
      clock: deps.clock,
      limits: { trustDomain: options.trustDomain, maxX509SvidTtl: maxSvidTtl, maxJwtSvidTtl: maxSvidTtl },
    });
    const federation = createFederationManager({
      ownTrustDomain: options.trustDomain,
      configRelationships: options.federatesWith ?? [],
      datastore: ds,
      clock: deps.clock,
      logger: componentLogger(deps.logger, "federation"),
      metrics: {
        refreshed: (td, outcome) => metrics.federationRefreshes.inc({ trust_domain: td, outcome }),
        refused: (td, reason) => metrics.federationRefusals.inc({ trust_domain: td, reason }),
      },
      ...(options.federationTiming ? { timing: options.federationTiming } : {}),
    });
    await federation.start();
    cleanups.push(() => federation.stop());
    const audit = createAuditLog(deps.logger);
    const admin = await startAdminServer({
      socketPath: options.adminSocket,
      logger: componentLogger(deps.logger, "admin"),
      deps: {
        trustDomain: options.trustDomain,
        serverId: options.serverId,
        version: deps.version,
        registration,
        datastore: ds,
        ca: theCa,
        ownBundle: async () => ownBundle(),
        authorities: createAuthorityControl(theCa, deps.clock, logger),
        federation,
        onIssued: (e) => {
          metrics.signings.inc({ type: e.type });
          audit(e);
        },
        isReady: () => ready,
        limits: { maxX509SvidTtl: maxSvidTtl, maxJwtSvidTtl: maxSvidTtl },
        clock: deps.clock,
        logger,
      },
    });
    cleanups.push(() => admin.close());

    const attestors = loadNodeAttestors(options.nodeAttestors ?? DEFAULT_NODE_ATTESTORS, {
      trustDomain: parseTrustDomain(options.trustDomain),
      joinTokens: ds,
      clock: deps.clock,
      logger: componentLogger(deps.logger, "node-attestation"),
    });
    const { attestationsPerSecond, signingsPerSecond, agentSvidTtlSeconds } = options.agentApi ?? {};
    const limits = {
      ...(attestationsPerSecond !== undefined ? { attestationsPerSecond } : {}),
      ...(signingsPerSecond !== undefined ? { signingsPerSecond } : {}),
      ...(agentSvidTtlSeconds !== undefined ? { agentSvidTtlSeconds } : {}),
    };
    const agentServer = await startAgentApiServer({
      trustDomain: options.trustDomain,
      ca: theCa,
      attestors,
      agents: ds,
      entries: ds,
      clock: deps.clock,
      logger: componentLogger(deps.logger, "agent-api"),
      host: options.bindAddress.host,
      port: options.bindAddress.port,
      ownBundleJson: async () => ownBundle().spiffeJson,
      serverSvid,
      ...limits,
      onIssued: (e) => {
        metrics.signings.inc({ type: e.type });
        audit({ ...e, requester: e.agentId });
      },
    });
    agentApi = agentServer.address;
    cleanups.push(() => agentServer.close());

    const endpointConfig = options.federation?.bundleEndpoint;
    if (endpointConfig) {
      const endpoint = await startBundleEndpoint({
        config: endpointConfig,
        document: () => ownBundle().spiffeJson,
        serverSvid,
        clock: deps.clock,
        logger: componentLogger(deps.logger, "bundle-endpoint"),
      });
      bundleEndpoint = endpoint.address;
      cleanups.push(() => endpoint.close());
    }

    const readiness = async () => {
      if (!ready) return { ready: false, reason: "starting" };
      await ds.ping();
      if (theCa.bundleContents().x509Authorities.length === 0) return { ready: false, reason: "no X.509 authority" };
      return { ready: true };
    };
    const separateMetrics = options.metricsAddress !== undefined;
    health = await startHttpEndpoints({
      address: options.healthAddress,
      health: { ready: readiness },
      ...(separateMetrics ? {} : { metrics: metrics.registry }),
      logger,
      startErrorCode: "ERR_SERVER_START",
    });
    const h = health;
    cleanups.push(() => h.close());
    if (options.metricsAddress) {
      const m = await startHttpEndpoints({ address: options.metricsAddress, metrics: metrics.registry, logger, startErrorCode: "ERR_SERVER_START" });
      cleanups.push(() => m.close());
    }

    if (options.oidc) {
      const endpoint = await startOidcEndpoint(options.oidc, { keys: theCa, clock: deps.clock, logger: deps.logger });
      oidc = endpoint;
      cleanups.push(async () => {
        oidc = undefined;
        await endpoint.close();
      });
    }

    let cancelPrune: (() => void) | undefined;
    let pruning = true;
    const prune = () => {
      cancelPrune = deps.clock.setTimeout(() => {
        ds.pruneJoinTokens()
          .then((n) => n > 0 && logger.debug({ pruned: n }, "expired join tokens deleted"))
          .catch(() => undefined) // already counted and logged by the datastore's onError
          .finally(() => pruning && prune());
      }, TOKEN_PRUNE_INTERVAL_MS);
    };
    prune();
    cleanups.push(() => {
      pruning = false;
      cancelPrune?.();
    });
    ready = true;
    logger.info({ adminSocket: options.adminSocket, health: h.address, agentApi, bundleEndpoint }, "server started");
  }

  return {
    start,
    stop,
    healthAddress: () => health?.address,
    agentApiAddress: () => agentApi,
    oidc: () => oidc,
    bundleEndpointAddress: () => bundleEndpoint,
  };
}
