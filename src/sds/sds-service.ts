// envoy.service.secret.v3.SecretDiscoveryService (docs/sds.md): StreamSecrets (SotW),
// DeltaSecrets and FetchSecrets over the shared xDS transport, resolving names with the secret
// resolver and pushing on SecretSource changes only to the streams that depend on them.
import type * as grpc from "@grpc/grpc-js";
import { SecretDiscoveryService } from "../gen/envoy/service/secret/v3/sds_pb.js";
import { grpcServiceDefinition } from "../transport/grpc-service.js";
import type { PeerSource } from "../transport/grpc-socket-server.js";
import type { IdentityLog } from "../common/identity-log.js";
import type { Logger } from "../common/logger.js";
import type { PeerCredentials } from "../transport/peer-cred.js";
import { createBuildCache } from "./build-cache.js";
import type { CallerAttestor, SecretChange, SecretSource } from "./contracts.js";
import { supportsSpiffeValidator } from "./envoy-node.js";
import { createSecretResolver, DEFAULT_SECRET_ALIASES, type SecretAliases } from "./secret-resolver.js";
import { SECRET_TYPE_URL } from "./type-urls.js";
import type { XdsMetrics } from "./xds-metrics.js";
import { ALL_BUNDLES_KEY, ANY_SVID_KEY, ENTITLEMENTS_KEY, bundleKey, svidKey } from "./xds-resource.js";
import { createXdsTransport } from "./xds-transport.js";

export interface SdsServiceOptions {
  source: SecretSource;
  attestor: CallerAttestor;
  logger: Logger;
  metrics: XdsMetrics;
  /** From the socket server: the kernel credentials of a call's connection. */
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  /** Grants and refusals, one rate-limited info line each (src/common/identity-log.ts). */
  identityLog?: IdentityLog;
  aliases?: Partial<SecretAliases>;
  /**
   * false = global opt-out of Envoy's SPIFFE validator: validation contexts use trusted_ca.
   * Default true; single Envoys opt out through node metadata or by being older than 1.18.
   */
  spiffeValidator?: boolean;
}

/** A service ready for `GrpcSocketServer.addService(definition, implementation)`. */
export interface XdsService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  openStreams(): number;
  /** Resolves when every open stream has processed its queued work. */
  idle(): Promise<void>;
  /** Stops listening to the source (streams end with the socket server). */
  close(): void;
}

export function createSdsService(options: SdsServiceOptions): XdsService {
  const aliases: SecretAliases = { ...DEFAULT_SECRET_ALIASES, ...options.aliases };
  const globalValidator = options.spiffeValidator ?? true;
  const cache = createBuildCache();
  const transport = createXdsTransport({
    service: "sds",
    typeUrl: SECRET_TYPE_URL,
    logger: options.logger,
    metrics: options.metrics,
    attestor: options.attestor,
    peerCredentials: options.peerCredentials,
    identityLog: options.identityLog,
    resolverFor: (caller, node) =>
      createSecretResolver({ source: options.source, caller, aliases, cache, spiffeValidator: globalValidator && supportsSpiffeValidator(node) }),
  });
  const log = options.logger.child({ component: "sds" });
  const unsubscribe = options.source.onChange((change) => {
    const keys = changeKeys(change);
    const streams = transport.notify(keys);
    log.debug({ keys, streams }, "secrets changed");
  });
  return {
    definition: grpcServiceDefinition(SecretDiscoveryService),
    implementation: { streamSecrets: transport.stream, deltaSecrets: transport.delta, fetchSecrets: transport.fetch },
    openStreams: transport.openStreams,
    idle: transport.idle,
    close: unsubscribe,
  };
}

function changeKeys(change: SecretChange): string[] {
  const keys = (change.svids ?? []).map(svidKey);
  if (keys.length > 0) keys.push(ANY_SVID_KEY);
  const tds = change.trustDomains ?? [];
  keys.push(...tds.map(bundleKey));
  if (tds.length > 0) keys.push(ALL_BUNDLES_KEY);
  if (change.entitlements === true) keys.push(ENTITLEMENTS_KEY);
  return keys;
}
