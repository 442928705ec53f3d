// envoy.service.extension.v3.ExtensionConfigDiscoveryService: StreamExtensionConfigs (SotW),
// DeltaExtensionConfigs and FetchExtensionConfigs answering TypedExtensionConfig resources (e.g.
// the compiled RBAC filters), on the same transport and state machines as SDS.
import { ExtensionConfigDiscoveryService } from "../gen/envoy/service/extension/v3/config_discovery_pb.js";
import { grpcServiceDefinition } from "../transport/grpc-service.js";
import type { PeerSource } from "../transport/grpc-socket-server.js";
import type { IdentityLog } from "../common/identity-log.js";
import type { Logger } from "../common/logger.js";
import type { PeerCredentials } from "../transport/peer-cred.js";
import { createBuildCache } from "./build-cache.js";
import type { CallerAttestor, ExtensionConfigSource } from "./contracts.js";
import { createExtensionConfigResolver } from "./extension-config-resolver.js";
import type { XdsService } from "./sds-service.js";
import { TYPED_EXTENSION_CONFIG_TYPE_URL } from "./type-urls.js";
import type { XdsMetrics } from "./xds-metrics.js";
import { extensionKey } from "./xds-resource.js";
import { createXdsTransport } from "./xds-transport.js";

export interface EcdsServiceOptions {
  source: ExtensionConfigSource;
  attestor: CallerAttestor;
  logger: Logger;
  metrics: XdsMetrics;
  peerCredentials(call: PeerSource): PeerCredentials | undefined;
  /** Grants and refusals, one rate-limited info line each (src/common/identity-log.ts). */
  identityLog?: IdentityLog;
}

export function createEcdsService(options: EcdsServiceOptions): XdsService {
  const cache = createBuildCache();
  const transport = createXdsTransport({
    service: "ecds",
    typeUrl: TYPED_EXTENSION_CONFIG_TYPE_URL,
    logger: options.logger,
    metrics: options.metrics,
    attestor: options.attestor,
    peerCredentials: options.peerCredentials,
    identityLog: options.identityLog,
    resolverFor: (caller) => createExtensionConfigResolver(options.source, caller, cache),
  });
  const log = options.logger.child({ component: "ecds" });
  const unsubscribe = options.source.onChange((names) => {
    const streams = transport.notify(names.map(extensionKey));
    log.debug({ names, streams }, "extension configs changed");
  });
  return {
    definition: grpcServiceDefinition(ExtensionConfigDiscoveryService),
    implementation: {
      streamExtensionConfigs: transport.stream,
      deltaExtensionConfigs: transport.delta,
      fetchExtensionConfigs: transport.fetch,
    },
    openStreams: transport.openStreams,
    idle: transport.idle,
    close: unsubscribe,
  };
}
